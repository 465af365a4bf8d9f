package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

func TestAirflowCheckOffByDefault(t *testing.T) {
	o, err := parse()
	require.NoError(t, err)
	assert.False(t, o.airflow.enabled())
	assert.Equal(t, "default", o.airflow.instance)
	assert.Equal(t, "v2", o.airflow.apiVersion)
	assert.Equal(t, 10*time.Second, o.airflow.pollInterval)
	assert.Equal(t, 30*time.Second, o.airflow.grace)
	assert.Equal(t, 5*time.Second, o.airflow.handoff)
	assert.Empty(t, o.airflow.instances(failOn(t)))
}

// failOn is a badFunc that fails the test.
func failOn(t *testing.T) badFunc {
	return func(flag, format string, args ...any) {
		t.Helper()
		t.Errorf("unexpected bad value: --%s: "+format, append([]any{flag}, args...)...)
	}
}

func TestAirflowInstances(t *testing.T) {
	single := []string{"--airflow-api-url=http://airflow:8080", "--airflow-credentials-dir=/etc/airflow"}
	for name, tc := range map[string]struct {
		args []string
		want []airflowInstance
	}{
		"single-instance flags, defaults": {single, []airflowInstance{
			{name: "default", url: "http://airflow:8080", apiVersion: "v2", credentialsDir: "/etc/airflow", pageLimit: 100},
		}},
		"single-instance flags, all set": {
			append(single, "--airflow-api-version=v1", "--airflow-instance=prod"),
			[]airflowInstance{{name: "prod", url: "http://airflow:8080", apiVersion: "v1", credentialsDir: "/etc/airflow", pageLimit: 100}},
		},
		"one --airflow-check, api-version defaults to v2": {
			[]string{"--airflow-check=instance=prod,url=https://prod.example:8443/airflow,credentials-dir=/etc/apd/prod"},
			[]airflowInstance{{name: "prod", url: "https://prod.example:8443/airflow", apiVersion: "v2", credentialsDir: "/etc/apd/prod", pageLimit: 100}},
		},
		"keys in any order; a URL with a query": {
			[]string{"--airflow-check=credentials-dir=/c,api-version=v1,url=http://a:8080/?x=y,instance=team-a"},
			[]airflowInstance{{name: "team-a", url: "http://a:8080/?x=y", apiVersion: "v1", credentialsDir: "/c", pageLimit: 100}},
		},
		"single-instance flags first, then each --airflow-check in order": {
			append([]string{
				"--airflow-check=instance=staging,url=http://staging:8080,credentials-dir=/s",
				"--airflow-check=instance=legacy,url=http://old:8080,api-version=v1,credentials-dir=/l",
			}, single...),
			[]airflowInstance{
				{name: "default", url: "http://airflow:8080", apiVersion: "v2", credentialsDir: "/etc/airflow", pageLimit: 100},
				{name: "staging", url: "http://staging:8080", apiVersion: "v2", credentialsDir: "/s", pageLimit: 100},
				{name: "legacy", url: "http://old:8080", apiVersion: "v1", credentialsDir: "/l", pageLimit: 100},
			},
		},
		"--airflow-instance alone serves nothing (as before)": {[]string{"--airflow-instance=prod"}, nil},
		"page limits: --airflow-page-limit for the single instance, page-limit= for each --airflow-check": {
			append([]string{
				"--airflow-page-limit=1000",
				"--airflow-check=instance=big,url=http://big:8080,credentials-dir=/b,page-limit=10000",
				"--airflow-check=instance=small,url=http://small:8080,credentials-dir=/s,page-limit=1",
				"--airflow-check=instance=plain,url=http://plain:8080,credentials-dir=/p",
			}, single...),
			[]airflowInstance{
				{name: "default", url: "http://airflow:8080", apiVersion: "v2", credentialsDir: "/etc/airflow", pageLimit: 1000},
				{name: "big", url: "http://big:8080", apiVersion: "v2", credentialsDir: "/b", pageLimit: 10000},
				{name: "small", url: "http://small:8080", apiVersion: "v2", credentialsDir: "/s", pageLimit: 1},
				{name: "plain", url: "http://plain:8080", apiVersion: "v2", credentialsDir: "/p", pageLimit: 100},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			o, err := parse(tc.args...)
			require.NoError(t, err)
			assert.Equal(t, len(tc.want) > 0, o.airflow.enabled())
			got := o.airflow.instances(failOn(t))
			assert.Equal(t, tc.want, got)
			for _, in := range got {
				c, err := in.client(o.airflow.timeout)
				require.NoError(t, err)
				assert.Equal(t, in.name, c.Instance(), "the client's metrics and logs carry its instance")
				assert.Equal(t, in.pageLimit, c.PageLimit(), "the client asks for its instance's page")
			}
		})
	}
}

