package limits

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// journal records how to undo each step of an apply, so that a failing
// limit line leaves things as they were.
type journal struct{ undo []func() error }

func (j *journal) add(f func() error) {
	if j != nil {
		j.undo = append(j.undo, f)
	}
}

// rollback undoes the steps in reverse and returns the first error.
func (j *journal) rollback() error {
	var first error
	for i := len(j.undo) - 1; i >= 0; i-- {
		if err := j.undo[i](); err != nil && first == nil {
			first = err
		}
	}
	j.undo = nil
	return first
}

// anchors maps the mount point of each cgroup hierarchy to an O_PATH
// descriptor of it, opened when the host is detected. Every cgroup file
// under it is then reached relative to that descriptor (openat(2) and
// friends), not by its path: after `pivot` the old /sys/fs/cgroup is gone
// from the shell's view, but its groups must still take commands (exec),
// and be removed when it exits. Fake trees in tests have no anchors.
var (
	anchorsMu sync.RWMutex
	anchors   = map[string]int{}
)

// anchor opens mount for the cgroup files under it.
func anchor(mount string) error {
	anchorsMu.Lock()
	defer anchorsMu.Unlock()
	if _, ok := anchors[mount]; ok {
		return nil
	}
	fd, err := unix.Open(mount, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &Error{Op: "open", Path: mount, Err: err}
	}
	anchors[mount] = fd
	return nil
}

// at returns the descriptor and relative name to reach path by: its
// hierarchy's anchor, or the working directory for other paths.
func at(path string) (int, string) {
	anchorsMu.RLock()
	defer anchorsMu.RUnlock()
	dirfd, best, rel := unix.AT_FDCWD, "", path
	for m, fd := range anchors {
		r, ok := strings.CutPrefix(path, m)
		if ok && (r == "" || r[0] == '/') && len(m) > len(best) {
			// The longest mount point wins: a v1 hierarchy may be
			// mounted below a cgroup2 one.
			dirfd, best, rel = fd, m, strings.TrimPrefix(r, "/")
			if rel == "" {
				rel = "."
			}
		}
	}
	return dirfd, rel
}

// openFile opens a file or directory under the cgroup filesystems.
func openFile(path string, flags int) (*os.File, error) {
	dirfd, rel := at(path)
	for {
		fd, err := unix.Openat(dirfd, rel, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// readFile returns the trimmed content of a cgroup file.
func readFile(path string) (string, error) {
	f, err := openFile(path, unix.O_RDONLY)
	if err != nil {
		return "", &Error{Op: "open", Path: path, Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return "", &Error{Op: "read", Path: path, Err: unwrapPath(err)}
	}
	return strings.TrimSpace(string(data)), nil
}

// writeFile writes one value to a cgroup file, as one write(2): cgroup
// files take a value per write.
func writeFile(path, value string) error {
	f, err := openFile(path, unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		return &Error{Op: "open", Path: path, Err: err, Note: writeHint(filepath.Base(path), err)}
	}
	defer f.Close()
	if _, err := f.WriteString(value); err != nil {
		err = unwrapPath(err)
		return &Error{Op: "write", Path: path, Value: value, Err: err, Note: writeHint(filepath.Base(path), err)}
	}
	return nil
}

func exists(path string) bool {
	dirfd, rel := at(path)
	var st unix.Stat_t
	return unix.Fstatat(dirfd, rel, &st, 0) == nil
}

func isDir(path string) bool {
	dirfd, rel := at(path)
	var st unix.Stat_t
	return unix.Fstatat(dirfd, rel, &st, 0) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// readDir lists a directory under the cgroup filesystems.
func readDir(path string) []os.DirEntry {
	f, err := openFile(path, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil
	}
	defer f.Close()
	ents, _ := f.ReadDir(-1)
	return ents
}

// walkDirs calls fn for dir and each directory below it, parents first.
func walkDirs(dir string, fn func(dir string) bool) bool {
	if !fn(dir) {
		return false
	}
	for _, e := range readDir(dir) {
		if e.IsDir() && !walkDirs(filepath.Join(dir, e.Name()), fn) {
			return false
		}
	}
	return true
}

// mkdir makes a cgroup directory.
func (h *Host) mkdir(dir string) error {
	if h.dirs != nil {
		return h.dirs.Mkdir(dir)
	}
	dirfd, rel := at(dir)
	return unix.Mkdirat(dirfd, rel, 0o755)
}

// rmdir removes a cgroup directory, explaining EBUSY.
func (h *Host) rmdir(dir string) error {
	var err error
	if h.dirs != nil {
		err = h.dirs.Rmdir(dir)
	} else {
		dirfd, rel := at(dir)
		err = unix.Unlinkat(dirfd, rel, unix.AT_REMOVEDIR)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &Error{Op: "rmdir", Path: dir, Err: err, Note: rmdirHint(err)}
	}
	return nil
}
