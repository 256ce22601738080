package builtins

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nsh-project/nsh/bind"
	"golang.org/x/sys/unix"
)

var bindBuiltin = Builtin{
	Name:     "bind",
	Synopsis: "bind [-b|-a] [-c] [-r] [-q] [--try] SRC DST",
	Summary:  "make SRC visible at DST: a bind mount, a Plan 9 union (-b, -a), or a device ('#c')",
	Help: `Makes the file or directory SRC visible at DST, with every mount below
SRC (a recursive bind mount). DST is created if it is missing: a
directory for a directory, an empty file for a file. DST is resolved
inside the root that holds it (the deepest mount point on its way), so
a symbolic link in an image cannot send the mount out of it.

With -b or -a, DST becomes a Plan 9 union directory: it shows SRC before
(-b) or after (-a) what it showed, names found first winning. More binds
onto the same DST extend the union; "unmount SRC DST" takes one member
out, "unmount DST" the union. With -c, writes and new files go to SRC
(without -b or -a, -c changes nothing: a bind is as writable as SRC).
Unions are overlayfs mounts; docs/bind.md says where they differ from
Plan 9's.

SRC may be a device name: '#p' proc, '#s' sysfs (read-only), '#t' an
empty tmpfs, '#|' mqueue, '#c' a minimal /dev (null zero full random
urandom tty bound from the host, fd stdin stdout stderr links, its own
pts and ptmx, shm, and console when standard input is a terminal), and
'#/' or '#/PATH', the root this namespace was cloned from (rfork N).
Quote them: # starts a comment. In a namespace made by "rfork N", a SRC
missing from the new root is looked up in '#/', so that the output of ns
replays there.

Mounts belong to the mount namespace: they change what this shell and
every process in the namespace see. In the host's initial mount
namespace bind is refused: run "unshare -m" first. Exit status 0, 1 on failure, 2 on a
usage error.`,
	Flags: func(fs *FlagSet) {
		fs.Bool('b', "before", "union: SRC before what DST shows")
		fs.Bool('a', "after", "union: SRC after what DST shows")
		fs.Bool('c', "create", "writes and creates in the union go to SRC")
		fs.Bool('r', "read-only", "read-only, every mount below DST too")
		fs.Bool('q', "quiet", "fail silently, with status 1")
		fs.Bool(0, "try", "do nothing, successfully, when SRC does not exist")
		fs.Interspersed = true
	},
	Run: runBind,
}

func runBind(c *Call) int {
	if len(c.Args) != 2 {
		return c.Usagef("SRC and DST are needed")
	}
	before, after := c.Opts.GetBool("b"), c.Opts.GetBool("a")
	if before && after {
		return c.Usagef("-b and -a exclude each other")
	}
	src, dst := c.Args[0], absPath(c, c.Args[1])
	isDev := strings.HasPrefix(src, "#") && !strings.HasPrefix(src, "#/")
	if !isDev && !strings.HasPrefix(src, "#/") {
		src = absPath(c, src)
	}
	if c.Opts.GetBool("try") && !isDev && !exists(src) {
		return 0
	}
	var op bind.Op
	switch {
	case strings.HasPrefix(src, "#/") && (before || after):
		return c.Failf("%s: a union member must be a path in this namespace (overlayfs takes paths): bind it on a directory first", src)
	case isDev && (before || after):
		return c.Usagef("%s: a union member is a directory: bind the device on one first, then bind -%s that directory", src, map[bool]string{true: "b", false: "a"}[before])
	case isDev:
		op = bind.Dev{Name: src, Dst: dst, Console: consoleOf(c)}
	case before || after:
		op = bind.Union{Src: src, Dst: dst, Before: before, Create: c.Opts.GetBool("c")}
	default:
		op = bind.Bind{Src: src, Dst: dst, ReadOnly: c.Opts.GetBool("r")}
	}
	if err := op.Apply(mountSys()); err != nil {
		if c.Opts.GetBool("q") {
			return 1
		}
		return c.Fail(err)
	}
	return 0
}

// absPath makes p absolute against the shell's working directory.
func absPath(c *Call, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.Dir, p)
}

// consoleOf returns the terminal on the call's standard input, for
// '#c' to bind as console, or "".
func consoleOf(c *Call) string {
	f, ok := c.Stdin.(*os.File)
	if !ok {
		return ""
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return ""
	}
	tty, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil || !strings.HasPrefix(tty, "/dev/") {
		return ""
	}
	return tty
}

// mountSys is the system-call seam of package bind, with '#/', the root
// device of rfork N (RootDevice).
func mountSys() *bind.Sys {
	s := bind.Host()
	s.RootDevice = RootDevice
	return s
}

// exists reports whether a bind source exists: a path, or a path below
// '#/'; after rfork N, a path missing from the new root is looked up in
// '#/' (as bind.Bind does).
func exists(src string) bool {
	if !strings.HasPrefix(src, "#/") {
		if _, err := os.Lstat(src); err == nil {
			return true
		}
		src = "#" + src
	}
	s := mountSys()
	fd, rel, ok, err := s.RootDevice(src)
	if !ok || err != nil {
		return false
	}
	_, err = s.StatAt(fd, rel)
	return err == nil
}
