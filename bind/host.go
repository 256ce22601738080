package bind

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Well-known inode numbers of the initial namespaces (include/uapi/linux/nsfs.h).
// The mount namespace's is fixed since Linux 6.18; before that it was
// allocated like any other, always above 0xF0000000, so that no other
// namespace can have it.
const (
	pidNSInitIno = 0xEFFFFFFC
	mntNSInitIno = 0xEFFFFFF8
)

// Host returns the seam that makes the real system calls.
func Host() *Sys {
	return &Sys{
		Mount: func(src, dst, fstype string, flags uintptr, data string) error {
			return unix.Mount(src, dst, fstype, flags, data)
		},
		Unmount: unix.Unmount,
		SetAttr: func(dst string, recursive bool, set, clear uint64) error {
			flags := uint(0)
			if recursive {
				flags = unix.AT_RECURSIVE
			}
			return unix.MountSetattr(unix.AT_FDCWD, dst, flags, &unix.MountAttr{Attr_set: set, Attr_clr: clear})
		},
		PivotRoot: unix.PivotRoot,
		Chroot:    unix.Chroot,
		Chdir:     unix.Chdir,
		OpenDir: func(path string) (int, error) {
			return unix.Open(path, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		},
		Fchdir: unix.Fchdir,
		Close:  unix.Close,
		Getwd:  unix.Getwd,
		Symlink: func(target, link string) error {
			return unix.Symlink(target, link)
		},
		Mkdir: func(path string) error { return os.MkdirAll(path, 0o755) },
		Stat: func(path string) (Kind, error) {
			fi, err := os.Stat(path)
			if err != nil {
				return Existing, err
			}
			if fi.IsDir() {
				return Dir, nil
			}
			return File, nil
		},
		Resolve:       resolve,
		MountInfo:     func() ([]MountInfo, error) { return ReadMountInfo("self") },
		HostNamespace: hostNamespace,
		CloseDirs:     closeDirs,
		Clean:         cleanRoot,
		RootDevice: func(path string) (int, string, bool, error) {
			if path == "#/" || strings.HasPrefix(path, "#/") {
				return -1, "", true, errors.New("'#/' is not available: only a namespace made by \"rfork N\" has it")
			}
			return -1, "", false, nil
		},
		OpenTree: unix.OpenTree,
		MoveMount: func(fd int, dst string) error {
			// dst may be /proc/self/fd/N: follow it (MOVE_MOUNT_T_SYMLINKS).
			return unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_SYMLINKS)
		},
		StatAt: func(dirfd int, path string) (Kind, error) {
			var st unix.Stat_t
			if err := unix.Fstatat(dirfd, path, &st, 0); err != nil {
				return Existing, err
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				return Dir, nil
			}
			return File, nil
		},
	}
}

// hostNamespace reports whether this process shares the mount namespace of
// the host's init. PID 1 of the initial pid namespace (nsh as a machine's
// init) is not refused: there is no host to protect.
func hostNamespace() (bool, error) {
	self, err := nsIno("/proc/self/ns/mnt")
	if errors.Is(err, unix.ENOENT) {
		// No /proc: early boot, or a root nsh prepared (rfork N, after
		// pivot). A running host always has its /proc.
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if os.Getpid() == 1 {
		if pidns, err := nsIno("/proc/self/ns/pid"); err == nil && pidns == pidNSInitIno {
			return false, nil
		}
	}
	if self == mntNSInitIno {
		return true, nil
	}
	me, _ := os.Readlink("/proc/self")
	if me == "1" {
		// /proc is our pid namespace's and /proc/1 is this process: a
		// container's init, whose runtime gave it its own mounts.
		return false, nil
	}
	init, err := nsIno("/proc/1/ns/mnt")
	if err == nil {
		return self == init, nil
	}
	if kernelAtLeast(6, 18) {
		// The initial mount namespace has its fixed inode number, which
		// this one does not have.
		return false, nil
	}
	return false, fmt.Errorf("cannot tell whether this is the host's mount namespace: %w", err)
}

func nsIno(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return st.Ino, nil
}

func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	rel := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, _ := strconv.Atoi(parts[0])
	min, _ := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return maj > major || maj == major && min >= minor
}

// closeDirs marks directory descriptors above 2 close-on-exec.
func closeDirs() error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return fmt.Errorf("fcntl %d F_SETFD: %w", fd, err)
		}
	}
	return nil
}

// cleanRoot deletes what is on dir's filesystem below it, sparing skip
// and other filesystems, as switch_root(8) does to free the initramfs.
func cleanRoot(dir, skip string) error {
	var root unix.Stat_t
	if err := unix.Lstat(dir, &root); err != nil {
		return &os.PathError{Op: "lstat", Path: dir, Err: err}
	}
	var walk func(string) error
	walk = func(d string) error {
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			if p == skip {
				continue
			}
			var st unix.Stat_t
			if unix.Lstat(p, &st) != nil || st.Dev != root.Dev {
				continue
			}
			if e.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
				unix.Rmdir(p) // a mount point below stays, as in switch_root
				continue
			}
			if err := unix.Unlink(p); err != nil {
				return &os.PathError{Op: "unlink", Path: p, Err: err}
			}
		}
		return nil
	}
	return walk(dir)
}
