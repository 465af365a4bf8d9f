package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

// options are the command line; flag names are part of the contract shared
// with the Helm chart, the demo and the docs (README.md).
type options struct {
	webhookPort        int
	webhookBindAddress string
	certDir            string
	metricsBindAddress string
	metricsSecure      bool
	probeBindAddress   string
	pprofBindAddress   string
	leaderElect        bool
	leaderElectionNS   string
	leaseDuration      time.Duration
	renewDeadline      time.Duration
	retryPeriod        time.Duration
	enableHTTP2        bool
	annotationPrefix   string
	enableWebhook      bool
	enableSweeper      bool
	dryRun             bool
	kubeletGrace       time.Duration
	tolerance          time.Duration
	namespace          string
	podSelector        string
	excludeNamespaces  string
	apiQPS             float64
	apiBurst           int
	workers            int
	deletesPerSecond   float64
	certMode           string
	certSecretName     string
	certSecretNS       string
	certDNSNames       string
	webhookConfigName  string
	certValidity       time.Duration
	caValidity         time.Duration
	certRenewBefore    time.Duration
	certCheckInterval  time.Duration
	zap                zap.Options
	// airflow configures the try check (airflow_options.go).
	airflow airflowOptions
}

// Certificate modes (--cert-mode).
const (
	certModeFiles       = "files"
	certModeSelfManaged = "self-managed"
)

// bind registers the flags on fs with their defaults.
func (o *options) bind(fs *flag.FlagSet) {
	fs.IntVar(&o.webhookPort, "webhook-port", 9443, "Port the webhook server listens on.")
	fs.StringVar(&o.webhookBindAddress, "webhook-bind-address", "", "Address the webhook server binds to (empty: all interfaces).")
	fs.StringVar(&o.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Directory holding tls.crt and tls.key for the webhook server; reloaded when they change.")
	fs.StringVar(&o.metricsBindAddress, "metrics-bind-address", ":8080", `Address of the Prometheus metrics endpoint ("0" disables it).`)
	fs.BoolVar(&o.metricsSecure, "metrics-secure", false, "Serve metrics over HTTPS with Kubernetes authentication and authorization.")
	fs.StringVar(&o.probeBindAddress, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	fs.StringVar(&o.pprofBindAddress, "pprof-bind-address", "", "Address of Go's /debug/pprof endpoints for profiling (empty: off).")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader among replicas to run the sweeper (the webhook runs on every replica).")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election Lease (required outside a cluster).")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 15*time.Second, "How long a standby replica waits before taking over an unrenewed lease: the sweeper's failover time after a crash.")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader keeps retrying to renew its lease before it gives up leadership (and exits).")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", 2*time.Second, "How often replicas try to acquire or renew the lease.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false, "Offer HTTP/2 on the webhook and metrics servers. Off by default, as in kubebuilder, because of the HTTP/2 Rapid Reset and stream-cancellation CVEs (CVE-2023-44487, CVE-2023-39325); kube-apiserver then calls the webhook over HTTP/1.1 with keep-alive.")
	fs.StringVar(&o.annotationPrefix, "annotation-prefix", deadline.DefaultPrefix, "Prefix of the execution-deadline / execution-timeout annotations.")
	fs.BoolVar(&o.enableWebhook, "enable-webhook", true, "Serve the mutating and validating admission webhooks.")
	fs.BoolVar(&o.enableSweeper, "enable-sweeper", true, "Run the sweeper, which enforces deadlines on live pods.")
	fs.BoolVar(&o.dryRun, "dry-run", false, "Sweeper only: record what would be done as events, change no pod.")
	fs.DurationVar(&o.kubeletGrace, "kubelet-grace", 15*time.Second, "How long a started pod may still be running past its deadline plus its own terminationGracePeriodSeconds (the kubelet stops it at the deadline, gracefully) before the sweeper deletes it.")
	fs.DurationVar(&o.tolerance, "admission-tolerance", webhook.DefaultTolerance, "How far activeDeadlineSeconds may exceed the remaining budget when the validating webhook checks it (time between the two webhook calls, clock skew between replicas).")
	fs.StringVar(&o.namespace, "namespace", "", "Sweeper only: watch pods in this namespace only (empty: all namespaces).")
	fs.StringVar(&o.podSelector, "pod-label-selector", "", "Sweeper only: watch only pods matching this label selector (e.g. kubernetes_pod_operator=True).")
	fs.StringVar(&o.excludeNamespaces, "exclude-namespaces", "", "Sweeper only: comma-separated namespaces whose pods are never enforced, besides kube-system and $POD_NAMESPACE (always excluded); give the same list as the webhooks' namespaceSelector exclusions (the Helm chart does).")
	fs.Float64Var(&o.apiQPS, "kube-api-qps", 50, "Queries per second to the API server.")
	fs.IntVar(&o.apiBurst, "kube-api-burst", 100, "Burst of queries to the API server.")
	fs.IntVar(&o.workers, "sweeper-workers", 4, "Pods the sweeper acts on concurrently.")
	fs.Float64Var(&o.deletesPerSecond, "max-deletes-per-second", 20, "Upper bound on the sweeper's pod deletions per second; the rest wait in the queue.")
	fs.StringVar(&o.certMode, "cert-mode", certModeFiles, `Where the serving certificate comes from: "files" (tls.crt/tls.key in --cert-dir, e.g. a cert-manager Secret mounted there) or "self-managed" (the binary creates and rotates a CA and serving certificate in --cert-secret-name and keeps the caBundle of both webhook configurations current).`)
	fs.StringVar(&o.certSecretName, "cert-secret-name", "airflow-pod-deadline-tls", "Self-managed mode: the Secret holding the CA and serving certificate.")
	fs.StringVar(&o.certSecretNS, "cert-secret-namespace", "", "Self-managed mode: namespace of that Secret (default: $POD_NAMESPACE, then the namespace of the in-cluster service account).")
	fs.StringVar(&o.certDNSNames, "cert-dns-names", "", "Self-managed mode: comma-separated DNS names and IP addresses of the serving certificate (e.g. airflow-pod-deadline.airflow-pod-deadline.svc).")
	fs.StringVar(&o.webhookConfigName, "webhook-configuration-name", "airflow-pod-deadline", "Self-managed mode: name of the Mutating and the Validating webhook configurations whose caBundle is kept current.")
	fs.DurationVar(&o.certValidity, "cert-validity", 365*24*time.Hour, "Self-managed mode: validity of a serving certificate.")
	fs.DurationVar(&o.caValidity, "ca-validity", 10*365*24*time.Hour, "Self-managed mode: validity of the CA.")
	fs.DurationVar(&o.certRenewBefore, "cert-renew-before", 30*24*time.Hour, "Self-managed mode: renew a certificate (or the CA) this long before it expires.")
	fs.DurationVar(&o.certCheckInterval, "cert-check-interval", 10*time.Second, "Self-managed mode: how often the Secret and the webhook configurations' caBundle are checked (this also repairs a caBundle reset by a helm upgrade).")
	o.airflow.bind(fs)
	o.zap.Development = false // JSON logs
	o.zap.BindFlags(fs)
}

