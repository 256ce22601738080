package builtins

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

var enterBuiltin = Builtin{
	Name:     "enter",
	Synopsis: "enter [-t PID] [-muinpCT] [--all] [NSFILE...] [-- CMD [ARG...]]",
	Summary:  "join existing namespaces (setns), for one command or the rest of the script",
	Help: `Joins the namespaces of process PID, or those of the namespace files
given (/run/netns/box, /proc/PID/ns/net, a file bound by
"unshare --net=FILE"), as nsenter(1) does. The type of each NSFILE is
read from the file. With -t and no type, every namespace of PID that
differs from the shell's is joined (--all).

With CMD, CMD runs in the joined namespaces (resolved on their $PATH
and root); the shell waits and returns its status. Without CMD the rest of the script (or the interactive
session) runs in them, with the shell's state, under the continuation
rule of unshare: enter must then be a statement of its own at the top
level of the script (not in a function, loop, subshell, pipeline, && or
|| list, or if).

nsh is a multithreaded Go program: it joins the namespaces on one
thread of its own (unshare(CLONE_FS), then setns(2) for each) and forks
a copy of itself from that thread, which executes CMD or goes on with the
script. The kernel lets only
a single-threaded process join a user namespace or a time namespace, so
-U is refused, and --all leaves a different user namespace alone (with a
warning): as root, the other namespaces can be joined without it. A
joined mount namespace takes the working directory to the shell's if it
exists there, else to /.

Acts on: a new process (CMD, or a copy of the shell); the shell itself
stays where it is.`,
	Flags: func(fs *FlagSet) {
		fs.String('t', "target", "PID", "", "join the namespaces of process PID")
		for _, t := range flagOrder() {
			fs.Bool(t.short, "", "join the "+t.what+" namespace of PID")
			fs.Optional(0, t.long, "FILE", "", "the same, or the one bound on FILE")
		}
		fs.Bool('a', "all", "join every namespace of PID that differs from the shell's")
	},
	Run: runEnter,
}

// joinNs is one namespace to join.
type joinNs struct {
	t    nsType
	path string
	fd   int
}

