package release

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/release/image"
)

// startRegistry serves go-containerregistry's OCI registry on 127.0.0.1 and
// returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	require.True(t, strings.HasPrefix(host, "127.0.0.1:"), host)
	return host
}

// chartVersions reads version and appVersion from Chart.yaml.
func chartVersions(t *testing.T) (version, appVersion string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, chartPath, "Chart.yaml"))
	require.NoError(t, err)
	var c struct{ Version, AppVersion string }
	require.NoError(t, yaml.Unmarshal(b, &c))
	return c.Version, c.AppVersion
}

// buildImage runs the image builder the way `make image` does, with a
// fixed revision and timestamp, and returns the digest it printed.
func buildImage(t *testing.T, builder, version string, args ...string) (digest string, out string) {
	t.Helper()
	args = append([]string{"-version", version, "-revision", "0123abcd", "-source-date-epoch", "1767225600", "-work", filepath.Join(t.TempDir(), "bin")}, args...)
	out, err := run(t, nil, builder, args...)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	digest = lines[len(lines)-1]
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, digest)
	return digest, out
}

// TestImageRoundTrip builds the release image twice (pushing the first to
// the local registry, writing the second as an OCI layout), pulls it back
// and checks what a cluster will run.
func TestImageRoundTrip(t *testing.T) {
	host := startRegistry(t)
	_, appVersion := chartVersions(t)
	builder := filepath.Join(t.TempDir(), "build-image")
	_, err := run(t, nil, "go", "build", "-o", builder, "./release/build-image")
	require.NoError(t, err)

	ref := host + "/airflow-pod-deadline:" + appVersion
	pushed, out := buildImage(t, builder, appVersion, "-push", ref)
	t.Logf("first build:\n%s", out)
	dir := filepath.Join(t.TempDir(), "layout")
	again, out := buildImage(t, builder, appVersion, "-out", dir, "-archive", dir+".tar")
	t.Logf("second build:\n%s", out)
	assert.Equal(t, pushed, again, "two builds of one commit give one digest")
	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^`+plat+` sha256:[0-9a-f]{64} \d+ bytes`), out, "size reported for %s", plat)
	}

	// The layout holds the same index, named for skopeo and friends.
	lp, err := layout.FromPath(dir)
	require.NoError(t, err)
	lidx, err := lp.ImageIndex()
	require.NoError(t, err)
	lm, err := lidx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, lm.Manifests, 1)
	assert.Equal(t, pushed, lm.Manifests[0].Digest.String())
	assert.Equal(t, "airflow-pod-deadline:"+appVersion, lm.Manifests[0].Annotations["org.opencontainers.image.ref.name"])
	st, err := os.Stat(dir + ".tar")
	require.NoError(t, err)
	assert.Greater(t, st.Size(), int64(1<<20))

	// Pull it back from the registry.
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	idx, err := remote.Index(r)
	require.NoError(t, err)
	d, err := idx.Digest()
	require.NoError(t, err)
	assert.Equal(t, pushed, d.String(), "the registry serves the digest the build printed")
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Equal(t, appVersion, im.Annotations["org.opencontainers.image.version"])
	var platforms []string
	var host_ v1.Image
	for _, m := range im.Manifests {
		platforms = append(platforms, m.Platform.String())
		img, err := idx.Image(m.Digest)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, m.Platform.Architecture, cf.Architecture)
		assert.Equal(t, image.User, cf.Config.User)
		assert.Equal(t, []string{image.BinaryPath}, cf.Config.Entrypoint)
		for k, want := range map[string]string{
			"org.opencontainers.image.version":  appVersion,
			"org.opencontainers.image.revision": "0123abcd",
			"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
			"org.opencontainers.image.source":   "https://github.com/airflow-pod-deadline/airflow-pod-deadline",
		} {
			assert.Equal(t, want, cf.Config.Labels[k], k)
		}
		if m.Platform.Architecture == runtime.GOARCH {
			host_ = img
		}
	}
	assert.Equal(t, []string{"linux/amd64", "linux/arm64"}, platforms)
	require.NotNil(t, host_, "an image for %s", runtime.GOARCH)

	// Extract the host's binary and SBOM from the pulled layers; run it.
	files := extract(t, host_, strings.TrimPrefix(image.BinaryPath, "/"), strings.TrimPrefix(image.SBOMPath, "/"))
	assert.NotContains(t, files, "bin/sh", "no shell")
	bin := filepath.Join(t.TempDir(), "airflow-pod-deadline")
	require.NoError(t, os.WriteFile(bin, files[strings.TrimPrefix(image.BinaryPath, "/")], 0o755))
	version, err := run(t, nil, bin, "--version")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("airflow-pod-deadline %s (commit 0123abcd, %s, linux/%s)\n", appVersion, runtime.Version(), runtime.GOARCH), version)

	var sbom struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name        string `json:"name"`
			VersionInfo string `json:"versionInfo"`
		} `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(files[strings.TrimPrefix(image.SBOMPath, "/")], &sbom))
	assert.Equal(t, "SPDX-2.3", sbom.SPDXVersion)
	names := map[string]string{}
	for _, p := range sbom.Packages {
		names[p.Name] = p.VersionInfo
	}
	assert.Equal(t, appVersion, names["airflow-pod-deadline"])
	assert.Contains(t, names, "sigs.k8s.io/controller-runtime")
	assert.Contains(t, names, "k8s.io/client-go")
}

