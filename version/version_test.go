package version

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

func buildInfo(main string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
	return func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.99.0", Main: debug.Module{Version: main}, Settings: settings}, true
	}
}

func TestLinkerValuesWin(t *testing.T) {
	i := get("0.3.0", "abc123", buildInfo("v0.2.0", debug.BuildSetting{Key: "vcs.revision", Value: "def456"}))
	assert.Equal(t, Info{Version: "0.3.0", Commit: "abc123", GoVersion: "go1.99.0", Platform: i.Platform}, i)
}

func TestFallsBackToBuildInfo(t *testing.T) {
	i := get("", "", buildInfo("v0.2.0", debug.BuildSetting{Key: "vcs.revision", Value: "def456"}))
	assert.Equal(t, "v0.2.0", i.Version, "go install module@v0.2.0 records the module version")
	assert.Equal(t, "def456", i.Commit)
}

func TestCheckoutBuildIsDevel(t *testing.T) {
	i := get("", "", buildInfo("(devel)"))
	assert.Equal(t, "devel", i.Version)
	assert.Equal(t, "unknown", i.Commit)
	i = get("", "", func() (*debug.BuildInfo, bool) { return nil, false })
	assert.Equal(t, "devel", i.Version)
}

func TestString(t *testing.T) {
	s := Info{Version: "0.1.0", Commit: "abc", GoVersion: "go1.26.8", Platform: "linux/arm64"}.String()
	assert.Equal(t, "airflow-pod-deadline 0.1.0 (commit abc, go1.26.8, linux/arm64)", s)
}

func TestBuildInfoGaugeIsRegistered(t *testing.T) {
	i := Get()
	want := `
# HELP airflow_pod_deadline_build_info Always 1; the labels say which build is running (version, commit, Go version).
# TYPE airflow_pod_deadline_build_info gauge
airflow_pod_deadline_build_info{goversion="` + i.GoVersion + `",revision="` + i.Commit + `",version="` + i.Version + `"} 1
`
	require.NoError(t, testutil.GatherAndCompare(metrics.Registry, strings.NewReader(want), BuildInfoName))
}
