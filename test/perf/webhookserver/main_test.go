package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary be the load generator too: run re-executes
// itself (os.Executable) with -generate.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-generate" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestToy runs the benchmark at toy size (one round, a fraction of a second
// of load per server and CPU count), so a change that breaks a server's
// answer to the review (server.check) or the program fails `make test`
// instead of the next `make bench`.
func TestToy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver and the servers")
	}
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	require.NoError(t, run(config{root: root, duration: 300 * time.Millisecond, rounds: 1, conns: 2}))
}