func runEnter(c *Call) int {
	target := c.Opts.GetString("target")
	if target != "" {
		if n, err := strconv.Atoi(target); err != nil || n <= 0 {
			return c.Usagef("invalid PID %q", target)
		}
	}
	// Leading operands that are namespace files are NSFILEs; the rest,
	// or what follows "--", is the command.
	var files []string
	argv := c.Args
	for len(argv) > 0 {
		if argv[0] == "--" {
			argv = argv[1:]
			break
		}
		if _, err := nsFileType(argv[0]); err != nil {
			break
		}
		files = append(files, argv[0])
		argv = argv[1:]
	}

	if len(argv) == 0 {
		// Without a command: the continuation rule first, before anything
		// is opened.
		if _, err := continuation(c); err != nil {
			return c.Usagef("%v", err)
		}
	}
	var joins []joinNs
	defer func() {
		for _, j := range joins {
			unix.Close(j.fd)
		}
	}()
	add := func(t nsType, path string) error {
		if t.name == "user" {
			return &hintError{
				err:  fmt.Errorf("cannot join the user namespace %s: setns(CLONE_NEWUSER) needs a single-threaded process, and nsh is a Go program", path),
				hint: "join the other namespaces as root (enter -t PID without -U), or use nsenter(1) -U",
			}
		}
		for _, j := range joins {
			if j.t.name == t.name {
				return fmt.Errorf("the %s namespace is given twice (%s and %s)", t.name, j.path, path)
			}
		}
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		joins = append(joins, joinNs{t, path, fd})
		return nil
	}
	procNs := func(t nsType) string { return "/proc/" + target + "/ns/" + t.name }

	typed := false
	for _, t := range nsTypes {
		short, long := c.Opts.GetBool(string(t.short)), c.Opts.Changed(t.long)
		if !short && !long {
			continue
		}
		typed = true
		path := ""
		if long {
			path = c.Opts.GetString(t.long)
		}
		if path == "" {
			if target == "" {
				return c.Usagef("-%c needs -t PID or --%s=FILE", t.short, t.long)
			}
			path = procNs(t)
		}
		if err := add(t, path); err != nil {
			return c.Fail(err)
		}
	}
	for _, f := range files {
		t, err := nsFileType(f)
		if err != nil {
			return c.Fail(err)
		}
		if err := add(t, f); err != nil {
			return c.Fail(err)
		}
	}
	if c.Opts.GetBool("all") || (target != "" && !typed && len(files) == 0) {
		if target == "" {
			return c.Usagef("--all needs -t PID")
		}
		for _, t := range nsTypes {
			if sameNs("/proc/self/ns/"+t.name, procNs(t)) || joined(joins, t) {
				continue
			}
			if t.name == "user" {
				c.Errorf("warning: not joining the user namespace of %s (a Go program cannot): going on as the current user", target)
				continue
			}
			if err := add(t, procNs(t)); err != nil {
				return c.Fail(err)
			}
		}
	}
	if len(joins) == 0 {
		return c.Usagef("no namespace to join: give -t PID, a type flag, or NSFILE")
	}

	spec := &copySpec{
		onThread: func() error { return setnsAll(joins) },
		viaFdDir: joined(joins, nsType{name: "mnt"}),
	}
	if joined(joins, nsType{name: "pid"}) {
		// Go's child checks that its parent is alive after setting
		// Pdeathsig by comparing getppid() with the parent's pid, which
		// is 0 in a pid namespace the parent is outside of: it would
		// kill itself. The copy sets the signal itself instead.
		spec.plan.Pdeathsig = int(unix.SIGKILL)
		spec.attr.Pdeathsig = 0
		spec.noPdeathsig = true
	}
	if len(argv) == 0 {
		argv = nil
	}
	return startCopy(c, spec, copySetup{Umask: currentUmask()}, argv, false)
}

func joined(joins []joinNs, t nsType) bool {
	for _, j := range joins {
		if j.t.name == t.name {
			return true
		}
	}
	return false
}

// sameNs reports whether two namespace files are the same namespace.
func sameNs(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// nsFileType reads the type of a namespace file (NS_GET_NSTYPE).
func nsFileType(path string) (nsType, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nsType{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	flag, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return nsType{}, fmt.Errorf("%s: not a namespace file (ioctl NS_GET_NSTYPE: %w)", path, err)
	}
	for _, t := range nsTypes {
		if t.flag == uintptr(flag) {
			return t, nil
		}
	}
	return nsType{}, fmt.Errorf("%s: unknown namespace type %#x", path, flag)
}

// setnsAll joins the namespaces on the calling thread, which must be
// locked and is left changed: first it leaves the fs information it
// shares with the other threads (unshare(CLONE_FS)), which setns into a
// mount namespace requires, then joins in nsTypes' order (mnt late, time
// last).
func setnsAll(joins []joinNs) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare(CLONE_FS) on the joining thread: %w", err)
	}
	for _, t := range nsTypes {
		for _, j := range joins {
			if j.t.name != t.name {
				continue
			}
			if err := unix.Setns(j.fd, int(t.flag)); err != nil {
				e := &hintError{err: fmt.Errorf("setns %s (%s): %w", j.path, t.cloneName, err)}
				switch {
				case errors.Is(err, unix.EPERM):
					e.hint = "joining a namespace needs CAP_SYS_ADMIN in the user namespace that owns it (and CAP_SYS_CHROOT for a mount namespace)"
				case errors.Is(err, unix.EINVAL) && t.name == "time", errors.Is(err, unix.EUSERS):
					e.hint = "the kernel lets only a single-threaded process join a time namespace; nsh is a Go program: use nsenter(1) -T"
				case errors.Is(err, unix.EINVAL):
					e.hint = "the file is not a namespace of that type, or the namespace cannot be joined from here"
				}
				return e
			}
		}
	}
	return nil
}
