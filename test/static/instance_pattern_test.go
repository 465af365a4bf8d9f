package static

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// TestInstancePatternIsOneRule: the rule for an Airflow instance name is
// written three times, once per language, and must be the same string in
// each: the chart's schema (airflowCheck.instances[].name), the binary
// (deadline.InstancePattern, --airflow-instance and --airflow-check) and
// the policy (INSTANCE_PATTERN, AIRFLOW_POD_DEADLINE_INSTANCE). Otherwise a
// name one accepts could be one another refuses or never serves.
func TestInstancePatternIsOneRule(t *testing.T) {
	var schema struct {
		Properties struct {
			AirflowCheck struct {
				Properties struct {
					Instances struct {
						Items struct {
							Properties struct {
								Name struct {
									Pattern string `json:"pattern"`
								} `json:"name"`
							} `json:"properties"`
						} `json:"items"`
					} `json:"instances"`
				} `json:"properties"`
			} `json:"airflowCheck"`
		} `json:"properties"`
	}
	require.NoError(t, json.Unmarshal([]byte(repoFile(t, "manifests/chart/airflow-pod-deadline/values.schema.json")), &schema))
	assert.Equal(t, deadline.InstancePattern, schema.Properties.AirflowCheck.Properties.Instances.Items.Properties.Name.Pattern,
		"values.schema.json airflowCheck.instances[].name")

	policy := repoFile(t, "integrations/airflow/src/airflow_pod_deadline/policy.py")
	m := regexp.MustCompile(`(?m)^INSTANCE_PATTERN = r"([^"]*)"$`).FindAllStringSubmatch(policy, -1)
	require.Len(t, m, 1, `policy.py has one line INSTANCE_PATTERN = r"..."`)
	assert.Equal(t, deadline.InstancePattern, m[0][1], "policy.py INSTANCE_PATTERN")
}
