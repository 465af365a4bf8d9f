package image

import (
	"fmt"
	"os"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the image; the chart, the Dockerfile and the
// tests rely on them.
const (
	BinaryPath = "/airflow-pod-deadline"
	SBOMPath   = "/usr/share/sbom/airflow-pod-deadline.spdx.json"
	// User is numeric: the kubelet can verify runAsNonRoot only for a number.
	User = "65532:65532"
)

// Config is everything an image depends on besides the binaries.
type Config struct {
	// Binaries maps "os/arch" to the static binary built for it.
	Binaries map[string]string
	Version  string
	Revision string
	Source   string // repository URL (org.opencontainers.image.source)
	// Created is the only timestamp anywhere in the image (SOURCE_DATE_EPOCH).
	Created time.Time
}

// Labels are the OCI labels on every image config and annotations on the
// index.
func (c Config) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "airflow-pod-deadline",
		"org.opencontainers.image.description": "Enforces Apache Airflow's execution_timeout on Kubernetes pods: admission webhook and sweeper.",
		"org.opencontainers.image.source":      c.Source,
		"org.opencontainers.image.url":         c.Source,
		"org.opencontainers.image.version":     c.Version,
		"org.opencontainers.image.revision":    c.Revision,
		"org.opencontainers.image.created":     c.Created.UTC().Format(time.RFC3339),
	}
}

// Build returns the multi-platform index, platforms in sorted order.
func Build(c Config) (v1.ImageIndex, error) {
	if len(c.Binaries) == 0 {
		return nil, fmt.Errorf("no binaries")
	}
	platforms := make([]string, 0, len(c.Binaries))
	for p := range c.Binaries {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return nil, err
		}
		img, err := platformImage(c, *plat, c.Binaries[p])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: plat},
		})
	}
	return mutate.Annotations(idx, c.Labels()).(v1.ImageIndex), nil
}

func platformImage(c Config, plat v1.Platform, binaryPath string) (v1.Image, error) {
	bin, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, err
	}
	sbom, err := SBOM(c, plat, binaryPath, bin)
	if err != nil {
		return nil, err
	}
	// Three layers, least to most often changing: the base is shared by every
	// build, the SBOM changes with dependencies, the binary with every commit.
	base, err := layer(c.Created, baseFiles())
	if err != nil {
		return nil, err
	}
	sbomLayer, err := layer(c.Created, []file{{path: SBOMPath, mode: 0o444, data: sbom}})
	if err != nil {
		return nil, err
	}
	binLayer, err := layer(c.Created, []file{{path: BinaryPath, mode: 0o555, data: bin}})
	if err != nil {
		return nil, err
	}

	created := v1.Time{Time: c.Created.UTC()}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: plat.Architecture,
		OS:           plat.OS,
		Variant:      plat.Variant,
		Created:      created,
		Config: v1.Config{
			User:       User,
			Entrypoint: []string{BinaryPath},
			WorkingDir: "/",
			Labels:     c.Labels(),
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "airflow-pod-deadline release/image: passwd, group, /tmp (no shell)"}},
		mutate.Addendum{Layer: sbomLayer, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "airflow-pod-deadline release/image: SPDX SBOM " + SBOMPath}},
		mutate.Addendum{Layer: binLayer, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "airflow-pod-deadline release/image: " + BinaryPath}},
	)
}
