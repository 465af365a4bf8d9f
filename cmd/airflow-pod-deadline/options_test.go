package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parse(args ...string) (*options, error) {
	fs := flag.NewFlagSet("airflow-pod-deadline", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parseOptions(fs, args)
}

func TestDefaults(t *testing.T) {
	o, err := parse()
	require.NoError(t, err)
	assert.Equal(t, 9443, o.webhookPort)
	assert.Equal(t, "", o.webhookBindAddress, "all interfaces")
	assert.Equal(t, "airflow-pod-deadline.io", o.annotationPrefix)
	assert.True(t, o.enableWebhook)
	assert.True(t, o.enableSweeper)
	assert.False(t, o.dryRun)
	assert.Equal(t, 15*time.Second, o.kubeletGrace)
	assert.Equal(t, 2*time.Second, o.tolerance)
	assert.Equal(t, certModeFiles, o.certMode)
	assert.False(t, o.metricsSecure)
}

func TestBadFlagsNameTheFlag(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"unparsable duration":       {args: []string{"--kubelet-grace=soon"}, want: "kubelet-grace"},
		"negative grace":            {args: []string{"--kubelet-grace=-1s"}, want: "--kubelet-grace: -1s is negative"},
		"negative tolerance":        {args: []string{"--admission-tolerance=-2s"}, want: "--admission-tolerance: -2s is negative"},
		"prefix not a DNS name":     {args: []string{"--annotation-prefix=Airflow_Deadlines"}, want: "--annotation-prefix: \"Airflow_Deadlines\" is not a DNS subdomain"},
		"prefix with a slash":       {args: []string{"--annotation-prefix=a.io/b"}, want: "--annotation-prefix"},
		"port out of range":         {args: []string{"--webhook-port=70000"}, want: "--webhook-port: 70000 is not a port"},
		"bad selector":              {args: []string{"--pod-label-selector=a in (b"}, want: "--pod-label-selector"},
		"zero qps":                  {args: []string{"--kube-api-qps=0"}, want: "--kube-api-qps"},
		"no workers":                {args: []string{"--sweeper-workers=0"}, want: "--sweeper-workers"},
		"no deletes":                {args: []string{"--max-deletes-per-second=0"}, want: "--max-deletes-per-second"},
		"nothing to run":            {args: []string{"--enable-webhook=false", "--enable-sweeper=false"}, want: "nothing to run"},
		"unknown cert mode":         {args: []string{"--cert-mode=vault"}, want: `--cert-mode: "vault" is neither "files" nor "self-managed"`},
		"self-managed without name": {args: []string{"--cert-mode=self-managed"}, want: "--cert-dns-names: required"},
		"renew not before expiry": {args: []string{"--cert-mode=self-managed", "--cert-dns-names=x", "--cert-validity=1h", "--cert-renew-before=2h"},
			want: "--cert-renew-before: 2h0m0s is not shorter than --cert-validity"},
		"unknown flag":          {args: []string{"--grace=1s"}, want: "flag provided but not defined: -grace"},
		"positional arguments":  {args: []string{"serve"}, want: "unexpected arguments: serve"},
		"several at once, both": {args: []string{"--kubelet-grace=-1s", "--webhook-port=0"}, want: "--webhook-port"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parse(tc.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := parse("--kubelet-grace=-1s", "--webhook-port=0")
	assert.Contains(t, err.Error(), "--kubelet-grace", "every bad flag is reported")
}

func TestGoodFlags(t *testing.T) {
	o, err := parse("--annotation-prefix=deadlines.example.com", "--dry-run", "--kubelet-grace=0s",
		"--cert-mode=self-managed", "--cert-dns-names=svc.ns.svc,127.0.0.1", "--namespace=airflow",
		"--pod-label-selector=kubernetes_pod_operator=True", "--zap-log-level=debug")
	require.NoError(t, err)
	assert.Equal(t, "deadlines.example.com", o.annotationPrefix)
	assert.True(t, o.dryRun)
	dns, ips := splitNames(o.certDNSNames)
	assert.Equal(t, []string{"svc.ns.svc"}, dns)
	require.Len(t, ips, 1)
	assert.Equal(t, "127.0.0.1", ips[0].String())
}

func TestSweeperExclusionsAlwaysHoldKubeSystemAndOwnNamespace(t *testing.T) {
	tests := map[string]struct {
		flag, podNamespace string
		want               []string
	}{
		"nothing given":       {want: []string{"kube-system"}},
		"in a cluster":        {podNamespace: "apd", want: []string{"kube-system", "apd"}},
		"the chart's list":    {flag: "kube-system,apd,team-b", podNamespace: "apd", want: []string{"kube-system", "apd", "team-b", "kube-system", "apd"}},
		"spaces, empty items": {flag: " team-a, ,team-b ", want: []string{"team-a", "team-b", "kube-system"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tc.podNamespace)
			assert.Equal(t, tc.want, sweeperExclusions(tc.flag))
		})
	}
}
