package bind

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrHostNamespace is the cause of a pivot refused in the host's initial
// mount namespace.
var ErrHostNamespace = errors.New("refused in the host's mount namespace")

// Pivot is `pivot [--put-old DIR] [--clean] NEWROOT`: NEWROOT becomes the
// root of this mount namespace, for nsh and every process in it, and the
// old root is detached (or kept at DIR inside the new root).
//
// The steps are runc's and bubblewrap's: bind NEWROOT onto itself when it
// is not a mount point (pivot_root needs one), fchdir into it,
// pivot_root(".", ".") so that no directory for the old root is needed,
// fchdir to the old root, make it rslave so that the unmount does not
// propagate (runc: rprivate "is known to cause issues due to races"),
// umount2(MNT_DETACH) it, and chdir("/"). Directory descriptors above 2
// are made close-on-exec first, so that no command inherits a way back,
// and the working directory is checked to be the new root at the end.
//
// In an initramfs the root is rootfs, which pivot_root cannot move; Pivot
// then does what switch_root(8) does: move /dev, /proc, /sys and /run into
// NEWROOT, with Clean delete the initramfs's files, move NEWROOT onto "/"
// and chroot into it.
//
// Pivot is refused in the host's initial mount namespace, unless nsh is
// PID 1 of a machine or the root is an initramfs (early boot, under
// nsinit).
type Pivot struct {
	NewRoot string
	// PutOld, if set, is where the old root stays, as a path inside the
	// new root; it is created if missing.
	PutOld string
	// Clean deletes the initramfs's contents on switch_root.
	Clean bool
}

func (p Pivot) String() string {
	words := []string{"pivot"}
	if p.PutOld != "" {
		words = append(words, "--put-old", p.PutOld)
	}
	if p.Clean {
		words = append(words, "--clean")
	}
	return line(append(words, p.NewRoot)...)
}

// Apply pivots.
func (p Pivot) Apply(s *Sys) error {
	newroot := path.Clean(p.NewRoot)
	list, err := s.MountInfo()
	if err != nil {
		return &Error{Op: "pivot", Dst: p.NewRoot, Err: err}
	}
	// An initramfs root means early boot of a machine (nsh under nsinit,
	// or its init): there is no running host to protect.
	initramfs := false
	if root := Top(list, "/"); root != nil && (root.FSType == "rootfs" || root.FSType == "ramfs") {
		initramfs = true
	}
	if !initramfs {
		host, err := s.HostNamespace()
		if err != nil {
			return &Error{Op: "pivot", Dst: p.NewRoot, Err: err, Why: "run \"unshare -m\" first"}
		}
		if host {
			return &Error{Op: "pivot", Dst: p.NewRoot, Err: ErrHostNamespace,
				Why: "pivot changes the root of every process in the mount namespace: run \"unshare -m\" first, then pivot"}
		}
	}
	if kind, err := s.Stat(newroot); err != nil || kind != Dir {
		if err == nil {
			err = unix.ENOTDIR
		}
		return &Error{Op: "pivot", Dst: p.NewRoot, Err: err}
	}
	if Top(list, newroot) == nil {
		flags := uintptr(unix.MS_BIND | unix.MS_REC)
		if err := s.Mount(newroot, newroot, "", flags, ""); err != nil {
			return &Error{Op: "mount", Src: newroot, Dst: newroot, Flags: flags, Err: err}
		}
	}
	// Directory descriptors opened before (by whoever started nsh) would
	// lead back to the old tree; /proc is still there to list them.
	if err := s.CloseDirs(); err != nil {
		return &Error{Op: "pivot", Dst: p.NewRoot, Err: fmt.Errorf("close-on-exec for directory descriptors: %w", err)}
	}
	if initramfs {
		return p.switchRoot(s, list, newroot)
	}
	if p.Clean {
		return &Error{Op: "pivot", Dst: p.NewRoot, Err: errors.New("--clean is for an initramfs root, and / is not one")}
	}
	oldFD, err := s.OpenDir("/")
	if err != nil {
		return &Error{Op: "open", Dst: "/", Err: err}
	}
	defer s.Close(oldFD)
	newFD, err := s.OpenDir(newroot)
	if err != nil {
		return &Error{Op: "open", Dst: p.NewRoot, Err: err}
	}
	defer s.Close(newFD)
	if err := s.Fchdir(newFD); err != nil {
		return &Error{Op: "fchdir", Dst: p.NewRoot, Err: err}
	}
	putOld := "."
	if p.PutOld != "" {
		putOld = "." + path.Clean("/"+p.PutOld)
		if err := s.Mkdir(putOld); err != nil {
			return &Error{Op: "mkdir", Dst: path.Join(newroot, p.PutOld), Err: err}
		}
	}
	if err := s.PivotRoot(".", putOld); err != nil {
		return &Error{Op: "pivot_root", Dst: p.NewRoot, Err: err}
	}
	flags := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p.PutOld == "" {
		// The old root is stacked on top of the new one at "/": reach it
		// through the descriptor taken before.
		if err := s.Fchdir(oldFD); err != nil {
			return &Error{Op: "fchdir", Dst: "old root", Err: err}
		}
		if err := s.Mount("", ".", "", flags, ""); err != nil {
			return &Error{Op: "mount", Dst: "old root", Flags: flags, Err: err}
		}
		if err := s.Unmount(".", unix.MNT_DETACH); err != nil {
			return &Error{Op: "umount", Dst: "old root", Flags: unix.MNT_DETACH, Err: err}
		}
	} else if err := s.Mount("", path.Clean("/"+p.PutOld), "", flags, ""); err != nil {
		return &Error{Op: "mount", Dst: p.PutOld, Flags: flags, Err: err}
	}
	return finishRoot(s, p.NewRoot)
}

