// Package version says which build is running: the release version and
// commit stamped in by the linker (the Makefile and the image build pass
// -X flags), falling back to what the Go toolchain recorded in the binary,
// and exposes them as --version and the airflow_pod_deadline_build_info gauge.
package version
