// Package bbroot builds a minimal root filesystem from the host's
// statically linked busybox (Debian's busybox-static), for the examples,
// the tests and the bench: a root with a shell and the usual tools that
// owes nothing to the host once it is the root of a namespace.
//
// The result is what `busybox --install -s` run inside the root would make:
// /bin/busybox and, for every applet, a symbolic link at the applet's usual
// place (bin/sh, sbin/ifconfig, usr/bin/awk, ...) pointing to /bin/busybox,
// plus empty mount points (dev, proc, sys, tmp, run, root, mnt) and a
// minimal etc/passwd and etc/group. Building it needs no privilege.
package bbroot

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Candidates are the places where Debian's busybox-static installs busybox,
// in the order Busybox tries them.
var Candidates = []string{"/bin/busybox", "/usr/bin/busybox"}

// Busybox returns the path of a statically linked busybox on this host, or
// an error that says which package to install. A dynamically linked
// busybox (Debian's "busybox" package) is refused: it would need the host's
// libc inside the root.
func Busybox() (string, error) {
	var tried []string
	for _, p := range Candidates {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		static, err := IsStatic(p)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		if !static {
			tried = append(tried, p+" is dynamically linked")
			continue
		}
		return p, nil
	}
	msg := "no static busybox found (apt-get install busybox-static)"
	if len(tried) > 0 {
		msg += ": " + strings.Join(tried, "; ")
	}
	return "", errors.New(msg)
}

// IsStatic reports whether the ELF file at path has no program interpreter.
func IsStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// Dirs are the empty directories every root gets, to mount on.
var Dirs = []string{"bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run", "root", "mnt", "etc"}

// Build makes dir (created if missing) a busybox root as the package
// comment describes. Files and links that Build makes and that already
// exist are replaced, so building twice into one directory is harmless.
func Build(dir string) error {
	bb, err := Busybox()
	if err != nil {
		return err
	}
	for _, d := range Dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := copyFile(bb, filepath.Join(dir, "bin", "busybox"), 0o755); err != nil {
		return err
	}
	// --list-full prints each applet with its install path, as
	// --install would place it ("bin/sh", "usr/bin/awk").
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("%s --list-full: %w", bb, err)
	}
	for _, rel := range strings.Fields(string(out)) {
		rel = filepath.Clean(rel)
		if filepath.IsAbs(rel) || strings.HasPrefix(rel, "..") || rel == "bin/busybox" {
			continue
		}
		link := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		os.Remove(link)
		if err := os.Symlink("/bin/busybox", link); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies src to dst with mode perm, replacing dst.
func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Check reports whether dir looks like a root that Build made: bin/sh and
// bin/true link to /bin/busybox, and bin/busybox is a static ELF. It reads
// the tree only.
func Check(dir string) error {
	for _, l := range []string{"bin/sh", "bin/true"} {
		target, err := os.Readlink(filepath.Join(dir, l))
		if err != nil {
			return err
		}
		if target != "/bin/busybox" {
			return fmt.Errorf("%s links to %s, not /bin/busybox", l, target)
		}
	}
	static, err := IsStatic(filepath.Join(dir, "bin", "busybox"))
	if err != nil {
		return err
	}
	if !static {
		return errors.New(filepath.Join(dir, "bin", "busybox") + " is not statically linked")
	}
	return nil
}
