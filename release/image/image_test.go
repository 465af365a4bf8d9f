package image

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// program is a real Go program with a dependency module in its build info (a
// test binary records none), and small, so that gzip under -race stays quick.
var program string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "image-test-")
	if err != nil {
		panic(err)
	}
	program = filepath.Join(dir, "prog")
	if out, err := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", program, "./testdata/prog").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("go build ./testdata/prog: %v\n%s", err, out))
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		Binaries: map[string]string{"linux/arm64": program, "linux/amd64": program},
		Version:  "1.2.3", Revision: "0123456789abcdef", Source: "https://example.com/apd",
		Created: time.Unix(1767225600, 0),
	}
}

func digest(t *testing.T, c Config) v1.Hash {
	t.Helper()
	idx, err := Build(c)
	require.NoError(t, err)
	d, err := idx.Digest()
	require.NoError(t, err)
	return d
}

func TestBuildIsReproducible(t *testing.T) {
	c := testConfig(t)
	first := digest(t, c)
	assert.Equal(t, first, digest(t, c), "two builds of the same inputs")
	later := c
	later.Created = c.Created.Add(time.Second)
	assert.NotEqual(t, first, digest(t, later), "the timestamp is an input, so the check above can fail")
}

func TestIndexAndConfigs(t *testing.T) {
	c := testConfig(t)
	idx, err := Build(c)
	require.NoError(t, err)
	mt, err := idx.MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCIImageIndex, mt)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Equal(t, c.Labels(), im.Annotations)
	require.Len(t, im.Manifests, 2)
	for i, want := range []string{"amd64", "arm64"} {
		d := im.Manifests[i]
		require.NotNil(t, d.Platform)
		assert.Equal(t, "linux", d.Platform.OS)
		assert.Equal(t, want, d.Platform.Architecture)
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		m, err := img.Manifest()
		require.NoError(t, err)
		assert.Equal(t, types.OCIManifestSchema1, m.MediaType)
		assert.Equal(t, types.OCIConfigJSON, m.Config.MediaType)
		for _, l := range m.Layers {
			assert.Equal(t, types.OCILayer, l.MediaType)
		}
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, want, cf.Architecture)
		assert.Equal(t, "65532:65532", cf.Config.User)
		assert.Equal(t, []string{"/airflow-pod-deadline"}, cf.Config.Entrypoint)
		assert.Empty(t, cf.Config.Cmd)
		assert.Equal(t, "1.2.3", cf.Config.Labels["org.opencontainers.image.version"])
		assert.Equal(t, "0123456789abcdef", cf.Config.Labels["org.opencontainers.image.revision"])
		assert.Equal(t, "https://example.com/apd", cf.Config.Labels["org.opencontainers.image.source"])
		assert.Equal(t, "2026-01-01T00:00:00Z", cf.Config.Labels["org.opencontainers.image.created"])
		assert.True(t, cf.Created.Equal(c.Created))
		for _, h := range cf.History {
			assert.True(t, h.Created.Equal(c.Created))
		}
	}
}

type entry struct {
	mode     int64
	uid, gid int
	typ      byte
	size     int64
	mtime    time.Time
}

func filesystem(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	fs := map[string]entry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fs
		}
		require.NoError(t, err)
		// Extract cleans the names: "tmp/" comes back as "tmp".
		fs[h.Name] = entry{mode: h.Mode, uid: h.Uid, gid: h.Gid, typ: h.Typeflag, size: h.Size, mtime: h.ModTime}
		assert.Empty(t, h.Uname+h.Gname, "%s: no user or group names", h.Name)
	}
}

func TestFilesystemHasNoShell(t *testing.T) {
	c := testConfig(t)
	idx, err := Build(c)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	img, err := idx.Image(im.Manifests[0].Digest)
	require.NoError(t, err)
	fs := filesystem(t, img)
	names := make([]string, 0, len(fs))
	for n, e := range fs {
		names = append(names, n)
		assert.True(t, e.mtime.Equal(c.Created), "%s: mtime %s", n, e.mtime)
	}
	assert.ElementsMatch(t, []string{
		"airflow-pod-deadline",
		"etc", "etc/group", "etc/passwd",
		"home", "home/nonroot",
		"tmp",
		"usr", "usr/share", "usr/share/sbom", "usr/share/sbom/airflow-pod-deadline.spdx.json",
	}, names, "the binary, its SBOM and the minimal base: no shell, no libc")
	self, err := os.Stat(c.Binaries["linux/amd64"])
	require.NoError(t, err)
	assert.Equal(t, entry{mode: 0o555, typ: tar.TypeReg, size: self.Size(), mtime: fs["airflow-pod-deadline"].mtime}, fs["airflow-pod-deadline"])
	assert.Equal(t, int64(0o1777), fs["tmp"].mode)
	assert.Equal(t, 65532, fs["home/nonroot"].uid)
}

func TestSBOM(t *testing.T) {
	c := testConfig(t)
	bin, err := os.ReadFile(program)
	require.NoError(t, err)
	raw, err := SBOM(c, v1.Platform{OS: "linux", Architecture: "amd64"}, program, bin)
	require.NoError(t, err)
	var doc spdxDocument
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Equal(t, "SPDX-2.3", doc.SPDXVersion)
	assert.Equal(t, "2026-01-01T00:00:00Z", doc.CreationInfo.Created)
	purls := map[string]string{}
	for _, p := range doc.Packages {
		require.Len(t, p.ExternalRefs, 1)
		purls[p.Name] = p.ExternalRefs[0].Locator
	}
	assert.Equal(t, "pkg:golang/github.com/google/go-containerregistry@v0.22.1", purls["github.com/google/go-containerregistry"],
		"a module linked into the binary is listed with its version")
	assert.Contains(t, purls, "stdlib")
	assert.Equal(t, "airflow-pod-deadline", doc.Packages[0].Name)
	assert.Len(t, doc.Packages[0].Checksums, 1)
	assert.Len(t, doc.Relationships, len(doc.Packages), "DESCRIBES the binary, which DEPENDS_ON every other package")

	_, err = SBOM(c, v1.Platform{OS: "linux", Architecture: "amd64"}, "image_test.go", nil)
	assert.Error(t, err, "a file without Go build info has no SBOM")
}
