package webhook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestAdmissionSeconds(t *testing.T) {
	second := time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		now  time.Time
		at   time.Time
		want int64
	}{
		"admitted on a whole second":             {second, second.Add(time.Hour), 3600},
		"admitted mid-second: from its start":    {second.Add(400 * time.Millisecond), second.Add(400*time.Millisecond + time.Hour), 3601},
		"deadline on a fraction, counted up":     {second, second.Add(time.Hour + time.Millisecond), 3601},
		"admitted in the deadline's last second": {second.Add(900 * time.Millisecond), second.Add(time.Second), 1},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, AdmissionSeconds(tc.at, tc.now))
		})
	}
}