// badFunc reports one bad value, naming its flag (without the dashes).
type badFunc func(flag, format string, args ...any)

// durationFlag is a duration flag's name and value.
type durationFlag struct {
	flag  string
	value time.Duration
}

// positive reports each duration that is not positive.
func positive(bad badFunc, ds ...durationFlag) {
	for _, d := range ds {
		if d.value <= 0 {
			bad(d.flag, "%s is not positive", d.value)
		}
	}
}

// validate reports every bad value at once, naming the flag.
func (o *options) validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if o.webhookPort < 1 || o.webhookPort > 65535 {
		bad("webhook-port", "%d is not a port (1-65535)", o.webhookPort)
	}
	if err := deadline.ValidatePrefix(o.annotationPrefix); err != nil {
		bad("annotation-prefix", "%v", err)
	}
	if o.leaseDuration <= o.renewDeadline || o.renewDeadline <= o.retryPeriod || o.retryPeriod <= 0 {
		bad("leader-election-lease-duration", "need lease duration %s > renew deadline %s > retry period %s > 0", o.leaseDuration, o.renewDeadline, o.retryPeriod)
	}
	if o.kubeletGrace < 0 {
		bad("kubelet-grace", "%s is negative", o.kubeletGrace)
	}
	if o.tolerance < 0 {
		bad("admission-tolerance", "%s is negative", o.tolerance)
	}
	if _, err := labels.Parse(o.podSelector); err != nil {
		bad("pod-label-selector", "%v", err)
	}
	if o.apiQPS <= 0 {
		bad("kube-api-qps", "%v is not positive", o.apiQPS)
	}
	if o.apiBurst < 1 {
		bad("kube-api-burst", "%d is not positive", o.apiBurst)
	}
	if o.workers < 1 {
		bad("sweeper-workers", "%d is not positive", o.workers)
	}
	if o.deletesPerSecond <= 0 {
		bad("max-deletes-per-second", "%v is not positive", o.deletesPerSecond)
	}
	switch o.certMode {
	case certModeFiles:
	case certModeSelfManaged:
		if o.certDNSNames == "" {
			bad("cert-dns-names", "required with --cert-mode=self-managed")
		}
		if o.certSecretName == "" {
			bad("cert-secret-name", "required with --cert-mode=self-managed")
		}
		if o.webhookConfigName == "" {
			bad("webhook-configuration-name", "required with --cert-mode=self-managed")
		}
		positive(bad, durationFlag{"cert-validity", o.certValidity}, durationFlag{"ca-validity", o.caValidity},
			durationFlag{"cert-renew-before", o.certRenewBefore}, durationFlag{"cert-check-interval", o.certCheckInterval})
		if o.certRenewBefore >= o.certValidity {
			bad("cert-renew-before", "%s is not shorter than --cert-validity %s", o.certRenewBefore, o.certValidity)
		}
		if o.certValidity > o.caValidity {
			bad("cert-validity", "%s is longer than --ca-validity %s", o.certValidity, o.caValidity)
		}
	default:
		bad("cert-mode", "%q is neither %q nor %q", o.certMode, certModeFiles, certModeSelfManaged)
	}
	o.airflow.validate(bad, o.enableSweeper)
	if !o.enableWebhook && !o.enableSweeper {
		errs = append(errs, errors.New("--enable-webhook=false and --enable-sweeper=false: nothing to run"))
	}
	if o.certDir == "" && o.enableWebhook {
		bad("cert-dir", "must not be empty")
	}
	return errors.Join(errs...)
}

// parseOptions parses args (without the program name) into options.
func parseOptions(fs *flag.FlagSet, args []string) (*options, error) {
	o := &options{}
	o.bind(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}
