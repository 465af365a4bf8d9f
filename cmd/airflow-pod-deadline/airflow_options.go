package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// airflowOptions configure the try check, off unless it serves an instance.
// The single-instance flags (--airflow-api-url, --airflow-instance,
// --airflow-api-version, --airflow-credentials-dir, --airflow-page-limit)
// give one, as they always did; each --airflow-check gives one more. The
// poll interval, grace and timeout are common to all.
type airflowOptions struct {
	url            string
	instance       string
	apiVersion     string
	credentialsDir string
	pageLimit      int
	// checks are the raw --airflow-check values, parsed by instances.
	checks       checkFlag
	pollInterval time.Duration
	grace        time.Duration
	handoff      time.Duration
	timeout      time.Duration
}

// airflowInstance is one Airflow the try check serves.
type airflowInstance struct {
	name, url, apiVersion, credentialsDir string
	pageLimit                             int
}

// defaultAirflowInstance is the instance name the policy stamps unless the
// admin sets one (integrations/airflow).
const defaultAirflowInstance = "default"

// defaultPageLimit is Airflow's default [api] maximum_page_limit (2.x and
// 3.x), the page_limit asked for unless an instance's is given.
const defaultPageLimit = 100

// maxPageLimit bounds an instance's page_limit: a page of 10,000 task
// instances is about 10 MiB on Airflow 3 (airflowapi allows 16 KiB a row),
// read and serialized by the api-server in one request.
const maxPageLimit = 10000

// The flag of an instance given whole, and its keys.
const (
	checkFlagName  = "airflow-check"
	keyInstance    = "instance"
	keyURL         = "url"
	keyAPIVersion  = "api-version"
	keyCredentials = "credentials-dir"
	keyPageLimit   = "page-limit"
)

// singleFlags names the single-instance flag of each key, for its errors.
var singleFlags = map[string]string{
	keyInstance: "airflow-instance", keyURL: "airflow-api-url", keyAPIVersion: "airflow-api-version", keyCredentials: "airflow-credentials-dir",
	keyPageLimit: "airflow-page-limit",
}

// pageLimitHelp is what --airflow-page-limit and page-limit= mean. Airflow
// 2.11.2 and 3.3.2 do not apply [api] maximum_page_limit to the batch list
// (their get_task_instances_batch passes page_limit to the query as is;
// only the GET lists' limit is capped), so the bound is the admin's to keep.
const pageLimitHelp = "the page_limit of its list calls (task instances per page, 1..10000). " +
	"Keep it within that Airflow's [api] maximum_page_limit (default 100) and raise both together: " +
	"Airflow 2.11.2 and 3.3.2 do not apply that maximum to this batch list and send the whole page asked for, " +
	"so past it a call costs that Airflow more than its admin allowed; an Airflow or proxy that does cap the page costs more calls, never a wrong answer " +
	"(the check reads on by the rows each page returned). " +
	"A chunk of tracked tries is packed to fill one page, so a larger page makes fewer calls where few task instances of each DAG run are tracked"

// checkFlag collects every --airflow-check; they are parsed in validate, so
// that every bad value is reported at once, like the other flags'.
type checkFlag []string

func (c *checkFlag) String() string { return strings.Join(*c, " ") }

func (c *checkFlag) Set(v string) error {
	*c = append(*c, v)
	return nil
}

