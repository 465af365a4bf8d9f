// Package static holds tests that start no process: docs and packaging checks.
//
// They read files of the repository (README.md, docs/, the chart, the Airflow
// package, the release workflow) and compare them with each other, so that a
// figure, a version or a tool cannot drift from its one source. No TestMain
// starts anything here; each test runs in milliseconds.
package static
