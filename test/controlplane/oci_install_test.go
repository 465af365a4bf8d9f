package controlplane

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// TestChartInstallFromOCIRegistry is the install path of the README with a
// registry on 127.0.0.1 standing in for ghcr.io: the release image is built
// and pushed there, the chart packaged and pushed with helm, and the chart
// installed from its oci:// reference into the real API server (server-side
// dry run: nothing runs the pods here), with the image from that registry.
func TestChartInstallFromOCIRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	version := helmchart.AppVersion(t, suite.root)

	// The image, for this host's platform only (test/release covers both).
	imageRepo := host + "/airflow-pod-deadline"
	build := runIn(t, "go", "run", "./release/build-image", "-version", version, "-platforms", "linux/"+runtime.GOARCH,
		"-work", filepath.Join(t.TempDir(), "bin"), "-push", imageRepo+":"+version)
	lines := strings.Split(strings.TrimSpace(build), "\n")
	digest := lines[len(lines)-1]
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, digest)
	r, err := name.ParseReference(imageRepo + "@" + digest)
	require.NoError(t, err)
	_, err = remote.Head(r)
	require.NoError(t, err, "the pushed image is in the registry")

	// The chart.
	dist := t.TempDir()
	_, err = helm().Run(t, "package", helmchart.Path, "--destination", dist)
	require.NoError(t, err)
	_, err = helm().Run(t, "push", filepath.Join(dist, "airflow-pod-deadline-"+version+".tgz"), "oci://"+host+"/charts", "--plain-http")
	require.NoError(t, err)
	chartRef := "oci://" + host + "/charts/airflow-pod-deadline"

	ns := testenv.NewNamespace(t, suite.client)
	release := "apd-oci" // not the shared webhook configurations' name
	args := []string{"--version", version, "--plain-http", "--namespace", ns,
		"--set", "image.repository=" + imageRepo, "--set", "image.digest=" + digest,
		// The dashboard ConfigMap is created too; the PrometheusRule needs the
		// Prometheus Operator's CRD (promtool tests it in test/release).
		"--set", "metrics.grafanaDashboard.enabled=true"}

	out, err := helm().Run(t, append([]string{"template", release, chartRef}, args...)...)
	require.NoError(t, err)
	m := helmchart.Parse(t, []byte(out))
	assert.True(t, m.Has("ConfigMap", release+"-airflow-pod-deadline-dashboard"), "%v", m.Kinds())
	assert.Equal(t, imageRepo+":"+version+"@"+digest, m.Deployment(t).Spec.Template.Spec.Containers[0].Image)
	for _, u := range m.Objs {
		obj := u.DeepCopy()
		assert.NoError(t, suite.client.Create(context.Background(), obj, client.DryRunAll),
			"server-side dry-run create %s %s", u.GetKind(), u.GetName())
	}

	out, err = helm().Run(t, append([]string{"install", release, chartRef, "--dry-run=server"}, args...)...)
	require.NoError(t, err)
	assert.Contains(t, out, "STATUS: pending-install")
	assert.Contains(t, out, "image: "+imageRepo+":"+version+"@"+digest)
}

// runIn runs a command from the repository root and returns its stdout.
func runIn(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = suite.root
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "%s %s\n%s", name, strings.Join(args, " "), stderr)
	return string(out)
}