func (o *airflowOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "airflow-api-url", "", "Try check: base URL of the Airflow API server (e.g. http://airflow-api-server:8080; no /api/vN) of one instance, named by --airflow-instance. Empty: that instance is not served (--airflow-check may give others).")
	fs.StringVar(&o.instance, "airflow-instance", defaultAirflowInstance, "Try check: the instance name of --airflow-api-url (1 to 63 letters, digits, -, _ or ., starting and ending with a letter or digit); it must equal the name the policy stamps (airflow-instance annotation). Pods of instances no check serves are never judged.")
	fs.StringVar(&o.apiVersion, "airflow-api-version", airflowapi.V2, `Try check: the API of --airflow-api-url: "v2" (Airflow 3, JWT from /auth/token) or "v1" (Airflow 2.x, basic auth).`)
	fs.StringVar(&o.credentialsDir, "airflow-credentials-dir", "", "Try check: directory holding the files username and password of a read-only user of --airflow-api-url's Airflow (a mounted Secret); read again for every token (v2) or request (v1).")
	fs.IntVar(&o.pageLimit, "airflow-page-limit", defaultPageLimit, "Try check: for --airflow-api-url's Airflow, "+pageLimitHelp+".")
	fs.Var(&o.checks, checkFlagName, `Try check: one more Airflow instance, as instance=NAME,url=URL,credentials-dir=DIR[,api-version=v2|v1][,page-limit=N] (the keys of --airflow-instance, --airflow-api-url, --airflow-credentials-dir, --airflow-api-version, --airflow-page-limit; api-version defaults to v2, page-limit to 100; no commas in values). Repeatable; every instance name once.`)
	fs.DurationVar(&o.pollInterval, "airflow-poll-interval", 10*time.Second, "Try check: how often the leader asks each Airflow about its tracked tries (batched list calls per instance per poll: chunks of tracked tries, pages of --airflow-page-limit or page-limit= task instances, 100 by default).")
	fs.DurationVar(&o.grace, "airflow-grace", 30*time.Second, "Try check: a pod younger than this is never ended by the check (its try may not be visible yet).")
	fs.DurationVar(&o.handoff, "airflow-handoff", 5*time.Second, "Try check: a try Airflow recorded over is left this long after its end_date to Airflow's own cleanup (a cancelled trigger or a task's on_kill deleting the pod) before the check ends its pod, asking Airflow again first; 0: at once. At most --airflow-poll-interval.")
	fs.DurationVar(&o.timeout, "airflow-timeout", 10*time.Second, "Try check: timeout of each Airflow API request.")
}

func (o *airflowOptions) enabled() bool { return o.url != "" || len(o.checks) > 0 }

// validate reports bad values through bad, naming the flag (and, for
// --airflow-check, the instance).
func (o *airflowOptions) validate(bad badFunc, sweeper bool) {
	if !o.enabled() {
		return
	}
	o.instances(bad)
	positive(bad, durationFlag{"airflow-poll-interval", o.pollInterval}, durationFlag{"airflow-timeout", o.timeout})
	if o.grace < 0 {
		bad("airflow-grace", "%s is negative", o.grace)
	}
	switch {
	case o.handoff < 0:
		bad("airflow-handoff", "%s is negative", o.handoff)
	case o.pollInterval > 0 && o.handoff > o.pollInterval:
		// Past the poll interval, a pod would outlive its try's end by more
		// than the interval the docs promise.
		bad("airflow-handoff", "%s is longer than --airflow-poll-interval (%s)", o.handoff, o.pollInterval)
	}
	if !sweeper {
		flag := "airflow-api-url"
		if o.url == "" {
			flag = checkFlagName
		}
		bad(flag, "the try check runs in the sweeper: needs --enable-sweeper")
	}
}

// instances are the Airflows the check serves: the single-instance flags'
// first (when --airflow-api-url is set), then each --airflow-check in order.
// Bad values are reported through bad and left out; a name served twice is
// an error.
func (o *airflowOptions) instances(bad badFunc) []airflowInstance {
	var out []airflowInstance
	seen := map[string]bool{}
	add := func(in airflowInstance, problems []problem, report func(problem)) {
		if in.name != "" && seen[in.name] {
			problems = append(problems, problem{"", "served twice (by --airflow-instance or an earlier --airflow-check): every instance name once"})
		}
		for _, p := range problems {
			report(p)
		}
		if len(problems) == 0 {
			out = append(out, in)
		}
		seen[in.name] = true
	}
	if o.url != "" {
		in := airflowInstance{name: o.instance, url: o.url, apiVersion: o.apiVersion, credentialsDir: o.credentialsDir, pageLimit: o.pageLimit}
		add(in, in.problems(o.timeout), func(p problem) {
			flag, ok := singleFlags[p.key]
			if !ok {
				flag = "airflow-api-url"
			}
			if p.key == keyCredentials {
				p.msg += " with --airflow-api-url"
			}
			bad(flag, "%s", p.msg)
		})
	}
	for _, raw := range o.checks {
		in, problems := parseCheck(raw)
		problems = append(problems, in.problems(o.timeout)...)
		add(in, problems, func(p problem) {
			detail := p.msg
			if p.key != "" {
				detail = p.key + ": " + p.msg
			}
			if in.name != "" {
				bad(checkFlagName, "instance %q: %s", in.name, detail)
				return
			}
			bad(checkFlagName, "%q: %s", raw, detail)
		})
	}
	return out
}

