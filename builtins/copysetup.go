package builtins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// setupCopy does, in the copy, what the new namespaces need before the
// script goes on. Every thread of the copy shares its namespaces (clone made
// them for the whole process), so plain system calls from Go suffice.
func setupCopy(s *copySetup) error {
	if s.Umask >= 0 {
		unix.Umask(s.Umask)
	}
	if s.Propagation != 0 {
		if err := unix.Mount("none", "/", "", unix.MS_REC|s.Propagation, ""); err != nil {
			return fmt.Errorf("mount --make-r%s /: %w", propagationName(s.Propagation), err)
		}
	}
	if s.MountProc != "" {
		if err := mountProc(s.MountProc); err != nil {
			return err
		}
	}
	if s.LoUp {
		if err := loUp(); err != nil {
			return err
		}
	}
	if s.EmptyRoot {
		if err := emptyRoot(); err != nil {
			return err
		}
	}
	if s.CloseFds {
		// Marked close-on-exec rather than closed: some of them are the
		// Go runtime's own (its poller).
		if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
			return fmt.Errorf("close_range(3, ~0, CLOSE_RANGE_CLOEXEC): %w", err)
		}
	}
	if s.NoMounts {
		if err := denyMounts(); err != nil {
			return err
		}
	}
	return nil
}

// mountProc mounts a fresh proc on dir, as util-linux's --mount-proc: the
// new pid namespace's processes only.
func mountProc(dir string) error {
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("proc", dir, "proc", flags, ""); err != nil {
		e := &hintError{err: fmt.Errorf("mount -t proc proc %s (MS_NOSUID|MS_NODEV|MS_NOEXEC): %w", dir, err)}
		if errors.Is(err, unix.EPERM) {
			e.hint = "a user namespace may mount proc only in a pid namespace it owns: add -p"
		}
		return e
	}
	return nil
}

// loUp brings the loopback interface up, as `ip link set lo up` does, by
// the SIOCSIFFLAGS ioctl (no netlink, no ip binary).
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket(AF_INET) to bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("ioctl(lo, SIOCGIFFLAGS): %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("ioctl(lo, SIOCSIFFLAGS, IFF_UP): %w", err)
	}
	return nil
}

// The root device '#/' of `rfork N`: the root this namespace was cloned
// from, reachable to nsh's builtins only, through a descriptor. It is not
// mounted anywhere in the new tree (a detached copy kept alive by the
// descriptor), so no process of the namespace can walk into it; the
// builtins that take device names (bind) open paths below it with
// RootDevice.
var rootDev struct {
	sync.Mutex
	fd int // an O_PATH descriptor of the old root, -1 once released
	ok bool
}

// emptyRoot makes / an empty tmpfs and keeps the old root as '#/'. As
// bubblewrap does: a tmpfs is mounted on a directory of the old tree
// (/tmp, in this private mount namespace), pivot_root puts the old root
// below it, a detached copy of it is taken (open_tree), and the old root
// is unmounted; the copy's descriptor keeps it reachable. pivot_root takes the tmpfs away from where it was mounted,
// so '#/'/tmp shows the old /tmp again.
func emptyRoot() error {
	base := ""
	for _, d := range []string{"/tmp", "/mnt", "/run", "/dev"} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			base = d
			break
		}
	}
	if base == "" {
		return errors.New("rfork N: no directory to build the new root on (/tmp, /mnt, /run, /dev)")
	}
	if err := unix.Mount("tmpfs", base, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount -t tmpfs tmpfs %s: %w", base, err)
	}
	old := filepath.Join(base, ".oldroot")
	if err := os.Mkdir(old, 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", old, unwrapExec(err))
	}
	if err := unix.PivotRoot(base, old); err != nil {
		return fmt.Errorf("pivot_root %s %s: %w", base, old, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	// A detached copy of the old tree, in an anonymous mount namespace
	// that only this descriptor holds: open_tree(2) can clone from it
	// (bind '#/'/usr /usr), which it cannot from a tree unmounted with
	// MNT_DETACH.
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/.oldroot", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("open_tree /.oldroot (OPEN_TREE_CLONE|AT_RECURSIVE): %w", err)
	}
	if err := unix.Unmount("/.oldroot", unix.MNT_DETACH); err != nil {
		unix.Close(fd)
		return fmt.Errorf("umount -l /.oldroot: %w", err)
	}
	if err := os.Remove("/.oldroot"); err != nil {
		unix.Close(fd)
		return fmt.Errorf("rmdir /.oldroot: %w", unwrapExec(err))
	}
	rootDev.Lock()
	rootDev.fd, rootDev.ok = fd, true
	rootDev.Unlock()
	return nil
}

// RootDevice resolves a path below the root device '#/' (`'#/'`,
// `'#/'/usr/lib`): it returns a directory descriptor of the old root, the
// path relative to it ("." for the root itself) and true. For other paths
// it returns false; it returns an error for a '#/' path when there is no
// root device (no `rfork N` in this process, or `unmount '#/'` released
// it). The descriptor belongs to the root device: use it with the *at
// system calls (open_tree(fd, rel, OPEN_TREE_CLONE|AT_RECURSIVE) then
// move_mount, for a bind) and do not close it. Paths are resolved with
// RESOLVE_IN_ROOT semantics by the caller where symlinks matter.
func RootDevice(path string) (dirfd int, rel string, isRoot bool, err error) {
	if path != "#/" && !strings.HasPrefix(path, "#/") {
		return -1, "", false, nil
	}
	rel = strings.TrimLeft(strings.TrimPrefix(path, "#/"), "/")
	if rel == "" {
		rel = "."
	}
	rootDev.Lock()
	defer rootDev.Unlock()
	if !rootDev.ok {
		return -1, "", true, errors.New("'#/' is not available: only a namespace made by `rfork N` has it, until `unmount '#/'`")
	}
	return rootDev.fd, filepath.Clean(rel), true, nil
}

// ReleaseRootDevice closes the root device: `unmount '#/'`. The old root
// is no longer reachable from this process; it reports false when there
// was nothing to release.
func ReleaseRootDevice() bool {
	rootDev.Lock()
	defer rootDev.Unlock()
	if !rootDev.ok {
		return false
	}
	unix.Close(rootDev.fd)
	rootDev.fd, rootDev.ok = -1, false
	return true
}

func propagationName(p uintptr) string {
	switch p {
	case unix.MS_PRIVATE:
		return "private"
	case unix.MS_SLAVE:
		return "slave"
	case unix.MS_SHARED:
		return "shared"
	}
	return "unchanged"
}
