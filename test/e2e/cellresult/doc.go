// Package cellresult is the record of one matrix cell of test/e2e, as the
// e2e tests write it (test/e2e/results/<venv>/<cell>.json) and
// test/e2e/matrixtable reads it into the matrix of docs/airflow.md: one
// type for both, so the writer and the reader cannot drift apart.
package cellresult
