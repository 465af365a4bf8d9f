package deadline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The exact strings Python prints for the values Airflow hands a DAG, as
// captured from CPython 3.11 (integrations/airflow's hook and the Jinja form
// produce them): every one must mean what Python meant.
func TestPythonProducedValues(t *testing.T) {
	at := time.Date(2026, 5, 20, 10, 15, 30, 0, time.UTC)
	deadlines := map[string]struct {
		python string // the expression that printed it
		value  string
		want   time.Time
	}{
		"isoformat":                {python: "datetime(2026,5,20,10,15,30,tzinfo=timezone.utc).isoformat()", value: "2026-05-20T10:15:30+00:00", want: at},
		"isoformat microseconds":   {python: "….replace(microsecond=123456).isoformat()", value: "2026-05-20T10:15:30.123456+00:00", want: at.Add(123456 * time.Microsecond)},
		"isoformat +02:00":         {python: "datetime(2026,5,20,12,15,30,tzinfo=timezone(timedelta(hours=2))).isoformat()", value: "2026-05-20T12:15:30+02:00", want: at},
		"strftime Z":               {python: "a.strftime('%Y-%m-%dT%H:%M:%SZ')", value: "2026-05-20T10:15:30Z", want: at},
		"str(datetime)":            {python: "str(a)", value: "2026-05-20 10:15:30+00:00", want: at},
		"timestamp()":              {python: "a.timestamp()", value: "1779272130.0", want: at},
		"timestamp() microseconds": {python: "b.timestamp()", value: "1779272130.123456", want: at.Add(123456 * time.Microsecond)},
		"int(timestamp())":         {python: "str(int(a.timestamp()))", value: "1779272130", want: at},
	}
	for name, tc := range deadlines {
		t.Run("deadline/"+name, func(t *testing.T) {
			got, err := deadlineValue(tc.value)
			require.NoError(t, err, tc.python)
			assert.True(t, tc.want.Equal(got), "%s = %q: got %s, want %s", tc.python, tc.value, got, tc.want)
		})
	}

	timeouts := map[string]struct {
		python string
		value  string
		want   time.Duration
	}{
		"30 seconds":          {python: "str(timedelta(seconds=30))", value: "0:00:30", want: 30 * time.Second},
		"30 minutes":          {python: "str(timedelta(minutes=30))", value: "0:30:00", want: 30 * time.Minute},
		"a day and 5 seconds": {python: "str(timedelta(days=1, seconds=5))", value: "1 day, 0:00:05", want: 24*time.Hour + 5*time.Second},
		"2 days, an hour":     {python: "str(timedelta(days=2, hours=1))", value: "2 days, 1:00:00", want: 49 * time.Hour},
		"microseconds":        {python: "str(timedelta(seconds=30, microseconds=500000))", value: "0:00:30.500000", want: 30*time.Second + 500*time.Millisecond},
		"total_seconds()":     {python: "timedelta(minutes=30).total_seconds()", value: "1800.0", want: 30 * time.Minute},
	}
	for name, tc := range timeouts {
		t.Run("timeout/"+name, func(t *testing.T) {
			got, err := timeoutValue(tc.value)
			require.NoError(t, err, tc.python)
			assert.Equal(t, tc.want, got, "%s = %q", tc.python, tc.value)
		})
	}

	// A negative timedelta prints a negative day and a positive clock
	// ("-1 day, 23:59:30" is minus 30 seconds): refused, not read as a day.
	_, err := timeoutValue("-1 day, 23:59:30")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "negative")
	// A naive datetime (no tzinfo) has no offset: refused with a hint.
	_, err = deadlineValue("2026-05-20T10:15:30.123456")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no UTC offset")
}
