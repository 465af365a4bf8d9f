package webhook

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

var (
	cfg    = NewConfig(deadline.DefaultPrefix)
	anchor = time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)
)

func pod(ads *int64, annotations map[string]string) Pod {
	return Pod{Annotations: annotations, ActiveDeadlineSeconds: ads}
}

func TestDecideMutation(t *testing.T) {
	k := cfg.Keys
	deadline := anchor.Add(20 * time.Second) // 2026-05-20T10:00:20Z
	tests := map[string]struct {
		pod         Pod
		now         time.Time
		result      Result
		ads         *int64
		annotations map[string]string
		warning     string
		denial      string
	}{
		"no annotations": {pod: pod(ptr.To[int64](3600), nil), result: ResultUnchanged},
		"ADS above budget is lowered": {
			pod:    pod(ptr.To[int64](3600), map[string]string{k.Deadline: "2026-05-20T10:00:20Z"}),
			result: ResultClamped, ads: ptr.To[int64](20),
			annotations: map[string]string{k.ClampedFrom: "3600", k.Admitted: "20"},
			warning:     "activeDeadlineSeconds 3600 -> 20 to fit execution deadline 2026-05-20T10:00:20Z"},
		"unset ADS is set": {
			pod:    pod(nil, map[string]string{k.Deadline: "2026-05-20T10:00:20Z"}),
			result: ResultClamped, ads: ptr.To[int64](20),
			annotations: map[string]string{k.ClampedFrom: "unset", k.Admitted: "20"},
			warning:     "activeDeadlineSeconds unset -> 20"},
		"lower ADS is kept, and recorded": {
			pod:    pod(ptr.To[int64](10), map[string]string{k.Deadline: "2026-05-20T10:00:20Z"}),
			result: ResultStamped, annotations: map[string]string{k.Admitted: "10"}},
		"equal ADS is kept": {
			pod:    pod(ptr.To[int64](20), map[string]string{k.Deadline: "2026-05-20T10:00:20Z", k.Admitted: "20"}),
			result: ResultUnchanged},
		"a forged admitted value is overwritten": {
			pod:    pod(ptr.To[int64](10), map[string]string{k.Deadline: "2026-05-20T10:00:20Z", k.Admitted: "3600"}),
			result: ResultStamped, annotations: map[string]string{k.Admitted: "10"}},
		"fraction rounds the budget up": {
			pod: pod(nil, map[string]string{k.Deadline: "2026-05-20T10:00:19.001Z"}), result: ResultClamped, ads: ptr.To[int64](20),
			annotations: map[string]string{k.ClampedFrom: "unset", k.Admitted: "20"}},
		"timeout is stamped and clamps": {
			pod:    pod(ptr.To[int64](3600), map[string]string{k.Timeout: "20s"}),
			result: ResultClamped, ads: ptr.To[int64](20),
			annotations: map[string]string{k.ClampedFrom: "3600", k.Deadline: "2026-05-20T10:00:20Z", k.Admitted: "20"}},
		"timeout is stamped in UTC milliseconds": {
			pod: pod(ptr.To[int64](5), map[string]string{k.Timeout: "20s"}), now: anchor.Add(123456789),
			result: ResultStamped, annotations: map[string]string{k.Deadline: "2026-05-20T10:00:20.123Z", k.Admitted: "5"}},
		"earlier deadline is restamped in UTC": {
			pod:    pod(ptr.To[int64](5), map[string]string{k.Timeout: "1h", k.Deadline: "2026-05-20T12:00:20+02:00"}),
			result: ResultStamped, annotations: map[string]string{k.Deadline: "2026-05-20T10:00:20Z", k.Admitted: "5"}},
		"deadline without timeout keeps its form": {
			pod: pod(ptr.To[int64](5), map[string]string{k.Deadline: "1779271220", k.Admitted: "5"}), result: ResultUnchanged},
		"late by 12 seconds": {
			pod: pod(ptr.To[int64](3600), map[string]string{k.Deadline: "2026-05-20T10:00:20Z"}), now: deadline.Add(12 * time.Second),
			result: ResultDenied,
			denial: "execution deadline 2026-05-20T10:00:20Z passed 12s ago; the task has exceeded its execution_timeout or its DAG run's dagrun_timeout"},
		"deadline exactly now is late": {
			pod: pod(nil, map[string]string{k.Deadline: "2026-05-20T10:00:20Z"}), now: deadline,
			result: ResultDenied, denial: "passed 0.0s ago"},
		"malformed timeout": {
			pod:    pod(nil, map[string]string{k.Timeout: "20 s"}),
			result: ResultInvalid, denial: `metadata.annotations[airflow-pod-deadline.io/execution-timeout]: Invalid value: "20 s": is not a duration; accepted forms:`},
		"empty values ask for nothing": {
			pod: pod(nil, map[string]string{k.Deadline: "", k.Timeout: ""}), result: ResultUnchanged},
		"reinvocation after a second boundary keeps the first clamp": {
			pod: pod(ptr.To[int64](21), map[string]string{k.Deadline: "2026-05-20T10:00:20.5Z", k.ClampedFrom: "3600", k.Admitted: "21"}),
			now: anchor.Add(600 * time.Millisecond), result: ResultUnchanged},
		"a clamp marker does not excuse a large ADS": {
			pod:    pod(ptr.To[int64](3600), map[string]string{k.Deadline: "2026-05-20T10:00:20Z", k.ClampedFrom: "unset"}),
			result: ResultClamped, ads: ptr.To[int64](20), annotations: map[string]string{k.Admitted: "20"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = anchor
			}
			got := DecideMutation(tc.pod, now, cfg)
			assert.Equal(t, tc.result, got.Result)
			assert.Equal(t, tc.ads, got.ActiveDeadlineSeconds)
			if tc.annotations != nil || got.Annotations != nil {
				assert.Equal(t, tc.annotations, got.Annotations)
			}
			if tc.warning != "" {
				assert.Contains(t, got.Warning, tc.warning)
			} else if tc.result != ResultClamped {
				assert.Empty(t, got.Warning)
			}
			if tc.denial != "" {
				assert.Contains(t, got.Denial, tc.denial)
			} else {
				assert.Empty(t, got.Denial)
			}
		})
	}
}

