package static

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
)

// root is the repository root (two levels up), absolute: commands run in it
// and the Dockerfile test looks for it in the binary.
var root = func() string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return r
}()

// keys are the annotation keys of the default prefix, which the chart
// renders by default.
var keys = deadline.NewKeys(deadline.DefaultPrefix)

// helm renders the chart; nothing here talks to a cluster.
func helm() helmchart.Helm { return helmchart.Helm{Root: root} }

// repoFile reads a file by its path from the repository root.
func repoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	require.NoError(t, err)
	return string(b)
}
