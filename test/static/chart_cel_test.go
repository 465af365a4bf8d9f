package static

import (
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
)

// TestChartMatchConditionIsCarries evaluates the CEL matchConditions the
// chart renders (with cel-go, the library kube-apiserver evaluates them with)
// on pods' annotations and holds them equal to deadline.Keys.Carries, the
// definition the sweeper and the webhooks use: the API server calls the
// webhooks for a created pod exactly when the binary would judge it as
// carrying a deadline. test/controlplane shows the API server calling them
// through these conditions.
func TestChartMatchConditionIsCarries(t *testing.T) {
	env, err := cel.NewEnv(
		cel.Variable("object", cel.DynType),
		cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType),
	)
	require.NoError(t, err)
	for _, prefix := range []string{deadline.DefaultPrefix, "deadlines.example.com"} {
		t.Run(prefix, func(t *testing.T) {
			m := helm().Render(t, "apd", "ops", helmchart.Values{}.With("annotationPrefix", prefix))
			mut, val := m.WebhookConfigs(t, helmchart.CaseFullname)
			conditions := map[string]string{
				"mutating":   mut.Webhooks[0].MatchConditions[0].Expression,
				"validating": val.Webhooks[0].MatchConditions[0].Expression,
			}
			keys := deadline.NewKeys(prefix)
			other := deadline.NewKeys("other.example.com")
			cases := map[string]map[string]string{
				"no annotations":            nil,
				"unrelated":                 {"team": "data", keys.ClampedFrom: "unset", keys.DagID: "etl"},
				"deadline":                  {keys.Deadline: "2026-12-01T00:00:00Z"},
				"timeout":                   {keys.Timeout: "30s"},
				"both":                      {keys.Deadline: "1779272130", keys.Timeout: "30s"},
				"malformed":                 {keys.Timeout: "soon"},
				"empty deadline":            {keys.Deadline: ""},
				"both empty":                {keys.Deadline: "", keys.Timeout: ""},
				"empty deadline, a timeout": {keys.Deadline: "", keys.Timeout: "1h"},
				"another prefix":            {other.Deadline: "1779272130", other.Timeout: "30s"},
			}
			for name, expr := range conditions {
				ast, iss := env.Compile(expr)
				require.NoError(t, iss.Err(), "%s: %s", name, expr)
				prg, err := env.Program(ast)
				require.NoError(t, err)
				for what, annotations := range cases {
					metadata := map[string]any{"name": "run-long-pod-1a2b3c4d", "namespace": "airflow"}
					if annotations != nil {
						metadata["annotations"] = annotations
					}
					out, _, err := prg.Eval(map[string]any{
						"object":    map[string]any{"metadata": metadata},
						"oldObject": nil,
						"request":   map[string]any{"operation": "CREATE", "subResource": ""},
					})
					require.NoError(t, err, "%s, %s", name, what)
					assert.Equal(t, keys.Carries(annotations), out.Value(), "%s webhook, %s", name, what)
				}
			}
		})
	}
}
