package testenv

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProcStop(t *testing.T) {
	// Like the binary, exits 0 on SIGTERM.
	const serve = "trap 'exit 0' TERM; echo ready; sleep 60 & wait"
	tests := map[string]struct {
		script  string
		stopped bool   // the test stops it once before the Stop under test
		want    string // the error of the Stop under test; "" for none
	}{
		"running: stopped":              {script: serve},
		"stopped twice: nothing to say": {script: serve, stopped: true},
		"exited by itself: reported":    {script: "exit 3", want: "had already exited (exit status 3)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := startProc("/bin/sh", filepath.Join(t.TempDir(), "log"), nil, []string{"-c", tc.script}, false)
			require.NoError(t, err)
			if tc.script == serve {
				require.Eventually(t, func() bool { return p.Tail(1) == "ready" }, 5*time.Second, 10*time.Millisecond)
			}
			if tc.stopped {
				require.NoError(t, p.Stop(5*time.Second))
			}
			if tc.want != "" {
				<-p.Exited()
			}
			err = p.Stop(5 * time.Second)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
		})
	}
}