// problem is one bad value of an instance, by key ("": the whole value).
type problem struct{ key, msg string }

// parseCheck reads one --airflow-check: comma-separated key=value pairs,
// each key once; api-version defaults to v2, page-limit to 100.
func parseCheck(raw string) (airflowInstance, []problem) {
	in := airflowInstance{apiVersion: airflowapi.V2, pageLimit: defaultPageLimit}
	var problems []problem
	given := map[string]bool{}
	var pageLimit string
	for _, field := range strings.Split(raw, ",") {
		k, v, ok := strings.Cut(field, "=")
		var dst *string
		switch k {
		case keyInstance:
			dst = &in.name
		case keyURL:
			dst = &in.url
		case keyAPIVersion:
			dst = &in.apiVersion
		case keyCredentials:
			dst = &in.credentialsDir
		case keyPageLimit:
			dst = &pageLimit
		}
		switch {
		case !ok || dst == nil:
			problems = append(problems, problem{"", fmt.Sprintf("%q is not one of %s=..., %s=..., %s=..., %s=..., %s=... (commas separate them)",
				field, keyInstance, keyURL, keyCredentials, keyAPIVersion, keyPageLimit)})
		case given[k]:
			problems = append(problems, problem{k, "given twice"})
		default:
			given[k], *dst = true, v
		}
	}
	if given[keyPageLimit] {
		n, err := strconv.Atoi(pageLimit)
		if err != nil {
			// Reported here; the default keeps problems from reporting it again.
			problems = append(problems, problem{keyPageLimit, fmt.Sprintf("%q is not an integer", pageLimit)})
			n = defaultPageLimit
		}
		in.pageLimit = n
	}
	return in, problems
}

// problems lists what is wrong with in's values.
func (in airflowInstance) problems(timeout time.Duration) []problem {
	var out []problem
	// The policy stamps any name it is given (a bad one only warns): a name
	// refused here is one no check serves, so its pods are never judged.
	if in.name == "" {
		out = append(out, problem{keyInstance, "must not be empty"})
	} else if err := deadline.ValidateInstance(in.name); err != nil {
		out = append(out, problem{keyInstance, err.Error()})
	}
	if in.url == "" {
		out = append(out, problem{keyURL, "required"})
	} else if _, err := in.client(timeout); err != nil {
		out = append(out, problem{keyURL, err.Error()})
	}
	if in.apiVersion != airflowapi.V2 && in.apiVersion != airflowapi.V1 {
		out = append(out, problem{keyAPIVersion, fmt.Sprintf("%q is neither %q nor %q", in.apiVersion, airflowapi.V2, airflowapi.V1)})
	}
	if in.credentialsDir == "" {
		out = append(out, problem{keyCredentials, "required"})
	}
	if in.pageLimit < 1 || in.pageLimit > maxPageLimit {
		out = append(out, problem{keyPageLimit, fmt.Sprintf("%d is not within 1..%d (and no more than that Airflow's [api] maximum_page_limit)", in.pageLimit, maxPageLimit)})
	}
	return out
}

// client is in's API client. A bad version or timeout (reported by
// problems and validate) is replaced, so that a bad URL is told apart.
func (in airflowInstance) client(timeout time.Duration) (*airflowapi.Client, error) {
	if timeout <= 0 {
		timeout = time.Second
	}
	version := in.apiVersion
	if version != airflowapi.V1 {
		version = airflowapi.V2
	}
	return airflowapi.New(airflowapi.Config{
		Instance: in.name, URL: in.url, Version: version, CredentialsDir: in.credentialsDir, Timeout: timeout, PageLimit: in.pageLimit,
	})
}
