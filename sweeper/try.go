package sweeper

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// Try is the Airflow try a pod belongs to, from the identity annotations the
// policy stamps at CREATE (exact strings, unlike KPO's sanitized labels).
type Try struct {
	Instance string
	Task     airflowapi.TaskKey
	Number   int
	// Start is the try's start_date the policy stamped (UTC); zero when the
	// pod has none or it does not parse. Only ownTry reads it.
	Start time.Time
	// ID is the try's task instance id the policy stamped (Airflow 3);
	// empty when the pod has none. Only ownTry reads it.
	ID string
}

// TryOf reads the try identity of a pod's annotations. ok is false when any
// annotation is missing or malformed: such a pod is never checked.
func TryOf(annotations map[string]string, keys deadline.Keys) (Try, bool) {
	var t Try
	var ok bool
	if t.Instance, ok = annotations[keys.Instance]; !ok || t.Instance == "" {
		return Try{}, false
	}
	for _, f := range []struct {
		key string
		out *string
	}{{keys.DagID, &t.Task.DagID}, {keys.RunID, &t.Task.RunID}, {keys.TaskID, &t.Task.TaskID}} {
		if *f.out = annotations[f.key]; *f.out == "" {
			return Try{}, false
		}
	}
	mi, err := strconv.Atoi(annotations[keys.MapIndex])
	if err != nil || mi < -1 {
		return Try{}, false
	}
	n, err := strconv.Atoi(annotations[keys.TryNumber])
	if err != nil || n < 0 {
		return Try{}, false
	}
	t.Task.MapIndex, t.Number = mi, n
	t.ID = strings.ToLower(strings.TrimSpace(annotations[keys.TryID]))
	if v, ok := annotations[keys.TryStart]; ok {
		if start, err := time.Parse(time.RFC3339Nano, v); err == nil {
			t.Start = start.UTC()
		}
	}
	return t, true
}

// String names the try in events and logs.
func (t Try) String() string {
	return fmt.Sprintf("dag_id=%s run_id=%s task_id=%s map_index=%d try_number=%d instance=%s",
		t.Task.DagID, t.Task.RunID, t.Task.TaskID, t.Task.MapIndex, t.Number, t.Instance)
}
