package builtins

import "github.com/nsh-project/nsh/bind"

var pivotBuiltin = Builtin{
	Name:     "pivot",
	Synopsis: "pivot [--put-old DIR] [--clean] NEWROOT",
	Summary:  "make NEWROOT the root of this mount namespace (pivot_root, or switch_root in an initramfs)",
	Help: `Makes the directory NEWROOT the root of the mount namespace, for this
shell and every process in the namespace: NEWROOT is bound onto itself
if it is not a mount point, pivot_root(2) swaps the roots, the old root
is made a slave (so nothing propagates) and detached, and the shell's
working directory becomes /. Directory descriptors the shell holds are
made close-on-exec, so no command starts with a way back to the old
tree. Unlike chroot, this cannot be undone from inside.

With --put-old DIR the old root stays mounted at DIR inside the new root
instead.

In an initramfs, whose root cannot be pivoted, pivot does what
switch_root(8) does: it moves /dev, /proc, /sys and /run into NEWROOT,
moves NEWROOT onto / and chroots; --clean first deletes the initramfs's
files to free their memory.

pivot is refused in the host's initial mount namespace (unless nsh is
PID 1 of a machine): run "unshare -m" first.`,
	Flags: func(fs *FlagSet) {
		fs.String(0, "put-old", "DIR", "", "keep the old root at DIR inside the new root")
		fs.Bool(0, "clean", "initramfs: delete the old root's files (switch_root)")
	},
	Run: func(c *Call) int {
		if len(c.Args) != 1 {
			return c.Usagef("NEWROOT is needed")
		}
		op := bind.Pivot{NewRoot: absPath(c, c.Args[0]), PutOld: c.Opts.GetString("put-old"), Clean: c.Opts.GetBool("clean")}
		if err := op.Apply(mountSys()); err != nil {
			return c.Fail(err)
		}
		return c.InterpBuiltin("cd", "/")
	},
}
