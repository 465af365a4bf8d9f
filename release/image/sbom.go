package image

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// SPDX 2.3, the subset a Go binary can state truthfully: the binary, the
// modules the toolchain recorded as linked into it (with their go.sum
// hashes), and the Go standard library. Nothing is scanned or guessed.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string         `json:"SPDXID"`
	Name             string         `json:"name"`
	VersionInfo      string         `json:"versionInfo"`
	DownloadLocation string         `json:"downloadLocation"`
	FilesAnalyzed    bool           `json:"filesAnalyzed"`
	PackageFileName  string         `json:"packageFileName,omitempty"`
	Checksums        []spdxChecksum `json:"checksums,omitempty"`
	Comment          string         `json:"comment,omitempty"`
	ExternalRefs     []spdxRef      `json:"externalRefs,omitempty"`
	PrimaryPurpose   string         `json:"primaryPackagePurpose,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxID(kind, name string) string {
	return "SPDXRef-" + kind + "-" + spdxIDUnsafe.ReplaceAllString(name, "-")
}

func purl(path, version string) string {
	return "pkg:golang/" + path + "@" + version
}

// SBOM is the SPDX JSON document for the binary at binaryPath (contents bin).
func SBOM(c Config, plat v1.Platform, binaryPath string, bin []byte) ([]byte, error) {
	bi, err := buildinfo.ReadFile(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("reading the Go build info of %s: %w", binaryPath, err)
	}
	sum := sha256.Sum256(bin)
	digest := hex.EncodeToString(sum[:])
	root := spdxPackage{
		SPDXID:           spdxID("Package", "airflow-pod-deadline"),
		Name:             "airflow-pod-deadline",
		VersionInfo:      c.Version,
		DownloadLocation: c.Source,
		PackageFileName:  strings.TrimPrefix(BinaryPath, "/"),
		Checksums:        []spdxChecksum{{Algorithm: "SHA256", Value: digest}},
		Comment:          fmt.Sprintf("%s binary for %s, revision %s", bi.Main.Path, plat.String(), c.Revision),
		ExternalRefs:     []spdxRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl(bi.Main.Path, c.Version)}},
		PrimaryPurpose:   "APPLICATION",
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        "airflow-pod-deadline-" + c.Version + "-" + plat.OS + "-" + plat.Architecture,
		// Unique per binary, and still a function of the build inputs.
		DocumentNamespace: strings.TrimSuffix(c.Source, "/") + "/spdx/" + c.Version + "/" + digest,
		CreationInfo: spdxCreationInfo{
			Created:  c.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: airflow-pod-deadline-release-image"},
		},
		Packages:      []spdxPackage{root},
		Relationships: []spdxRelationship{{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: root.SPDXID}},
	}
	stdlib := spdxPackage{
		SPDXID: spdxID("Package", "stdlib"), Name: "stdlib", VersionInfo: bi.GoVersion,
		DownloadLocation: "https://go.dev/dl/", FilesAnalyzed: false,
		ExternalRefs: []spdxRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl("stdlib", bi.GoVersion)}},
	}
	doc.Packages = append(doc.Packages, stdlib)
	doc.Relationships = append(doc.Relationships, spdxRelationship{Element: root.SPDXID, Type: "DEPENDS_ON", Related: stdlib.SPDXID})
	// bi.Deps is in go.sum order (sorted by path), so the document is stable.
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		p := spdxPackage{
			SPDXID:           spdxID("Package", d.Path),
			Name:             d.Path,
			VersionInfo:      m.Version,
			DownloadLocation: "https://proxy.golang.org/" + m.Path + "/@v/" + m.Version + ".zip",
			ExternalRefs:     []spdxRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl(m.Path, m.Version)}},
		}
		if m.Sum != "" {
			p.Comment = "go.sum " + m.Sum
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{Element: root.SPDXID, Type: "DEPENDS_ON", Related: p.SPDXID})
	}
	return json.MarshalIndent(doc, "", "  ")
}
