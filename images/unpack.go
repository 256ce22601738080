package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout names of the OCI image layer format (image-spec layer.md), as
// docker and containerd write them.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// UnpackResult says what Unpack did.
type UnpackResult struct {
	// Format is "docker-save", "oci" or "rootfs".
	Format string
	// Layers is the number of layers applied.
	Layers int
	// Skipped are the device nodes left out for want of privilege.
	Skipped []string
}

// Unpack lays the file system of an image into dir, creating it if needed:
// src is a `docker save` tarball, an OCI image layout (a directory or a
// tarball of one), or a plain root file system tarball, any of them
// gzip-compressed or not. An image's layers are applied in order with
// their whiteouts: `.wh.NAME` deletes NAME from the layers below,
// `.wh..wh..opq` empties its directory of what the layers below put there.
// Every path is resolved inside dir (see [Plan.WriteDir]), so a layer
// cannot write outside it, by ".." or by a symbolic link. As root, owners
// and device nodes are kept; otherwise files belong to the caller and
// device nodes are left out (UnpackResult.Skipped).
func Unpack(src, dir string) (*UnpackResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &root{dir: dir}
	u := &unpacker{root: r, asRoot: os.Geteuid() == 0}
	res, err := u.unpack(src)
	if res != nil {
		res.Skipped = r.skipped
	}
	if err == nil {
		err = u.fixDirs()
	}
	return res, err
}

type unpacker struct {
	root   *root
	asRoot bool
	// dirModes are the modes of the directories made, set at the end so
	// that a read-only directory does not stop later layers (as non-root).
	dirModes map[string]uint32
}

func (u *unpacker) unpack(src string) (*UnpackResult, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return u.unpackImageDir(src)
	}
	names, err := tarNames(src)
	if err != nil {
		return nil, err
	}
	if !names["manifest.json"] && !names["index.json"] {
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := u.applyLayer(f, src); err != nil {
			return nil, err
		}
		return &UnpackResult{Format: "rootfs", Layers: 1}, nil
	}
	// An image tarball: its blobs are read in the manifest's order, not
	// the tarball's, so it is spooled to a directory first.
	tmp, err := os.MkdirTemp("", "nsh-unpack-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := extractFiles(src, tmp); err != nil {
		return nil, err
	}
	return u.unpackImageDir(tmp)
}

// dockerManifest is one entry of a `docker save` manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// ociDescriptor, ociIndex and ociManifest are the parts of the OCI image
// spec that say which blobs are the layers.
type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Platform  *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

type ociIndex struct {
	MediaType string          `json:"mediaType"`
	Manifests []ociDescriptor `json:"manifests"`
	Layers    []ociDescriptor `json:"layers"` // set when this is a manifest
}

func (u *unpacker) unpackImageDir(dir string) (*UnpackResult, error) {
	// docker save: manifest.json lists the layer files (also written by
	// docker 25+ next to an OCI layout, whose blobs it names).
	if b, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err == nil {
		var ms []dockerManifest
		if err := json.Unmarshal(b, &ms); err != nil {
			return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
		}
		if len(ms) == 0 {
			return nil, fmt.Errorf("%s/manifest.json: no image", dir)
		}
		for _, l := range ms[0].Layers {
			if err := u.applyLayerFile(filepath.Join(dir, filepath.FromSlash(clean(l)))); err != nil {
				return nil, err
			}
		}
		return &UnpackResult{Format: "docker-save", Layers: len(ms[0].Layers)}, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("%s: neither a docker save (manifest.json) nor an OCI layout (index.json): %w", dir, err)
	}
	var idx ociIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s/index.json: %w", dir, err)
	}
	// Follow indexes down to a manifest, choosing this machine's platform.
	for depth := 0; len(idx.Layers) == 0; depth++ {
		if depth > 8 || len(idx.Manifests) == 0 {
			return nil, fmt.Errorf("%s: no image manifest in the index", dir)
		}
		d := pickManifest(idx.Manifests)
		b, err := os.ReadFile(blobPath(dir, d.Digest))
		if err != nil {
			return nil, err
		}
		idx = ociIndex{}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("%s: %w", d.Digest, err)
		}
	}
	for _, l := range idx.Layers {
		if err := u.applyLayerFile(blobPath(dir, l.Digest)); err != nil {
			return nil, err
		}
	}
	return &UnpackResult{Format: "oci", Layers: len(idx.Layers)}, nil
}

// pickManifest takes the manifest for linux on this machine's
// architecture, else the first.
func pickManifest(ds []ociDescriptor) ociDescriptor {
	for _, d := range ds {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d
		}
	}
	return ds[0]
}

func blobPath(dir, digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", clean(alg), clean(hex))
}

func (u *unpacker) applyLayerFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	defer f.Close()
	return u.applyLayer(f, name)
}

// decompress returns r uncompressed: gzip is read, plain tar passed on,
// zstd refused.
func decompress(r io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gunzip: %w", name, err)
		}
		return z, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, fmt.Errorf("%s: a zstd-compressed layer; not supported yet (decompress it with zstd -d)", name)
	}
	return br, nil
}

