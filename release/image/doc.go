// Package image assembles the release image without a container engine: for
// each platform the static binary, a minimal root filesystem (passwd and group
// for uid 65532, /tmp) and an SPDX SBOM, as OCI layers with fixed timestamps
// and ownership, under one OCI image index. Everything is a function of the
// binaries and Config, so two builds of one commit give one digest.
package image
