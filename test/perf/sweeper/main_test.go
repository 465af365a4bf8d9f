package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestToy runs the benchmark at toy size (a few pods, deadlines over two
// seconds, a restart with a few overdue), so a change that makes the
// sweeper delete a pod before its deadline, or not at all, fails `make test`
// instead of the next `make bench`.
func TestToy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	require.NoError(t, run(config{root: "../../..", pods: 20, spread: 2 * time.Second, overdue: 10,
		concurrency: 4, lead: 3 * time.Second, timeout: 2 * time.Minute}))
}
