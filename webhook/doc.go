// Package webhook owns the admission side of airflow-pod-deadline: the
// mutating and validating webhooks for Pod CREATE and UPDATE.
//
// decide.go holds the pure admission decisions, functions of (pod, now,
// config) with no I/O, over the annotation contract of package deadline;
// mutate.go and validate.go are thin controller-runtime adapters over them
// that decode the request and answer it, the mutating one with JSON Patch
// operations built from the decision (held to the framework's own patch by
// TestPatchOpsMatchFramework and FuzzPatchOps).
package webhook
