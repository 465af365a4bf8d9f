package release

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const workflow = ".github/workflows/release.yml"

// actionlint runs without shellcheck and pyflakes so that its verdict does
// not depend on what else the machine has installed.
func actionlint(t *testing.T, files ...string) (string, error) {
	t.Helper()
	args := append([]string{"-shellcheck=", "-pyflakes=", "-no-color"}, files...)
	return run(t, nil, tool(t, "actionlint", "release-tools"), args...)
}

func TestReleaseWorkflowLints(t *testing.T) {
	out, err := actionlint(t, workflow)
	require.NoError(t, err, "%s", out)

	// actionlint does reject a broken workflow (so the check above can fail).
	b, err := os.ReadFile(filepath.Join(root, workflow))
	require.NoError(t, err)
	broken := regexp.MustCompile(`secrets\.GITHUB_TOKEN`).ReplaceAll(b, []byte("secret.GITHUB_TOKEN"))
	bad := filepath.Join(t.TempDir(), "release.yml")
	require.NoError(t, os.WriteFile(bad, broken, 0o644))
	_, err = actionlint(t, bad)
	assert.Error(t, err)
}

// TestReleaseWorkflowCallsDocumentedTargets: the workflow cannot run here,
// so everything it does is a make target (documented with "## target:")
// that does.
func TestReleaseWorkflowCallsDocumentedTargets(t *testing.T) {
	wf, err := os.ReadFile(filepath.Join(root, workflow))
	require.NoError(t, err)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	code := regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAll(wf, nil) // comments mention make in prose
	calls := regexp.MustCompile(`\bmake (?:-s )?([a-z][a-z-]*)`).FindAllSubmatch(code, -1)
	require.NotEmpty(t, calls)
	seen := map[string]bool{}
	for _, c := range calls {
		target := string(c[1])
		seen[target] = true
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(target)+`:`, string(mk), "the workflow runs make %s: no such target", target)
		assert.Regexp(t, `(?m)^## `+regexp.QuoteMeta(target)+`:`, string(mk), "make %s is not documented with a ## comment", target)
	}
	for _, want := range []string{"test", "image", "chart-push", "manifests", "release-image-ref", "release-version"} {
		assert.True(t, seen[want], "the release runs make %s", want)
	}
}
