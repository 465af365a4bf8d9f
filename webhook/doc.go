// Package webhook owns the annotation contract and the admission side of
// airflow-pod-deadline.
//
// contract.go parses the execution-deadline / execution-timeout annotations
// (the project's public interface) into one absolute instant; decide.go holds
// the pure admission decisions, functions of (pod, now, config) with no I/O;
// mutate.go and validate.go are thin controller-runtime adapters over them that
// decode the request and let the framework build the JSON patch. The sweeper
// reads the same contract through Keys.Resolve, so admission and enforcement
// can never disagree about what a pod's deadline is.
package webhook
