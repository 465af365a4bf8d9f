// Package deadline owns the annotation contract, the project's public
// interface: the keys under a prefix, the accepted forms of execution-deadline
// and execution-timeout, how the two resolve into one absolute instant, and
// the stamped form the webhook writes back. Admission (webhook) and
// enforcement (sweeper) both read a pod's deadline through Keys.Resolve and
// import this package rather than each other, so they can never disagree
// about what a pod's deadline is.
package deadline
