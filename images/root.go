package images

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// root is a directory being filled as the root of a file system tree. Every
// path given to it is resolved inside it, as chroot would: ".." stops at
// the root and an absolute symbolic link starts from it, so that an image
// cannot make a write land outside (the tar-slip and symlink-in-layer
// attacks that umoci and containerd guard against).
type root struct {
	dir string
	// skipped counts entries that could not be made without privilege.
	skipped []string
}

// resolve returns the host path of name inside the root. Symbolic links in
// the parent directories are followed inside the root; the last component
// is not followed. Missing parents are not created.
func (r *root) resolve(name string) (string, error) {
	parent, base := path.Split(clean(name))
	dir, err := r.resolveDir(parent, 0)
	if err != nil {
		return "", err
	}
	if base == "" {
		return dir, nil
	}
	return filepath.Join(dir, base), nil
}

// resolveDir follows every component of name inside the root and returns
// the host path it ends at (which may not exist yet from some component
// on).
func (r *root) resolveDir(name string, links int) (string, error) {
	cur := "" // relative to r.dir, cleaned, no leading slash
	parts := strings.Split(clean(name), "/")
	for i := 0; i < len(parts); i++ {
		c := parts[i]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			if cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, c)
		host := filepath.Join(r.dir, next)
		st, err := os.Lstat(host)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 255 {
			return "", &os.PathError{Op: "resolve", Path: name, Err: unix.ELOOP}
		}
		t, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if !path.IsAbs(t) {
			t = path.Join(cur, t)
		}
		// Go on from the link's target, inside the root.
		rest := append(strings.Split(clean(t), "/"), parts[i+1:]...)
		parts, i, cur = rest, -1, ""
	}
	return filepath.Join(r.dir, cur), nil
}

// create makes one entry. An existing file of another kind is replaced; an
// existing directory is kept (its mode updated).
func (r *root) create(e Entry) error {
	host, err := r.resolve(e.Name)
	if err != nil {
		return err
	}
	if host == filepath.Clean(r.dir) {
		return nil
	}
	if err := r.prepare(host, e.Mode.IsDir()); err != nil {
		return err
	}
	perm := modeBits(e.Mode)
	switch {
	case e.Mode.IsDir():
		if err := os.Mkdir(host, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return chmod(host, perm)
	case e.Mode&fs.ModeSymlink != 0:
		return os.Symlink(e.Target, host)
	case e.Mode&fs.ModeDevice != 0, e.Mode&fs.ModeNamedPipe != 0:
		typ := uint32(unix.S_IFIFO)
		if e.Mode&fs.ModeCharDevice != 0 {
			typ = unix.S_IFCHR
		} else if e.Mode&fs.ModeDevice != 0 {
			typ = unix.S_IFBLK
		}
		err := unix.Mknod(host, typ|perm, int(unix.Mkdev(e.Major, e.Minor)))
		if err == unix.EPERM && typ != unix.S_IFIFO {
			r.skipped = append(r.skipped, "/"+e.Name)
			return nil
		}
		if err != nil {
			return &os.PathError{Op: "mknod", Path: host, Err: err}
		}
		return chmod(host, perm)
	case e.Mode.IsRegular():
		return r.writeFile(host, e, perm)
	}
	return fmt.Errorf("%s: cannot make a file of mode %v", e.Name, e.Mode)
}

func (r *root) writeFile(host string, e Entry, perm uint32) error {
	f, err := os.OpenFile(host, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	var src io.Reader = strings.NewReader(string(e.Data))
	if e.Src != "" {
		in, err := os.Open(e.Src)
		if err != nil {
			f.Close()
			return err
		}
		defer in.Close()
		src = in
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", host, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return chmod(host, perm)
}

// prepare makes the parents of host and removes what is at host, unless
// both it and what is to be made are directories.
func (r *root) prepare(host string, dir bool) error {
	if err := r.mkdirAll(filepath.Dir(host)); err != nil {
		return err
	}
	old, err := os.Lstat(host)
	if err == nil && !(old.IsDir() && dir) {
		return os.RemoveAll(host)
	}
	return nil
}

// mkdirAll makes a host directory inside the root and its parents (0755).
func (r *root) mkdirAll(host string) error {
	if err := os.MkdirAll(host, 0o755); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("mkdir %s: a parent is not a directory: %w", host, err)
		}
		return err
	}
	return nil
}

// chmod sets the permission bits including setuid, setgid and sticky,
// which os.Chmod maps from fs.FileMode; unix.Chmod takes them raw.
func chmod(host string, perm uint32) error {
	if err := unix.Chmod(host, perm); err != nil {
		return &os.PathError{Op: "chmod", Path: host, Err: err}
	}
	return nil
}
