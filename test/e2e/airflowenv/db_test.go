package airflowenv

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The forms SQLAlchemy leaves in Airflow's SQLite database (2.11 and 3.3).
func TestParseTime(t *testing.T) {
	want := time.Date(2026, 12, 1, 23, 7, 50, 582114000, time.UTC)
	for _, in := range []string{"2026-12-01 23:07:50.582114", "2026-12-01 23:07:50.582114+00:00", "2026-12-01T23:07:50.582114Z", "2026-12-02 00:07:50.582114+01:00"} {
		got, err := parseTime(in)
		require.NoError(t, err, in)
		assert.True(t, got.Equal(want), "%s: got %s", in, got)
		assert.Equal(t, time.UTC, got.Location())
	}
	for _, null := range []any{nil, ""} {
		got, err := parseTime(null)
		require.NoError(t, err)
		assert.True(t, got.IsZero())
	}
	_, err := parseTime("yesterday")
	assert.Error(t, err)
}

func TestToInt(t *testing.T) {
	assert.Equal(t, 3, toInt(float64(3)))
	assert.Equal(t, -1, toInt(float64(-1)))
	assert.Equal(t, 0, toInt(nil))
	assert.Equal(t, 0, toInt("7"))
}
