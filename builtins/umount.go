package builtins

import (
	"github.com/nsh-project/nsh/bind"
	"golang.org/x/sys/unix"
)

const umountHelp = `Unmounts the filesystem or bind mount at DST. With -l the mount is
detached at once and freed when nothing uses it any more (MNT_DETACH);
with -R the mounts below DST go first, deepest first; -f forces an
unmount (MNT_FORCE, for network filesystems).

With two operands, as Plan 9's unmount, SRC leaves the union at DST made
by "bind -a" or "bind -b"; when only DST's own directory is left the
union is gone. "unmount DST" removes the whole union. "unmount '#/'"
lets go of the root this namespace was cloned from (rfork N).

Unmounting acts on the mount namespace: this shell and every process in
it. "umount" and "unmount" are the same builtin.`

var umountBuiltin = Builtin{
	Name:     "umount",
	Synopsis: "umount [-l] [-R] [-f] DST\numount SRC DST",
	Summary:  "unmount DST, or take SRC out of the union at DST",
	Help:     umountHelp,
	Flags:    umountFlags,
	Run:      runUmount,
}

var unmountBuiltin = Builtin{
	Name:     "unmount",
	Synopsis: "unmount [-l] [-R] [-f] DST\nunmount SRC DST",
	Summary:  "the same as umount (Plan 9's name)",
	Help:     umountHelp,
	Flags:    umountFlags,
	Run:      runUmount,
}

func umountFlags(fs *FlagSet) {
	fs.Bool('l', "lazy", "detach now, free when unused (MNT_DETACH)")
	fs.Bool('R', "recursive", "unmount the mounts below DST too")
	fs.Bool('f', "force", "force the unmount (MNT_FORCE)")
	fs.Interspersed = true
}

func runUmount(c *Call) int {
	var op bind.Op
	switch {
	case len(c.Args) == 1 && c.Args[0] == "#/":
		// The root device of rfork N is no mount: releasing it closes
		// the descriptor that keeps the old root.
		if !ReleaseRootDevice() {
			return c.Failf("'#/': there is no root device to release")
		}
		return 0
	case len(c.Args) == 1:
		u := bind.Umount{Dst: absPath(c, c.Args[0]), Recursive: c.Opts.GetBool("R")}
		if c.Opts.GetBool("l") {
			u.Flags |= unix.MNT_DETACH
		}
		if c.Opts.GetBool("f") {
			u.Flags |= unix.MNT_FORCE
		}
		op = u
	case len(c.Args) == 2:
		op = bind.Unbind{Src: absPath(c, c.Args[0]), Dst: absPath(c, c.Args[1])}
	default:
		return c.Usagef("DST, or SRC and DST, are needed")
	}
	if err := op.Apply(mountSys()); err != nil {
		return c.Fail(err)
	}
	return 0
}
