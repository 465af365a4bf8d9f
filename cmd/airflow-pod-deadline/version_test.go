package main

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionFlag(t *testing.T) {
	fs := flag.NewFlagSet("airflow-pod-deadline", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	show := versionFlag(fs)
	_, err := parseOptions(fs, []string{"--version"})
	require.NoError(t, err, "--version alone must pass validation: it needs no other flag")
	assert.True(t, *show)
	assert.Regexp(t, `^airflow-pod-deadline \S+ \(commit \S+, go1\.\S+, \w+/\w+\)$`, buildVersion())
}
