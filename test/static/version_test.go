package static

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// field returns the first submatch of re in text, failing the test when there is none.
func field(t *testing.T, text, what string, re *regexp.Regexp) string {
	t.Helper()
	m := re.FindStringSubmatch(text)
	require.NotNil(t, m, "%s not found (%s)", what, re)
	return m[1]
}

// One version for the Go binary, the image, the chart and the Python
// package: the chart's appVersion is the source. The Makefile stamps the
// binary and the image with it (VERSION), the chart's version equals it, and
// the policy package's pyproject must say the same.
func TestOneReleaseVersion(t *testing.T) {
	chart := repoFile(t, "manifests/chart/airflow-pod-deadline/Chart.yaml")
	appVersion := field(t, chart, "Chart.yaml appVersion", regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?\s*$`))
	chartVersion := field(t, chart, "Chart.yaml version", regexp.MustCompile(`(?m)^version:\s*"?([^"\s]+)"?\s*$`))
	pyproject := repoFile(t, "integrations/airflow/pyproject.toml")
	pyVersion := field(t, pyproject, "pyproject.toml [project] version", regexp.MustCompile(`(?m)^version\s*=\s*"([^"]+)"\s*$`))

	assert.Equal(t, appVersion, chartVersion, "Chart.yaml: version and appVersion differ")
	assert.Equal(t, appVersion, pyVersion, "integrations/airflow/pyproject.toml's version is not the chart's appVersion")

	// The binary and the image take VERSION from Chart.yaml's appVersion.
	makefile := repoFile(t, "Makefile")
	assert.Regexp(t, `(?m)^VERSION := \$\(shell sed -n 's/\^appVersion:.*\$\(CHART\)/Chart\.yaml\)$`, makefile,
		"the Makefile no longer reads VERSION from Chart.yaml's appVersion")
	assert.Contains(t, makefile, "-X $(VERSION_PKG).version=$(VERSION)", "the binary is no longer stamped with VERSION")
	assert.Contains(t, makefile, "-version $(VERSION)", "make image no longer passes VERSION")
}

// The policy package says what a cluster admin checks: its license, the
// Python it is tested on, and no dependency on Airflow itself.
func TestPolicyPackageMetadata(t *testing.T) {
	pyproject := repoFile(t, "integrations/airflow/pyproject.toml")
	assert.Regexp(t, `(?m)^license = "Apache-2.0"$`, pyproject)
	assert.Regexp(t, `(?m)^requires-python = ">=3.11"$`, pyproject)
	assert.Contains(t, pyproject, `"Programming Language :: Python :: 3.11"`)
	assert.Equal(t, repoFile(t, "LICENSE"), repoFile(t, "integrations/airflow/LICENSE"),
		"integrations/airflow/LICENSE (shipped in the wheel and sdist) differs from LICENSE")
}