// applyMutation plays the API server: the decision applied to the pod.
func applyMutation(p Pod, m Mutation) Pod {
	out := Pod{Annotations: maps.Clone(p.Annotations), ActiveDeadlineSeconds: p.ActiveDeadlineSeconds}
	if len(m.Annotations) > 0 && out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	maps.Copy(out.Annotations, m.Annotations)
	if m.ActiveDeadlineSeconds != nil {
		out.ActiveDeadlineSeconds = m.ActiveDeadlineSeconds
	}
	return out
}

func TestDecideMutationIsIdempotent(t *testing.T) {
	k := cfg.Keys
	inputs := map[string]Pod{
		"timeout":           pod(ptr.To[int64](3600), map[string]string{k.Timeout: "20s"}),
		"deadline":          pod(nil, map[string]string{k.Deadline: "2026-05-20T10:00:20.5Z"}),
		"both":              pod(ptr.To[int64](3600), map[string]string{k.Timeout: "1 day, 0:00:00", k.Deadline: "1779271220.5"}),
		"timeout, low ADS":  pod(ptr.To[int64](1), map[string]string{k.Timeout: "PT20S"}),
		"deadline fraction": pod(ptr.To[int64](3600), map[string]string{k.Deadline: "2026-05-20T10:00:20.000001+00:00"}),
	}
	// Reinvocation comes milliseconds later, possibly across a second boundary.
	for name, p := range inputs {
		for _, later := range []time.Duration{0, time.Millisecond, 600 * time.Millisecond, 999 * time.Millisecond} {
			t.Run(name+"/"+later.String(), func(t *testing.T) {
				first := DecideMutation(p, anchor.Add(400*time.Millisecond), cfg)
				require.NotEqual(t, ResultDenied, first.Result)
				second := DecideMutation(applyMutation(p, first), anchor.Add(400*time.Millisecond+later), cfg)
				assert.Equal(t, ResultUnchanged, second.Result, "second pass: %+v", second)
				assert.Nil(t, second.Annotations)
				assert.Nil(t, second.ActiveDeadlineSeconds)
			})
		}
	}
}

