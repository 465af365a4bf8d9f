package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestToy runs the benchmark at toy size (one round, a few creates per
// setup, the floors included), so a change that breaks what a setup must do
// to a pod (expect) fails `make test` instead of the next `make bench`.
func TestToy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	require.NoError(t, run(config{root: "../../..", rounds: 1, seq: 3, conc: 2, perClient: 2, floorPair: true}))
}
