package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestToy runs the benchmark at toy size (one hollow node, a few pods that
// run and two that never schedule, deadlines seconds away), so a change that
// breaks what a pod must see (seen.check) fails `make test` instead of the
// next `make bench`.
func TestToy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster with a hollow node")
	}
	require.NoError(t, run(config{root: "../../..", nodes: 1, pods: 4, unscheduled: 2,
		createSpread: 2 * time.Second, spread: 4 * time.Second, margin: time.Minute}))
}
