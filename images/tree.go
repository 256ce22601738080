package images

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Tree is a host file or directory tree put into an image at Dst.
type Tree struct {
	Src string // host path
	Dst string // path inside the image
}

// String prints the tree as the operand of `image initramfs` that adds it.
func (t Tree) String() string {
	if t.Dst == t.Src || "/"+clean(t.Src) == t.Dst {
		return t.Src
	}
	return t.Src + ":" + t.Dst
}

// ParseTree parses an operand DIR (the tree goes to the same path inside
// the image; a relative one is taken from the root) or HOST:GUEST.
func ParseTree(arg string) (Tree, error) {
	src, dst, ok := strings.Cut(arg, ":")
	if !ok {
		dst = src
	}
	if src == "" || dst == "" {
		return Tree{}, fmt.Errorf("tree %q: want DIR or HOST:GUEST", arg)
	}
	return Tree{Src: src, Dst: "/" + clean(dst)}, nil
}

// AddTree adds the host file or directory tree src at dst, with its files'
// types, permission bits, symbolic link targets and device numbers; owners
// and times are not kept (the archive is reproducible). Sockets are left
// out: they cannot be copied.
func (p *Plan) AddTree(src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return p.addHostFile(src, clean(dst), st)
	}
	return filepath.WalkDir(src, func(host string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, host)
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		return p.addHostFile(host, path.Join(clean(dst), filepath.ToSlash(rel)), st)
	})
}

func (p *Plan) addHostFile(host, name string, st fs.FileInfo) error {
	e := Entry{Name: name, Mode: st.Mode() &^ fs.ModeType}
	m := st.Mode()
	switch {
	case m.IsDir():
		e.Mode |= fs.ModeDir
	case m.IsRegular():
		e.Src, e.Size = host, st.Size()
	case m&fs.ModeSymlink != 0:
		t, err := os.Readlink(host)
		if err != nil {
			return err
		}
		e.Mode, e.Target = fs.ModeSymlink|0o777, t
	case m&fs.ModeDevice != 0, m&fs.ModeNamedPipe != 0:
		e.Mode |= m & (fs.ModeDevice | fs.ModeCharDevice | fs.ModeNamedPipe)
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && m&fs.ModeDevice != 0 {
			e.Major, e.Minor = unix.Major(sys.Rdev), unix.Minor(sys.Rdev)
		}
	default:
		return nil // a socket
	}
	p.Add(e)
	return nil
}
