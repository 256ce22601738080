package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tarFile is one entry of a test tarball.
type tarFile struct {
	name, body, link string
	typ              byte
	mode             int64
}

func makeTar(t *testing.T, files []tarFile, compress bool) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: f.mode, Linkname: f.link, ModTime: testTime}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		must(t, tw.WriteHeader(h))
		if h.Size > 0 {
			tw.Write([]byte(f.body))
		}
	}
	must(t, tw.Close())
	if !compress {
		return b.Bytes()
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b.Bytes())
	zw.Close()
	return z.Bytes()
}

var (
	layer1 = []tarFile{
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/a", body: "a1"},
		{name: "etc/b", body: "b1"},
		{name: "dir/", typ: tar.TypeDir},
		{name: "dir/x", body: "x"},
		{name: "dir/sub/", typ: tar.TypeDir},
		{name: "dir/sub/y", body: "y"},
		{name: "bin/", typ: tar.TypeDir},
		{name: "bin/tool", body: "#!/bin/sh\n", mode: 0o4755},
		{name: "bin/alias", typ: tar.TypeSymlink, link: "tool"},
		{name: "bin/hard", typ: tar.TypeLink, link: "bin/tool"},
		{name: "ro/", typ: tar.TypeDir, mode: 0o555},
		{name: "ro/f", body: "f"},
		{name: "escape", typ: tar.TypeSymlink, link: "/"},
	}
	layer2 = []tarFile{
		{name: "etc/.wh.a"},
		{name: "dir/", typ: tar.TypeDir},
		{name: "dir/.wh..wh..opq"},
		{name: "dir/z", body: "z"},
		{name: "etc/b", body: "b2"},
		{name: "../../outside", body: "evil"},
		{name: "escape/tmp/outside2", body: "evil"},
		{name: "ro/g", body: "g"},
	}
)

// checkRoot checks the result of layer1 then layer2.
func checkRoot(t *testing.T, dir string) {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	for p, want := range map[string]string{
		"etc/b": "b2", "dir/z": "z", "bin/tool": "#!/bin/sh\n", "bin/hard": "#!/bin/sh\n",
		"ro/f": "f", "ro/g": "g", "outside": "evil", "tmp/outside2": "evil",
	} {
		if got := read(p); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"etc/a", "dir/x", "dir/sub"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s: whited out, but there", p)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/alias")); err != nil || l != "tool" {
		t.Errorf("bin/alias: %q, %v", l, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "bin/tool")); err != nil || st.Mode()&os.ModeSetuid == 0 || st.Mode().Perm() != 0o755 {
		t.Errorf("bin/tool: mode %v, %v; want setuid 0755", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Join(dir, "ro")); err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("ro: mode %v, %v; want 0555", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Join(dir, "etc/b")); err != nil || !st.ModTime().Equal(testTime) {
		t.Errorf("etc/b: mtime %v, want %v", st.ModTime(), testTime)
	}
	for _, p := range []string{"/outside", "/tmp/outside2", filepath.Join(filepath.Dir(filepath.Dir(dir)), "outside")} {
		if b, err := os.ReadFile(p); err == nil && string(b) == "evil" {
			t.Errorf("a layer wrote %s, outside the root", p)
		}
	}
}

func TestUnpackDockerSave(t *testing.T) {
	src := filepath.Join(t.TempDir(), "img.tar")
	l1, l2 := makeTar(t, layer1, false), makeTar(t, layer2, true)
	man, _ := json.Marshal([]dockerManifest{{Config: "cfg.json", RepoTags: []string{"x:latest"}, Layers: []string{"bbb/layer.tar", "aaa/layer.tar"}}})
	// The tarball holds the layers in another order than the manifest.
	os.WriteFile(src, makeTar(t, []tarFile{
		{name: "aaa/layer.tar", body: string(l2)},
		{name: "bbb/layer.tar", body: string(l1)},
		{name: "cfg.json", body: "{}"},
		{name: "manifest.json", body: string(man)},
	}, false), 0o644)
	dir := filepath.Join(t.TempDir(), "root")
	res, err := Unpack(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != "docker-save" || res.Layers != 2 {
		t.Errorf("result %+v", res)
	}
	checkRoot(t, dir)
}

func TestUnpackOCI(t *testing.T) {
	layout := t.TempDir()
	blob := func(b []byte) string {
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		must(t, os.MkdirAll(filepath.Join(layout, "blobs/sha256"), 0o755))
		must(t, os.WriteFile(filepath.Join(layout, "blobs/sha256", h), b, 0o644))
		return "sha256:" + h
	}
	d1, d2 := blob(makeTar(t, layer1, true)), blob(makeTar(t, layer2, false))
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "layers": []map[string]string{
		{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d1},
		{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d2}}})
	dm := blob(man)
	other := blob([]byte(`{"layers":[{"digest":"sha256:0000"}]}`))
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []map[string]any{
		{"digest": other, "platform": map[string]string{"os": "linux", "architecture": "s390x"}},
		{"digest": dm, "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
		{"digest": dm, "platform": map[string]string{"os": "linux", "architecture": "arm64"}},
	}})
	must(t, os.WriteFile(filepath.Join(layout, "index.json"), idx, 0o644))
	must(t, os.WriteFile(filepath.Join(layout, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	dir := filepath.Join(t.TempDir(), "root")
	res, err := Unpack(layout, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != "oci" || res.Layers != 2 {
		t.Errorf("result %+v", res)
	}
	checkRoot(t, dir)
}

func TestUnpackRootfsTar(t *testing.T) {
	src := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	must(t, os.WriteFile(src, makeTar(t, []tarFile{
		{name: "./", typ: tar.TypeDir},
		{name: "./etc/", typ: tar.TypeDir},
		{name: "./etc/hostname", body: "box\n"},
		{name: "./dev/", typ: tar.TypeDir},
		{name: "./dev/fifo", typ: tar.TypeFifo},
	}, true), 0o644))
	dir := t.TempDir()
	res, err := Unpack(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != "rootfs" {
		t.Errorf("format %q", res.Format)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/hostname")); string(b) != "box\n" {
		t.Errorf("etc/hostname: %q", b)
	}
	if st, err := os.Lstat(filepath.Join(dir, "dev/fifo")); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("dev/fifo: %v %v", st, err)
	}
}

func TestUnpackZstd(t *testing.T) {
	src := filepath.Join(t.TempDir(), "x.tar.zst")
	must(t, os.WriteFile(src, []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}, 0o644))
	_, err := Unpack(src, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "zstd") {
		t.Errorf("zstd: %v", err)
	}
}
