package builtins

import (
	"sync"

	"github.com/nsh-project/nsh/bind"
)

var chrootWarned sync.Once

var chrootBuiltin = Builtin{
	Name:     "chroot",
	Synopsis: "chroot DIR",
	Summary:  "change the root directory of this shell (escapable: pivot is the safe form)",
	Help: `Changes the root directory of the shell process to DIR with chroot(2),
and its working directory to /; every command started afterwards
inherits both. Other processes in the namespace keep their root.

A chroot is not a boundary: a process that may call chroot itself (root,
or CAP_SYS_CHROOT) walks out of it with a second chroot and "..", and
the mounts of the host stay in the namespace. The first chroot of a
shell prints a warning saying so; pivot, in a new mount namespace, is
the safe form.`,
	Flags: func(fs *FlagSet) {},
	Run: func(c *Call) int {
		if len(c.Args) != 1 {
			return c.Usagef("DIR is needed")
		}
		chrootWarned.Do(func() {
			c.Errorf("warning: a chroot can be escaped by a process allowed to chroot; pivot in a new mount namespace cannot")
		})
		if err := (bind.Chroot{Dir: absPath(c, c.Args[0])}).Apply(mountSys()); err != nil {
			return c.Fail(err)
		}
		return c.InterpBuiltin("cd", "/")
	},
}
