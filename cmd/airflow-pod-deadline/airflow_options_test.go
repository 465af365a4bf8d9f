package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAirflowCheckOffByDefault(t *testing.T) {
	o, err := parse()
	require.NoError(t, err)
	assert.False(t, o.airflow.enabled())
	assert.Equal(t, "default", o.airflow.instance)
	assert.Equal(t, "v2", o.airflow.apiVersion)
	assert.Equal(t, 10*time.Second, o.airflow.pollInterval)
	assert.Equal(t, 30*time.Second, o.airflow.grace)
}

func TestAirflowFlags(t *testing.T) {
	o, err := parse("--airflow-api-url=http://airflow:8080", "--airflow-credentials-dir=/etc/airflow", "--airflow-api-version=v1",
		"--airflow-instance=prod", "--airflow-poll-interval=5s")
	require.NoError(t, err)
	assert.True(t, o.airflow.enabled())
	c, err := o.airflow.client()
	require.NoError(t, err)
	assert.Equal(t, "prod", c.Instance())

	on := []string{"--airflow-api-url=http://airflow:8080", "--airflow-credentials-dir=/etc/airflow"}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"bad URL":            {[]string{"--airflow-api-url=airflow:8080", "--airflow-credentials-dir=/x"}, "--airflow-api-url"},
		"no credentials":     {[]string{"--airflow-api-url=http://airflow:8080"}, "--airflow-credentials-dir: required"},
		"bad version":        {append(on, "--airflow-api-version=v3"), `--airflow-api-version: "v3"`},
		"empty instance":     {append(on, "--airflow-instance="), "--airflow-instance"},
		"zero poll interval": {append(on, "--airflow-poll-interval=0s"), "--airflow-poll-interval"},
		"zero timeout":       {append(on, "--airflow-timeout=0s"), "--airflow-timeout"},
		"negative grace":     {append(on, "--airflow-grace=-1s"), "--airflow-grace"},
		"sweeper off":        {append(on, "--enable-sweeper=false"), "needs --enable-sweeper"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(tc.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