// extract reads the image's flattened filesystem: the paths it holds, with
// the contents of those asked for.
func extract(t *testing.T, img v1.Image, want ...string) map[string][]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		files[h.Name] = nil
		for _, w := range want {
			if h.Name == w {
				b, err := io.ReadAll(tr)
				require.NoError(t, err)
				files[h.Name] = b
			}
		}
	}
	for _, w := range want {
		require.NotEmpty(t, files[w], "%s in the image", w)
	}
	return files
}

// TestChartOCIRoundTrip packages the chart, pushes it to the local registry
// with helm, and renders it back from the oci:// reference with the image
// from that registry.
func TestChartOCIRoundTrip(t *testing.T) {
	host := startRegistry(t)
	helm := tool(t, "helm", "bin-tools")
	env := helmEnv(t)
	version, appVersion := chartVersions(t)
	require.Equal(t, appVersion, version, "Chart.yaml's version and appVersion are the one release version")

	dist := t.TempDir()
	out, err := run(t, env, helm, "package", chartPath, "--destination", dist)
	require.NoError(t, err)
	pkg := filepath.Join(dist, "airflow-pod-deadline-"+version+".tgz")
	require.FileExists(t, pkg, out)
	_, err = run(t, env, helm, "push", pkg, "oci://"+host+"/charts", "--plain-http")
	require.NoError(t, err)

	chartRef := "oci://" + host + "/charts/airflow-pod-deadline"
	shown, err := run(t, env, helm, "show", "chart", chartRef, "--version", version, "--plain-http")
	require.NoError(t, err)
	assert.Contains(t, shown, "appVersion: "+appVersion)

	// Default values: the image the release publishes.
	rendered, err := run(t, env, helm, "template", "apd", chartRef, "--version", version, "--plain-http", "--namespace", "apd")
	require.NoError(t, err)
	release, err := run(t, nil, "make", "-s", "release-image-ref")
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(release), deploymentImage(t, rendered), "the chart's default image is what the release pushes")

	// With the image from the local registry, pinned by digest.
	digest := "sha256:" + strings.Repeat("ab", 32)
	rendered, err = run(t, env, helm, "template", "apd", chartRef, "--version", version, "--plain-http", "--namespace", "apd",
		"--set", "image.repository="+host+"/airflow-pod-deadline", "--set", "image.digest="+digest)
	require.NoError(t, err)
	assert.Equal(t, host+"/airflow-pod-deadline:"+appVersion+"@"+digest, deploymentImage(t, rendered))
}

// deploymentImage is the container image of the rendered Deployment.
func deploymentImage(t *testing.T, rendered string) string {
	t.Helper()
	for _, doc := range strings.Split(rendered, "\n---\n") {
		if !strings.Contains(doc, "kind: Deployment") {
			continue
		}
		var d appsv1.Deployment
		require.NoError(t, yaml.Unmarshal([]byte(doc), &d))
		require.Len(t, d.Spec.Template.Spec.Containers, 1)
		return d.Spec.Template.Spec.Containers[0].Image
	}
	t.Fatal("no Deployment rendered")
	return ""
}
