package initd

import (
	"os"

	"golang.org/x/sys/unix"
)

// sysCalls are the system calls nsinit makes on the machine as a whole
// (mounts, module loading, reboot). Tests replace them to record calls or
// to run the VM code path in a namespace without powering anything off.
type sysCalls struct {
	mount       func(src, dst, fstype string, flags uintptr, data string) error
	unmount     func(dst string, flags int) error
	mknod       func(path string, mode uint32, dev int) error
	finitModule func(fd int, params string, flags int) error
	reboot      func(cmd int) error
	sync        func()
	// procRoot is where /proc is read from, "/proc" but in tests.
	procRoot string
	// root prefixes the paths that nsinit mounts on, "" (the real root)
	// but in tests.
	root string
	// cfgRoot prefixes the VM configuration files (/etc/modules,
	// /etc/nsinit.nsh, /lib/modules), "" but in tests.
	cfgRoot string
	// cmdline is the kernel command line file, /proc/cmdline but in tests.
	cmdline string
}

func realSys() *sysCalls {
	return &sysCalls{
		mount:       unix.Mount,
		unmount:     unix.Unmount,
		mknod:       unix.Mknod,
		finitModule: unix.FinitModule,
		reboot:      unix.Reboot,
		sync:        unix.Sync,
		procRoot:    "/proc",
		cmdline:     "/proc/cmdline",
	}
}

// path returns p (absolute) below the seam's root.
func (s *sysCalls) path(p string) string { return s.root + p }

// errnoOf returns the errno in err, or 0.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errorsAs(err, &e) {
		return e
	}
	return 0
}

// pathError wraps err as op path: err (what os functions return), so that
// errors.Is(err, unix.EPERM) works and the message names the path.
func pathError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}