func TestValidateCreate(t *testing.T) {
	k := cfg.Keys
	at := map[string]string{k.Deadline: "2026-05-20T10:00:20Z"}
	tests := map[string]struct {
		pod    Pod
		now    time.Time
		result Result
		denial string
	}{
		"no annotations":            {pod: pod(nil, nil), result: ResultUnchanged},
		"clamped pod":               {pod: pod(ptr.To[int64](20), at), result: ResultUnchanged},
		"within tolerance":          {pod: pod(ptr.To[int64](22), at), result: ResultUnchanged},
		"a second later is allowed": {pod: pod(ptr.To[int64](20), at), now: anchor.Add(1500 * time.Millisecond), result: ResultUnchanged},
		"raised by another mutator": {
			pod: pod(ptr.To[int64](3600), at), result: ResultDenied,
			denial: "spec.activeDeadlineSeconds: Invalid value: 3600: exceeds the 20 seconds left until execution deadline 2026-05-20T10:00:20Z"},
		"just above tolerance": {pod: pod(ptr.To[int64](23), at), result: ResultDenied, denial: "spec.activeDeadlineSeconds"},
		"ADS unset (mutator bypassed)": {
			pod: pod(nil, at), result: ResultDenied, denial: "spec.activeDeadlineSeconds: Required value: must be set to at most 20"},
		"late": {
			pod: pod(ptr.To[int64](5), at), now: anchor.Add(time.Minute), result: ResultDenied,
			denial: "execution deadline 2026-05-20T10:00:20Z passed 40s ago"},
		"malformed deadline": {
			pod: pod(ptr.To[int64](5), map[string]string{k.Deadline: "20260520"}), result: ResultInvalid,
			denial: "metadata.annotations[airflow-pod-deadline.io/execution-deadline]: Invalid value: \"20260520\""},
		"both malformed name both keys": {
			pod: pod(ptr.To[int64](5), map[string]string{k.Deadline: "x", k.Timeout: "y"}), result: ResultInvalid,
			denial: "metadata.annotations[airflow-pod-deadline.io/execution-timeout]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = anchor
			}
			got := ValidateCreate(tc.pod, now, cfg)
			assert.Equal(t, tc.result, got.Result)
			if tc.denial == "" {
				assert.Empty(t, got.Denial)
			} else {
				assert.Contains(t, got.Denial, tc.denial)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	k := cfg.Keys
	identity := map[string]string{
		k.Instance: "prod", k.DagID: "etl", k.RunID: "scheduled__2026-05-20T09:00:00+00:00",
		k.TaskID: "load", k.MapIndex: "-1", k.TryNumber: "1",
	}
	stamped := map[string]string{k.Timeout: "30s", k.Deadline: "2026-05-20T10:00:30Z", k.ClampedFrom: "3600", k.Admitted: "30"}
	maps.Copy(stamped, identity)
	with := func(base map[string]string, key, value string) map[string]string {
		out := maps.Clone(base)
		if out == nil {
			out = map[string]string{}
		}
		if value == "<delete>" {
			delete(out, key)
		} else {
			out[key] = value
		}
		return out
	}
	const forbidden = "Forbidden: "
	tests := map[string]struct {
		old, new map[string]string
		denial   string
	}{
		"unchanged (KPO's already_checked label patch)": {old: stamped, new: stamped},
		"other annotations may change":                  {old: stamped, new: with(stamped, "team", "data")},
		"other annotations may go":                      {old: with(stamped, "team", "data"), new: stamped},
		"a pod without any of ours":                     {old: map[string]string{"a": "b"}, new: map[string]string{"a": "c"}},
		"add a deadline": {old: nil, new: map[string]string{k.Deadline: "2026-05-20T10:00:10Z"},
			denial: `metadata.annotations[airflow-pod-deadline.io/execution-deadline]: Forbidden: cannot be added by an update (new value "2026-05-20T10:00:10Z"); airflow-pod-deadline annotations are set only when the pod is created, by its creator`},
		"add a timeout":             {old: map[string]string{"a": "b"}, new: map[string]string{"a": "b", k.Timeout: "1s"}, denial: "execution-timeout]: Forbidden: cannot be added by an update"},
		"add an empty deadline":     {old: nil, new: map[string]string{k.Deadline: ""}, denial: `cannot be added by an update (new value "")`},
		"add an identity":           {old: nil, new: map[string]string{k.DagID: "etl"}, denial: "dag-id]: Forbidden: cannot be added"},
		"shorten deadline":          {old: stamped, new: with(stamped, k.Deadline, "2026-05-20T10:00:10Z"), denial: `execution-deadline]: Forbidden: cannot be changed from "2026-05-20T10:00:30Z" to "2026-05-20T10:00:10Z"`},
		"shorten timeout":           {old: stamped, new: with(stamped, k.Timeout, "10s"), denial: `execution-timeout]: Forbidden: cannot be changed from "30s" to "10s"`},
		"same instant, other form":  {old: stamped, new: with(stamped, k.Deadline, "1779271230"), denial: "cannot be changed"},
		"extend deadline":           {old: stamped, new: with(stamped, k.Deadline, "2026-05-20T11:00:00Z"), denial: "cannot be changed"},
		"extend timeout":            {old: stamped, new: with(stamped, k.Timeout, "1h"), denial: "cannot be changed"},
		"malformed new value":       {old: stamped, new: with(stamped, k.Deadline, "later"), denial: `cannot be changed from "2026-05-20T10:00:30Z" to "later"`},
		"fix a malformed value":     {old: map[string]string{k.Timeout: "soon"}, new: map[string]string{k.Timeout: "10s"}, denial: "cannot be changed"},
		"drop a malformed value":    {old: map[string]string{k.Timeout: "soon"}, new: nil, denial: `cannot be removed (value "soon")`},
		"remove deadline":           {old: stamped, new: with(stamped, k.Deadline, "<delete>"), denial: `execution-deadline]: Forbidden: cannot be removed (value "2026-05-20T10:00:30Z")`},
		"empty deadline":            {old: stamped, new: with(stamped, k.Deadline, ""), denial: `to ""`},
		"remove timeout":            {old: stamped, new: with(stamped, k.Timeout, "<delete>"), denial: "execution-timeout]: Forbidden: cannot be removed"},
		"remove an empty value":     {old: map[string]string{k.Timeout: ""}, new: nil, denial: `cannot be removed (value "")`},
		"remove clamped-from":       {old: stamped, new: with(stamped, k.ClampedFrom, "<delete>"), denial: "clamped-from]: Forbidden: cannot be removed"},
		"change admitted":           {old: stamped, new: with(stamped, k.Admitted, "99999"), denial: "admitted-active-deadline-seconds]: Forbidden: cannot be changed"},
		"remove everything at once": {old: stamped, new: nil, denial: "execution-timeout"},
	}
	// Every identity key, changed and removed.
	for key := range identity {
		name := strings.TrimPrefix(key, deadline.DefaultPrefix+"/")
		tests["change "+name] = struct {
			old, new map[string]string
			denial   string
		}{old: stamped, new: with(stamped, key, "other"), denial: name + "]: " + forbidden + "cannot be changed"}
		tests["remove "+name] = struct {
			old, new map[string]string
			denial   string
		}{old: stamped, new: with(stamped, key, "<delete>"), denial: name + "]: " + forbidden + "cannot be removed"}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ValidateUpdate(pod(ptr.To[int64](30), tc.old), pod(ptr.To[int64](30), tc.new), anchor, cfg)
			if tc.denial == "" {
				assert.Equal(t, ResultUnchanged, got.Result)
				assert.Empty(t, got.Denial)
				return
			}
			assert.Equal(t, ResultInvalid, got.Result)
			assert.Contains(t, got.Denial, tc.denial)
			assert.Contains(t, got.Denial, createOnly)
		})
	}
	t.Run("remove everything names every key", func(t *testing.T) {
		got := ValidateUpdate(pod(nil, stamped), pod(nil, nil), anchor, cfg)
		assert.Equal(t, len(stamped), strings.Count(got.Denial, "cannot be removed"))
	})
	t.Run("activeDeadlineSeconds lowered (the sweeper) passes", func(t *testing.T) {
		got := ValidateUpdate(pod(ptr.To[int64](30), stamped), pod(ptr.To[int64](1), stamped), anchor, cfg)
		assert.Equal(t, ResultUnchanged, got.Result)
	})
	t.Run("a hostile value is quoted cut", func(t *testing.T) {
		huge := strings.Repeat("\x00", 100_000)
		got := ValidateUpdate(pod(nil, nil), pod(nil, map[string]string{k.Deadline: huge}), anchor, cfg)
		assert.Less(t, len(got.Denial), 1000)
		assert.Contains(t, got.Denial, "(100000 bytes)")
	})
	t.Run("another prefix protects its own keys only", func(t *testing.T) {
		other := NewConfig("deadlines.example.com")
		assert.Equal(t, ResultUnchanged, ValidateUpdate(pod(nil, nil), pod(nil, map[string]string{k.Deadline: "1s"}), anchor, other).Result)
		got := ValidateUpdate(pod(nil, nil), pod(nil, map[string]string{other.Keys.Deadline: "1s"}), anchor, other)
		assert.Contains(t, got.Denial, "metadata.annotations[deadlines.example.com/execution-deadline]: Forbidden: cannot be added")
	})
}
