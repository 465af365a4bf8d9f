// Package sweeper owns enforcement on live pods: a controller (leader-elected,
// in the same binary as the webhook) that lowers activeDeadlineSeconds when a
// pod starts, so the kubelet fails it exactly at its execution deadline, and
// deletes pods still alive past it, notably unscheduled Pending pods, where
// activeDeadlineSeconds never fires.
//
// decide.go is the pure decision (pod, now, config) → next action and when;
// controller.go acts on it: requeue at the exact instant, read fresh, act with
// a UID precondition, record an Event. State lives only in the pods'
// annotations, so a restarted sweeper loses nothing. cache.go keeps the pod
// cache small by storing only the fields decide.go reads.
package sweeper
