package main

import (
	"flag"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/version"
)

// versionFlag registers --version on fs. It lives beside the options rather
// than in them: printing the build must work without a cluster or any other
// flag, and the image test runs exactly `airflow-pod-deadline --version`.
func versionFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("version", false, "Print the version, commit, Go version and platform, and exit.")
}

// buildVersion is what --version prints.
func buildVersion() string { return version.Get().String() }