// switchRoot is switch_root(8) for an initramfs.
func (p Pivot) switchRoot(s *Sys, list []MountInfo, newroot string) error {
	if err := s.Chdir(newroot); err != nil {
		return &Error{Op: "chdir", Dst: p.NewRoot, Err: err}
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/run"} {
		if Top(list, d) == nil {
			continue
		}
		if kind, err := s.Stat(newroot + d); err != nil || kind != Dir {
			continue
		}
		if err := s.Mount(d, newroot+d, "", unix.MS_MOVE, ""); err != nil {
			return &Error{Op: "mount", Src: d, Dst: newroot + d, Flags: unix.MS_MOVE, Err: err}
		}
	}
	if p.Clean {
		if err := s.Clean("/", newroot); err != nil {
			return &Error{Op: "clean", Dst: "/", Err: err}
		}
	}
	if err := s.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return &Error{Op: "mount", Src: p.NewRoot, Dst: "/", Flags: unix.MS_MOVE, Err: err}
	}
	if err := s.Chroot("."); err != nil {
		return &Error{Op: "chroot", Dst: p.NewRoot, Err: err}
	}
	return finishRoot(s, p.NewRoot)
}

// finishRoot moves to the new root and checks that the working directory
// is inside it: getcwd fails (or names an unreachable path) when it is
// not, which runc takes as a sign of a breakout.
func finishRoot(s *Sys, newroot string) error {
	if err := s.Chdir("/"); err != nil {
		return &Error{Op: "chdir", Dst: "/", Err: err}
	}
	wd, err := s.Getwd()
	if err == nil && (wd != "/" || strings.HasPrefix(wd, "(unreachable)")) {
		err = fmt.Errorf("working directory is %q, not the new root", wd)
	}
	if err != nil {
		return &Error{Op: "pivot", Dst: newroot, Err: err}
	}
	return nil
}

// guard refuses a change to the mount table in the host's initial mount
// namespace, where it would change what every process of the machine
// sees (DESIGN: never change the host). An initramfs root (early boot) and
// PID 1 of a machine are no host to protect. Unmounting is not guarded:
// it releases what nsh itself left there (namespace files).
func guard(s *Sys, op, src, dst string) error {
	host, err := s.HostNamespace()
	if err != nil {
		return &Error{Op: op, Src: src, Dst: dst, Err: err, Why: "run \"unshare -m\" first"}
	}
	if !host {
		return nil
	}
	if list, err := s.MountInfo(); err == nil {
		if root := Top(list, "/"); root != nil && (root.FSType == "rootfs" || root.FSType == "ramfs") {
			return nil
		}
	}
	return &Error{Op: op, Src: src, Dst: dst, Err: ErrHostNamespace,
		Why: "a mount here changes what every process of the machine sees: run \"unshare -m\" first, then mount"}
}