func TestAirflowFlagErrors(t *testing.T) {
	on := []string{"--airflow-api-url=http://airflow:8080", "--airflow-credentials-dir=/etc/airflow"}
	check := func(kv string) string { return "--airflow-check=" + kv }
	for name, tc := range map[string]struct {
		args []string
		// want are in the error, each; every one names its flag (and
		// instance).
		want []string
	}{
		"bad URL":            {[]string{"--airflow-api-url=airflow:8080", "--airflow-credentials-dir=/x"}, []string{`--airflow-api-url: API URL "airflow:8080"`}},
		"no credentials":     {[]string{"--airflow-api-url=http://airflow:8080"}, []string{"--airflow-credentials-dir: required with --airflow-api-url"}},
		"bad version":        {append(on, "--airflow-api-version=v3"), []string{`--airflow-api-version: "v3" is neither`}},
		"empty instance":     {append(on, "--airflow-instance="), []string{"--airflow-instance: must not be empty"}},
		"zero poll interval": {append(on, "--airflow-poll-interval=0s"), []string{"--airflow-poll-interval: 0s is not positive"}},
		"zero timeout":       {append(on, "--airflow-timeout=0s"), []string{"--airflow-timeout: 0s is not positive"}},
		"negative grace":     {append(on, "--airflow-grace=-1s"), []string{"--airflow-grace: -1s is negative"}},
		"negative handoff":   {append(on, "--airflow-handoff=-1s"), []string{"--airflow-handoff: -1s is negative"}},
		"handoff past the poll interval": {
			append(on, "--airflow-poll-interval=5s", "--airflow-handoff=6s"),
			[]string{"--airflow-handoff: 6s is longer than --airflow-poll-interval (5s)"},
		},
		"sweeper off": {append(on, "--enable-sweeper=false"), []string{"--airflow-api-url: the try check runs in the sweeper: needs --enable-sweeper"}},
		"sweeper off, --airflow-check only": {
			[]string{check("instance=a,url=http://a,credentials-dir=/a"), "--enable-sweeper=false"},
			[]string{"--airflow-check: the try check runs in the sweeper"},
		},
		"--airflow-check durations are checked too": {
			[]string{check("instance=a,url=http://a,credentials-dir=/a"), "--airflow-poll-interval=-1s"},
			[]string{"--airflow-poll-interval: -1s is not positive"},
		},
		"--airflow-check: bad URL names the instance": {
			[]string{check("instance=prod,url=prod:8080,credentials-dir=/p")},
			[]string{`--airflow-check: instance "prod": url: API URL "prod:8080": want http(s)://`},
		},
		"--airflow-check: every missing key": {
			[]string{check("instance=prod")},
			[]string{`--airflow-check: instance "prod": url: required`, `--airflow-check: instance "prod": credentials-dir: required`},
		},
		"--airflow-check: no instance names the value": {
			[]string{check("url=http://a,credentials-dir=/a")},
			[]string{`--airflow-check: "url=http://a,credentials-dir=/a": instance: must not be empty`},
		},
		"bad instance name": {
			append(on, "--airflow-instance=team/a"),
			[]string{`--airflow-instance: "team/a" is not 1 to 63 letters`, deadline.InstancePattern},
		},
		"--airflow-check: bad instance name": {
			[]string{check("instance=-prod,url=http://a,credentials-dir=/a")},
			[]string{`--airflow-check: instance "-prod": instance: "-prod" is not 1 to 63 letters`},
		},
		"--airflow-check: instance name too long": {
			[]string{check("instance=" + strings.Repeat("a", 64) + ",url=http://a,credentials-dir=/a")},
			[]string{`--airflow-check: instance "` + strings.Repeat("a", 64) + `": instance:`, "is not 1 to 63"},
		},
		"--airflow-check: empty": {[]string{check("")}, []string{`--airflow-check: "": "" is not one of instance=...`}},
		"--airflow-check: bad version": {
			[]string{check("instance=old,url=http://a,credentials-dir=/a,api-version=2")},
			[]string{`--airflow-check: instance "old": api-version: "2" is neither "v2" nor "v1"`},
		},
		"--airflow-check: unknown key": {
			[]string{check("instance=prod,url=http://a,credentials-dir=/a,pasword=x")},
			[]string{`--airflow-check: instance "prod": "pasword=x" is not one of instance=..., url=..., credentials-dir=..., api-version=..., page-limit=...`},
		},
		"--airflow-check: not key=value (a comma in a value)": {
			[]string{check("instance=prod,url=http://a/x,y,credentials-dir=/a")},
			[]string{`--airflow-check: instance "prod": "y" is not one of`},
		},
		"zero page limit":         {append(on, "--airflow-page-limit=0"), []string{"--airflow-page-limit: 0 is not within 1..10000 (and no more than that Airflow's [api] maximum_page_limit)"}},
		"huge page limit":         {append(on, "--airflow-page-limit=10001"), []string{"--airflow-page-limit: 10001 is not within 1..10000"}},
		"page limit not a number": {append(on, "--airflow-page-limit=lots"), []string{`invalid value "lots" for flag -airflow-page-limit`}},
		"--airflow-check: negative page-limit": {
			[]string{check("instance=prod,url=http://a,credentials-dir=/a,page-limit=-5")},
			[]string{`--airflow-check: instance "prod": page-limit: -5 is not within 1..10000`},
		},
		"--airflow-check: page-limit over the bound": {
			[]string{check("instance=prod,url=http://a,credentials-dir=/a,page-limit=20000")},
			[]string{`--airflow-check: instance "prod": page-limit: 20000 is not within 1..10000`},
		},
		"--airflow-check: page-limit not an integer": {
			[]string{check("instance=prod,url=http://a,credentials-dir=/a,page-limit=1e3")},
			[]string{`--airflow-check: instance "prod": page-limit: "1e3" is not an integer`},
		},
		"--airflow-check: empty page-limit": {
			[]string{check("instance=prod,url=http://a,credentials-dir=/a,page-limit=")},
			[]string{`--airflow-check: instance "prod": page-limit: "" is not an integer`},
		},
		"--airflow-check: a key twice": {
			[]string{check("instance=prod,url=http://a,url=http://b,credentials-dir=/a")},
			[]string{`--airflow-check: instance "prod": url: given twice`},
		},
		"duplicate of --airflow-instance": {
			append(on, "--airflow-instance=prod", check("instance=prod,url=http://b,credentials-dir=/b")),
			[]string{`--airflow-check: instance "prod": served twice`},
		},
		"duplicate of the default instance name": {
			append(on, check("instance=default,url=http://b,credentials-dir=/b")),
			[]string{`--airflow-check: instance "default": served twice`},
		},
		"duplicate --airflow-check": {
			[]string{check("instance=a,url=http://a,credentials-dir=/a"), check("instance=a,url=http://b,credentials-dir=/b")},
			[]string{`--airflow-check: instance "a": served twice`},
		},
		"every bad --airflow-check at once": {
			[]string{check("instance=a,url=a"), check("instance=b,api-version=v9,url=http://b,credentials-dir=/b")},
			[]string{`instance "a": url: API URL "a"`, `instance "a": credentials-dir: required`, `instance "b": api-version: "v9"`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(tc.args...)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestAirflowInstancesLeavesOutBadOnes: the good instances stay, so that
// validate reports each bad one and nothing else.
func TestAirflowInstancesLeavesOutBadOnes(t *testing.T) {
	o := &options{}
	o.airflow.timeout = time.Second
	o.airflow.checks = checkFlag{"instance=a,url=http://a,credentials-dir=/a", "instance=b,url=b,credentials-dir=/b", "instance=a,url=http://c,credentials-dir=/c"}
	var bad []string
	got := o.airflow.instances(func(flag, format string, args ...any) { bad = append(bad, flag) })
	require.Len(t, got, 1)
	assert.Equal(t, "a", got[0].name)
	assert.Equal(t, "http://a", got[0].url, "the first of a duplicate name is served")
	assert.Equal(t, []string{checkFlagName, checkFlagName}, bad, "b's URL, a's second definition")
	assert.Equal(t, strings.Join(o.airflow.checks, " "), o.airflow.checks.String())
}
