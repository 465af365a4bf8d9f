package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// file is one entry of a layer; a nil data with a dir mode is a directory.
type file struct {
	path     string
	mode     int64
	dir      bool
	uid, gid int
	data     []byte
}

// baseFiles is what distroless/static's nonroot variant offers the binary and
// no more: user and group names for 65532 (so tools and logs resolve them), a
// home and a world-writable /tmp. No shell, no package manager, no libc.
func baseFiles() []file {
	return []file{
		{path: "/etc", dir: true, mode: 0o755},
		{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "/home", dir: true, mode: 0o755},
		{path: "/home/nonroot", dir: true, mode: 0o700, uid: 65532, gid: 65532},
		{path: "/tmp", dir: true, mode: 0o1777},
	}
}

// layer is an OCI gzip layer of files with parents created as needed. Fixed
// times, owners and order, no user or group names, and gzip with a zero
// header time make the bytes a function of the files alone.
func layer(created time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	var dirs func(p string) error
	dirs = func(p string) error {
		if p == "/" || p == "." || seen[p] {
			return nil
		}
		if err := dirs(path.Dir(p)); err != nil {
			return err
		}
		seen[p] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p[1:] + "/", Mode: 0o755, ModTime: created, Format: tar.FormatPAX})
	}
	for _, f := range files {
		if err := dirs(path.Dir(f.path)); err != nil {
			return nil, err
		}
		h := &tar.Header{Name: f.path[1:], Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: created, Format: tar.FormatPAX}
		if f.dir {
			if seen[f.path] {
				continue
			}
			seen[f.path] = true
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.DefaultCompression))
}
