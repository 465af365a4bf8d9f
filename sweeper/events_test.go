package sweeper

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
)

func timeSeconds(n int) time.Duration { return time.Duration(n) * time.Second }

func TestEventNotes(t *testing.T) {
	pod := newPod(ads(3600), label("run_id", "manual__2026"))
	a := Action{Kind: Delete, Deadline: deadlineAt, Due: deadlineAt, Why: WhyNeverStarted}
	assert.Equal(t,
		"Deleted: execution deadline 2026-05-20T10:01:00Z passed 1.2s ago and the pod never started (dag_id=etl task_id=load run_id=manual__2026 try_number=2)",
		deleteNote(identity(pod), a, deadlineAt.Add(1200*time.Millisecond), false))
	assert.True(t, strings.HasPrefix(deleteNote(identity(pod), a, deadlineAt, true), "Would delete: "))

	lower := Action{Kind: Lower, Deadline: deadlineAt, ActiveDeadlineSeconds: 40}
	assert.Equal(t,
		"Lowered activeDeadlineSeconds 3600 -> 40 so the kubelet stops the pod at its execution deadline 2026-05-20T10:01:00Z (dag_id=etl task_id=load run_id=manual__2026 try_number=2)",
		lowerNote(pod, lower, false))
	assert.True(t, strings.HasPrefix(lowerNote(newPod(), lower, true), "Would lower activeDeadlineSeconds unset -> 40"))

	bare := newPod()
	bare.Labels = nil
	assert.NotContains(t, deleteNote(identity(bare), a, deadlineAt, false), "(")

	long := newPod(annotations(map[string]string{keys.Timeout: strings.Repeat("x", 5000)}))
	inv := Decide(PodOf(long, keys), deadlineAt, cfg)
	assert.LessOrEqual(t, len(invalidNote(identity(long), inv)), maxNote)
	assert.Contains(t, invalidNote(identity(newPod()), Decide(PodOf(newPod(annotations(map[string]string{keys.Timeout: "soon"})), keys), deadlineAt, cfg)),
		`Not enforced (the pod did not pass the admission webhook?): annotation airflow-pod-deadline.io/execution-timeout: value "soon" is not a duration`)
}

func TestTryNotes(t *testing.T) {
	pod := newPod(ads(3600))
	try := Try{Instance: "prod", Task: airflowapi.TaskKey{DagID: "etl", RunID: "manual__2026", TaskID: "load", MapIndex: -1}, Number: 2}
	v := TryVerdict{Over: true, State: "failed", Why: "the try is failed"}
	lower := Action{Kind: Lower, ActiveDeadlineSeconds: 41}
	assert.Equal(t,
		"Lowered activeDeadlineSeconds 3600 -> 41 so the kubelet stops the pod now: Airflow reports the try over (dag_id=etl run_id=manual__2026 task_id=load map_index=-1 try_number=2 instance=prod; state failed: the try is failed)",
		tryNote(pod, lower, try, v, false))
	assert.True(t, strings.HasPrefix(tryNote(newPod(), lower, try, v, true), "Would lower activeDeadlineSeconds unset -> 41 so the kubelet stops the pod now: "))
	del := Action{Kind: Delete, Why: WhyNeverStarted}
	assert.Equal(t,
		"Deleted: the pod never started and Airflow reports the try over (dag_id=etl run_id=manual__2026 task_id=load map_index=-1 try_number=2 instance=prod; state failed: the try is failed)",
		tryNote(pod, del, try, v, false))
	assert.True(t, strings.HasPrefix(tryNote(pod, del, try, v, true), "Would delete: "))
}
