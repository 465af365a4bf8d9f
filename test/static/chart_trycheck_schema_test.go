package static

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
)

// twoInstances is airflowCheck.instances of two Airflows, an Airflow 3
// (apiVersion left to its default) and an Airflow 2.
var twoInstances = []any{
	map[string]any{"name": "prod", "url": "http://airflow-api-server.prod:8080", "existingSecret": "reader-prod"},
	map[string]any{"name": "legacy_2.x", "url": "https://airflow.legacy.example/af", "apiVersion": "v1", "existingSecret": "reader-legacy"},
}

// TestChartTryCheckRejectsBadValues: the schema (and, for a name listed
// twice, the template) refuses what the binary would refuse, naming the
// value; the single-instance values of before the list are refused by name.
func TestChartTryCheckRejectsBadValues(t *testing.T) {
	on := helmchart.Values{}.With("airflowCheck.enabled", true)
	one := func(kv ...any) helmchart.Values {
		in := map[string]any{"name": "prod", "url": "http://airflow:8080", "existingSecret": "reader"}
		for i := 0; i+1 < len(kv); i += 2 {
			in[kv[i].(string)] = kv[i+1]
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(in, kv[i].(string))
			}
		}
		return on.With("airflowCheck.instances", []any{in})
	}
	schema := "values don't meet the specifications of the schema"
	for name, tc := range map[string]struct {
		values helmchart.Values
		want   []string
	}{
		"enabled without instances": {on, []string{schema, "at '/airflowCheck/instances': minItems: got 0, want 1"}},
		"the single-instance values of before": {
			on.With("airflowCheck.url", "http://airflow:8080").With("airflowCheck.existingSecret", "reader").With("airflowCheck.instance", "prod"),
			[]string{schema, "at '/airflowCheck': additional properties", "'url'", "'existingSecret'", "'instance'"},
		},
		"no url":             {one("url", "<unset>"), []string{schema, "at '/airflowCheck/instances/0': missing property 'url'"}},
		"no existingSecret":  {one("existingSecret", "<unset>"), []string{schema, "at '/airflowCheck/instances/0': missing property 'existingSecret'"}},
		"no name":            {one("name", "<unset>"), []string{schema, "at '/airflowCheck/instances/0': missing property 'name'"}},
		"name with a slash":  {one("name", "team/a"), []string{schema, "at '/airflowCheck/instances/0/name'", "does not match pattern"}},
		"name with a comma":  {one("name", "a,b"), []string{schema, "at '/airflowCheck/instances/0/name'", "does not match pattern"}},
		"url without scheme": {one("url", "airflow:8080"), []string{schema, "at '/airflowCheck/instances/0/url'", "does not match pattern"}},
		"url with a comma":   {one("url", "http://airflow:8080/a,b"), []string{schema, "at '/airflowCheck/instances/0/url'", "does not match pattern"}},
		"apiVersion v3":      {one("apiVersion", "v3"), []string{schema, "at '/airflowCheck/instances/0/apiVersion'", "'v2', 'v1'"}},
		"unknown key":        {one("secret", "reader"), []string{schema, "at '/airflowCheck/instances/0'", "additional properties 'secret' not allowed"}},
		"pageLimit 0":        {one("pageLimit", 0), []string{schema, "at '/airflowCheck/instances/0/pageLimit'", "minimum"}},
		"pageLimit 10001":    {one("pageLimit", 10001), []string{schema, "at '/airflowCheck/instances/0/pageLimit'", "maximum"}},
		"pageLimit a string": {one("pageLimit", "1000"), []string{schema, "at '/airflowCheck/instances/0/pageLimit'", "want integer"}},
		"pageLimit 2.5":      {one("pageLimit", 2.5), []string{schema, "at '/airflowCheck/instances/0/pageLimit'", "want integer"}},
		"a name twice": {
			on.With("airflowCheck.instances", []any{twoInstances[0], twoInstances[1], twoInstances[0]}),
			[]string{`airflowCheck.instances: instance "prod" is listed twice`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := helm().Template(t, "apd", "ops", tc.values)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestChartTryCheckPageLimit: an instance's pageLimit becomes page-limit= of
// its --airflow-check, and only when set (the binary's default, 100,
// otherwise).
func TestChartTryCheckPageLimit(t *testing.T) {
	t.Parallel()
	big := map[string]any{"name": "big", "url": "http://big:8080", "existingSecret": "reader-big", "pageLimit": 1000}
	v := helmchart.Values{}.With("airflowCheck.enabled", true).With("airflowCheck.instances", []any{twoInstances[0], big})
	c := helm().Render(t, "apd", "ops", v).Deployment(t).Spec.Template.Spec.Containers[0]
	var checks []string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--airflow-check="); ok {
			checks = append(checks, v)
		}
	}
	assert.Equal(t, []string{
		"instance=prod,url=http://airflow-api-server.prod:8080,api-version=v2,credentials-dir=/etc/airflow-pod-deadline/airflow/prod",
		"instance=big,url=http://big:8080,api-version=v2,credentials-dir=/etc/airflow-pod-deadline/airflow/big,page-limit=1000",
	}, checks)
}
