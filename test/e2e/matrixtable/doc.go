// Command matrixtable writes the matrix of docs/airflow.md from the cell
// results `make e2e` records (test/e2e/results/<venv>/<cell>.json): one
// table per matrix row, a line per venv and phase, between the markers
// "<!-- matrix:begin -->" and "<!-- matrix:end -->". `make e2e-table` runs
// it on the checked-in results.
package main