// tarNames returns the names of the regular files at the top of a tarball.
func tarNames(name string) (map[string]bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := decompress(f, name)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		names[clean(h.Name)] = true
	}
}

// extractFiles copies the regular files of a tarball under dir.
func extractFiles(name, dir string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := decompress(f, name)
	if err != nil {
		return err
	}
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(clean(h.Name)))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", h.Name, err)
		}
	}
}

// applyLayer applies one layer tarball to the root.
func (u *unpacker) applyLayer(r io.Reader, name string) error {
	rd, err := decompress(r, name)
	if err != nil {
		return err
	}
	tr := tar.NewReader(rd)
	made := map[string]bool{} // paths this layer made, which its whiteouts spare
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		p := clean(h.Name)
		if p == "" {
			continue
		}
		dir, base := path.Split(p)
		switch {
		case base == whiteoutOpaque:
			if err := u.opaque(dir, made); err != nil {
				return err
			}
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			host, err := u.root.resolve(path.Join(dir, base[len(whiteoutPrefix):]))
			if err != nil {
				return err
			}
			if err := os.RemoveAll(host); err != nil {
				return err
			}
			continue
		}
		if err := u.entry(h, p, tr); err != nil {
			return fmt.Errorf("%s: %s: %w", name, h.Name, err)
		}
		made[p] = true
	}
}

// opaque empties dir of what lower layers put there.
func (u *unpacker) opaque(dir string, made map[string]bool) error {
	host, err := u.root.resolve(dir)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(host)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if made[path.Join(clean(dir), e.Name())] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(host, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// entry makes one file of a layer.
func (u *unpacker) entry(h *tar.Header, p string, data io.Reader) error {
	fi := h.FileInfo()
	e := Entry{Name: p, Mode: fi.Mode()}
	switch h.Typeflag {
	case tar.TypeDir:
		e.Mode = fs.ModeDir | fi.Mode().Perm()
	case tar.TypeReg:
		e.Mode = fi.Mode() &^ fs.ModeType
	case tar.TypeSymlink:
		e.Mode, e.Target = fs.ModeSymlink|0o777, h.Linkname
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		e.Major, e.Minor = uint32(h.Devmajor), uint32(h.Devminor)
	case tar.TypeLink:
		return u.hardLink(h, p)
	default:
		return nil // pax and GNU extension headers are read by archive/tar
	}
	host, err := u.root.resolve(p)
	if err != nil {
		return err
	}
	if e.Mode.IsRegular() {
		if err := u.root.prepare(host, false); err != nil {
			return err
		}
		if err := writeFrom(host, data); err != nil {
			return err
		}
		if err := chmod(host, modeBits(e.Mode)); err != nil {
			return err
		}
	} else {
		if e.Mode.IsDir() {
			if u.dirModes == nil {
				u.dirModes = map[string]uint32{}
			}
			u.dirModes[host] = modeBits(e.Mode)
			e.Mode = fs.ModeDir | 0o700 | e.Mode.Perm() // writable until the end
		}
		if err := u.root.create(e); err != nil {
			return err
		}
	}
	return u.owner(host, h)
}

// hardLink links p to the file named by the header, both inside the root.
func (u *unpacker) hardLink(h *tar.Header, p string) error {
	old, err := u.root.resolve(h.Linkname)
	if err != nil {
		return err
	}
	host, err := u.root.resolve(p)
	if err != nil {
		return err
	}
	if err := u.root.prepare(host, false); err != nil {
		return err
	}
	return os.Link(old, host)
}

// owner sets the owner (as root) and the modification time of a file.
func (u *unpacker) owner(host string, h *tar.Header) error {
	if u.asRoot {
		if err := os.Lchown(host, h.Uid, h.Gid); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeSymlink && h.Typeflag != tar.TypeDir {
			// chown clears setuid and setgid: put them back.
			if m := modeBits(h.FileInfo().Mode()); m&(unix.S_ISUID|unix.S_ISGID) != 0 {
				if err := chmod(host, m); err != nil {
					return err
				}
			}
		}
	}
	if h.Typeflag == tar.TypeDir {
		return nil // its time changes with what goes into it
	}
	ts := []unix.Timespec{unix.NsecToTimespec(h.ModTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
	if h.ModTime.IsZero() {
		ts = []unix.Timespec{unix.NsecToTimespec(time.Unix(0, 0).UnixNano()), unix.NsecToTimespec(0)}
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, host, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: host, Err: err}
	}
	return nil
}

// fixDirs gives the directories their modes, deepest first.
func (u *unpacker) fixDirs() error {
	dirs := make([]string, 0, len(u.dirModes))
	for d := range u.dirModes {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	for _, d := range slices.Backward(dirs) {
		if err := chmod(d, u.dirModes[d]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// modeBits is the permission part of a mode as chmod(2) takes it.
func modeBits(m fs.FileMode) uint32 {
	perm := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		perm |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		perm |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		perm |= unix.S_ISVTX
	}
	return perm
}

func writeFrom(host string, r io.Reader) error {
	f, err := os.OpenFile(host, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", host, err)
	}
	return nil
}
