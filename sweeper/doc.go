// Package sweeper owns enforcement on live pods: a controller (leader-elected,
// in the same binary as the webhook) that lowers activeDeadlineSeconds when a
// pod starts, so the kubelet fails it exactly at its execution deadline, and
// deletes pods still alive past it, notably unscheduled Pending pods, where
// activeDeadlineSeconds never fires.
//
// decide.go is the pure decision (Pod, now, config) → next action and when,
// over the annotation contract of package deadline; controller.go acts on it:
// requeue at the exact instant, read fresh, act with a UID precondition,
// record an Event (events.go). State lives only in the pods' annotations, so
// a restarted sweeper loses nothing. podstate.go keeps the informer's store
// small: per pod, the identity, the Pod that Decide reads and the task's name
// for events.
package sweeper
