package limits

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

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

// readFile returns the trimmed content of a cgroup file.
func readFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", &Error{Op: "read", Path: path, Err: unwrapPath(err)}
	}
	return strings.TrimSpace(string(data)), nil
}

// writeFile writes one value to a cgroup file, as one write(2): cgroup
// files take a value per write.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		err = unwrapPath(err)
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
	_, err := os.Stat(path)
	return err == nil
}

// mkdir makes a cgroup directory.
func (h *Host) mkdir(dir string) error {
	if h.dirs != nil {
		return h.dirs.Mkdir(dir)
	}
	return unix.Mkdir(dir, 0o755)
}

// rmdir removes a cgroup directory, explaining EBUSY.
func (h *Host) rmdir(dir string) error {
	var err error
	if h.dirs != nil {
		err = h.dirs.Rmdir(dir)
	} else {
		err = unix.Rmdir(dir)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &Error{Op: "rmdir", Path: dir, Err: err, Note: rmdirHint(err)}
	}
	return nil
}
