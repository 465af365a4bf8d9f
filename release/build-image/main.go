// Command build-image builds the airflow-pod-deadline release image without a
// container engine (`make image` runs it): it cross-compiles the static binary
// for each platform, assembles the OCI index with release/image, and pushes it
// (-push) or writes it as an OCI layout and archive (-out, -archive). It
// prints the digest of the index and the size of each platform's image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/release/image"
)

const versionPkg = "github.com/airflow-pod-deadline/airflow-pod-deadline/version"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "build-image:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		platforms = flag.String("platforms", "linux/amd64,linux/arm64", "Comma-separated os/arch list.")
		version   = flag.String("version", "", "Release version (Chart.yaml appVersion); required.")
		revision  = flag.String("revision", "unknown", "Git commit.")
		source    = flag.String("source", "https://github.com/airflow-pod-deadline/airflow-pod-deadline", "Repository URL for the OCI source label.")
		epoch     = flag.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "The image's only timestamp, Unix seconds (default $SOURCE_DATE_EPOCH, else 0).")
		push      = flag.String("push", "", "Push to this reference (registry/repo:tag).")
		out       = flag.String("out", "", "Write an OCI layout to this directory.")
		archive   = flag.String("archive", "", "Also write the layout as a tar (an oci-archive) to this file; needs -out.")
		ref       = flag.String("ref", "", "Name of the image in the layout's index.json (default: -push, else airflow-pod-deadline:<version>).")
		digestOut = flag.String("digest-file", "", "Write the index digest (sha256:...) to this file.")
		work      = flag.String("work", "dist/bin", "Directory for the per-platform binaries.")
		pkg       = flag.String("pkg", "./cmd/airflow-pod-deadline", "Package to build.")
	)
	flag.Parse()
	if *version == "" {
		return errors.New("-version is required")
	}
	if *push == "" && *out == "" {
		return errors.New("give -push, -out, or both")
	}
	if *archive != "" && *out == "" {
		return errors.New("-archive needs -out")
	}
	secs := int64(0)
	if *epoch != "" {
		var err error
		if secs, err = strconv.ParseInt(*epoch, 10, 64); err != nil {
			return fmt.Errorf("-source-date-epoch %q: %w", *epoch, err)
		}
	}
	cfg := image.Config{
		Binaries: map[string]string{},
		Version:  *version, Revision: *revision, Source: *source,
		Created: time.Unix(secs, 0).UTC(),
	}
	for _, p := range strings.Split(*platforms, ",") {
		bin, err := build(*work, strings.TrimSpace(p), *pkg, *version, *revision)
		if err != nil {
			return err
		}
		cfg.Binaries[strings.TrimSpace(p)] = bin
	}
	for _, f := range []string{*archive, *digestOut} {
		if f != "" {
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				return err
			}
		}
	}
	idx, err := image.Build(cfg)
	if err != nil {
		return err
	}
	if err := report(idx); err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	if *out != "" {
		name := *ref
		if name == "" {
			name = *push
		}
		if name == "" {
			name = "airflow-pod-deadline:" + *version
		}
		if err := image.WriteLayout(*out, name, idx); err != nil {
			return err
		}
		fmt.Printf("wrote OCI layout %s (%s)\n", *out, name)
		if *archive != "" {
			if err := image.WriteArchive(*out, *archive); err != nil {
				return err
			}
			fmt.Printf("wrote OCI archive %s\n", *archive)
		}
	}
	if *push != "" {
		r, err := image.Push(context.Background(), *push, idx)
		if err != nil {
			return fmt.Errorf("pushing %s: %w", *push, err)
		}
		fmt.Printf("pushed %s@%s\n", r.Context().Name(), digest)
	}
	if *digestOut != "" {
		if err := os.WriteFile(*digestOut, []byte(digest.String()+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Println(digest)
	return nil
}

// build cross-compiles the binary exactly as the Makefile's build target does
// (BUILD_FLAGS), adding the version stamps. -buildvcs=false: the VCS stamp
// differs between a checkout and a source archive of the same commit.
func build(work, platform, pkg, version, revision string) (string, error) {
	goos, goarch, ok := strings.Cut(platform, "/")
	if !ok {
		return "", fmt.Errorf("platform %q is not os/arch", platform)
	}
	out := filepath.Join(work, goos+"_"+goarch, "airflow-pod-deadline")
	ldflags := fmt.Sprintf("-s -w -X %s.version=%s -X %s.commit=%s", versionPkg, version, versionPkg, revision)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build for %s: %w", platform, err)
	}
	fmt.Fprintf(os.Stderr, "built %s for %s in %s\n", out, platform, time.Since(start).Round(100*time.Millisecond))
	return out, nil
}

// report prints each platform's image digest and size (manifest, config and
// compressed layers: what a node pulls).
func report(idx v1.ImageIndex) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		size := d.Size + m.Config.Size
		for _, l := range m.Layers {
			size += l.Size
		}
		fmt.Printf("%s %s %d bytes (%.1f MiB compressed)\n", d.Platform, d.Digest, size, float64(size)/(1<<20))
	}
	return nil
}
