package main

import (
	"flag"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
)

// airflowOptions configure the try check (off unless --airflow-api-url is
// set). One Airflow instance per process: several instances need several
// flag sets (one release of the chart each, see docs/airflow.md).
type airflowOptions struct {
	url            string
	instance       string
	apiVersion     string
	credentialsDir string
	pollInterval   time.Duration
	grace          time.Duration
	timeout        time.Duration
}

// defaultAirflowInstance is the instance name the policy stamps unless the
// admin sets one (integrations/airflow).
const defaultAirflowInstance = "default"

func (o *airflowOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "airflow-api-url", "", "Try check: base URL of the Airflow API server (e.g. http://airflow-api-server:8080; no /api/vN). Empty: the try check is off.")
	fs.StringVar(&o.instance, "airflow-instance", defaultAirflowInstance, "Try check: the Airflow instance name this check serves; it must equal the name the policy stamps (airflow-instance annotation). Pods of other instances are never judged.")
	fs.StringVar(&o.apiVersion, "airflow-api-version", airflowapi.V2, `Try check: "v2" (Airflow 3, JWT from /auth/token) or "v1" (Airflow 2.x, basic auth).`)
	fs.StringVar(&o.credentialsDir, "airflow-credentials-dir", "", "Try check: directory holding the files username and password of a read-only Airflow user (a mounted Secret); read again for every token (v2) or request (v1).")
	fs.DurationVar(&o.pollInterval, "airflow-poll-interval", 10*time.Second, "Try check: how often the leader asks Airflow about the tracked tries (one batched list call per poll).")
	fs.DurationVar(&o.grace, "airflow-grace", 30*time.Second, "Try check: a pod younger than this is never ended by the check (its try may not be visible yet).")
	fs.DurationVar(&o.timeout, "airflow-timeout", 10*time.Second, "Try check: timeout of each Airflow API request.")
}

func (o *airflowOptions) enabled() bool { return o.url != "" }

// validate reports bad values through bad, naming the flag.
func (o *airflowOptions) validate(bad func(flag, format string, args ...any), sweeper bool) {
	if !o.enabled() {
		return
	}
	if _, err := o.client(); err != nil {
		bad("airflow-api-url", "%v", err)
	}
	if o.apiVersion != airflowapi.V2 && o.apiVersion != airflowapi.V1 {
		bad("airflow-api-version", "%q is neither %q nor %q", o.apiVersion, airflowapi.V2, airflowapi.V1)
	}
	if o.instance == "" {
		bad("airflow-instance", "must not be empty")
	}
	if o.credentialsDir == "" {
		bad("airflow-credentials-dir", "required with --airflow-api-url")
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{{"airflow-poll-interval", o.pollInterval}, {"airflow-timeout", o.timeout}} {
		if d.value <= 0 {
			bad(d.flag, "%s is not positive", d.value)
		}
	}
	if o.grace < 0 {
		bad("airflow-grace", "%s is negative", o.grace)
	}
	if !sweeper {
		bad("airflow-api-url", "the try check runs in the sweeper: needs --enable-sweeper")
	}
}

func (o *airflowOptions) client() (*airflowapi.Client, error) {
	timeout := o.timeout
	if timeout <= 0 {
		timeout = time.Second // reported by validate
	}
	version := o.apiVersion
	if version != airflowapi.V1 {
		version = airflowapi.V2 // reported by validate
	}
	return airflowapi.New(airflowapi.Config{
		Instance: o.instance, URL: o.url, Version: version, CredentialsDir: o.credentialsDir, Timeout: timeout,
	})
}
