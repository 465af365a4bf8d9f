package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

func TestBinaryRefusesBadFlagsAtStart(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"negative grace":   {args: []string{"--kubelet-grace=-5s"}, want: "--kubelet-grace: -5s is negative"},
		"bad prefix":       {args: []string{"--annotation-prefix=Not A Domain"}, want: "--annotation-prefix"},
		"unparsable":       {args: []string{"--admission-tolerance=two seconds"}, want: "admission-tolerance"},
		"unknown TLS mode": {args: []string{"--cert-mode=magic"}, want: "--cert-mode"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(suite.binary, append([]string{"--kubeconfig=" + suite.kubeconfig}, tc.args...)...).CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, string(out))
			assert.Equal(t, 2, exit.ExitCode())
			assert.Contains(t, string(out), tc.want)
		})
	}
}

func TestBinaryExitsWithoutServingCertificate(t *testing.T) {
	port, err := freePort()
	require.NoError(t, err)
	cmd := exec.Command(suite.binary, "--kubeconfig="+suite.kubeconfig, "--cert-dir="+t.TempDir(),
		"--webhook-bind-address=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port), "--enable-sweeper=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0")
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("kept running without a certificate")
	}
	require.Error(t, err)
	assert.Contains(t, string(out), "tls.crt")
}

func TestReadinessWaitsForServingCertificate(t *testing.T) {
	ns := testenv.NewNamespace(t, suite.client)
	port, err := freePort()
	require.NoError(t, err)
	name := "apd-readiness-" + ns
	// Self-managed mode without its webhook configurations: the rotator
	// cannot finish, so no certificate is served.
	p, err := startProc(t.TempDir(), "--enable-sweeper=false", "--webhook-bind-address=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port),
		"--cert-mode=self-managed", "--cert-secret-namespace="+ns, "--cert-dns-names=127.0.0.1",
		"--webhook-configuration-name="+name, "--cert-check-interval=200ms")
	require.NoError(t, err)
	t.Cleanup(p.stop)

	healthy := func(path string) bool {
		resp, err := http.Get("http://" + p.ProbeAddr + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	require.Eventually(t, func() bool { return healthy("/healthz") }, 30*time.Second, 100*time.Millisecond, "alive")
	assert.False(t, healthy("/readyz"), "ready without a certificate")

	// Now the configurations, caBundle empty (the binary injects it).
	webhooks, err := testenv.InstallWebhooksAs(context.Background(), suite.client, installYAML(), name, selfManagedPrefix, fmt.Sprintf("127.0.0.1:%d", port), nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, obj := range webhooks {
			_ = suite.client.Delete(context.Background(), obj)
		}
	})
	require.Eventually(t, func() bool { return healthy("/readyz") }, 30*time.Second, 100*time.Millisecond, "ready once the certificate is served")
}
