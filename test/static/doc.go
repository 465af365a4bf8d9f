// Package static holds the tests that start no process of their own: the
// chart, the Dockerfile, docs and packaging checks.
//
// They render the chart with bin/helm (test/helmchart) and check what it
// renders for every notable combination of values, its schema, install.yaml,
// the values table of docs/install.md and its CEL matchConditions; they check
// the Dockerfile against the Makefile's build (building the binary once with
// its flags); and they read files of the repository (README.md, docs/, the
// Airflow package, the release workflow) and compare them with each other, so
// that a figure, a version or a tool cannot drift from its one source. No
// TestMain starts anything here: a test that needs an API server belongs in
// test/controlplane.
package static
