// Package release tests the release machinery without a cluster: the image
// built by `make image`'s builder round-tripped through an OCI registry
// served in-process on 127.0.0.1, the chart packaged and pushed to it, the
// release workflow linted by actionlint, the chart's alert rules unit-tested
// by promtool. The tools come from bin/ (make bin-tools, make release-tools).
package release
