package cellresult

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecordedResultsParse reads every checked-in result strictly: a field
// the type no longer knows (a rename on one side only) fails here, not as a
// silently empty column of the matrix.
func TestRecordedResultsParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "results", "*", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var r Result
		require.NoError(t, dec.Decode(&r), f)
		assert.NotEmpty(t, r.Cell, f)
		assert.Equal(t, filepath.Base(filepath.Dir(f)), r.Venv, f)
	}
}
