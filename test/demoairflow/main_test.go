package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Task logs as Airflow 3.3.2 with cncf-kubernetes 10.17.1 wrote them in a
// run of this demo (abridged): the task's own attempt=1.log, then the
// triggerer's, whose lines name the DAG (and so "execution_timeout").
const (
	enforcedLog = `=== attempt=1.log
{"level":"info","event":"Pausing task as DEFERRED. "}
{"level":"info","event":"[base] logs: hollow-node: base runs \"sleep 1800\""}
{"level":"error","event":"Trigger emitted an failed event, failing the task: Container state failed"}
{"level":"info","event":"Deleting pod: run-long-pod-wbjrwddg"}
{"level":"error","event":"Task failed with exception","error_detail":[{"exc_type":"AirflowException","exc_value":"Pod run-long-pod-wbjrwddg returned a failure.\nmore"}]}
=== attempt=1.log.trigger.2.log
{"level":"info","event":"trigger kpo_deferrable_execution_timeout_repro/manual__apd_1/run_long_pod/-1/1 (ID 1) starting"}
{"level":"error","event":"Unexpected error while waiting for pod"}
`
	deferredLog = `=== attempt=1.log
{"level":"info","event":"Successfully resolved connection extras for deferral."}
{"level":"info","event":"Pausing task as DEFERRED. "}
=== attempt=1.log.trigger.2.log
{"level":"info","event":"trigger kpo_deferrable_execution_timeout_repro/manual__apd_1/run_long_pod/-1/1 (ID 1) starting"}
`
	genericOnlyLog = `=== attempt=1.log
{"level":"error","event":"Task failed with exception","error_detail":[{"exc_type":"PodNotFoundException","exc_value":"Pod default/p not found after resuming from deferral\ntrace"}]}
`
)

func TestWhyLine(t *testing.T) {
	tests := map[string]struct {
		log   string
		ended bool
		want  string
	}{
		"failed: the task's own first error": {log: enforcedLog, ended: true, want: "Trigger emitted an failed event, failing the task: Container state failed"},
		"failed: only the generic error":     {log: genericOnlyLog, ended: true, want: "Task failed with exception: PodNotFoundException: Pod default/p not found after resuming from deferral"},
		"still deferred":                     {log: deferredLog, ended: false, want: "Pausing task as DEFERRED."},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, whyLine(tc.log, tc.ended))
		})
	}
}
