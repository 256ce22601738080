package builtins

import (
	"os"
	"strconv"

	"github.com/nsh-project/nsh/bind"
)

var nsBuiltin = Builtin{
	Name:     "ns",
	Synopsis: "ns [-r] [PID]\nns -l [PID]",
	Summary:  "print the mount namespace as an nsh script that recreates it",
	Help: `Prints the mount namespace of this shell, or of process PID, as an nsh
script that recreates it, as Plan 9's ns(1) does: "mount -t proc proc
/proc" for a filesystem, "bind SRC DST" for a bind mount, "bind -b" and
"bind -a" lines for a union, "bind '#c' /dev" for a minimal /dev, and a
final "cd" to the working directory. The root is described in a
comment: it is what the namespace was made from. The table is read from
/proc/PID/mountinfo.

With -r, every entry of the mount table is printed as one line, nothing
recognized (unions as overlay mounts, binds without their submounts).

With -l, lists the namespaces of every type with their ids.`,
	Flags: func(fs *FlagSet) {
		fs.Bool('r', "raw", "one line per mount, nothing recognized")
		fs.Bool('l', "list", "list namespaces")
	},
	Run: runNs,
}

func runNs(c *Call) int {
	// ns -l, the list of namespaces, is nsList in nslist.go, which the
	// namespaces builtins (unshare, enter) own.
	if c.Opts.GetBool("l") {
		return nsList(c)
	}
	if len(c.Args) > 1 {
		return c.Usagef("too many arguments")
	}
	pid, cwd := "self", c.Dir
	if len(c.Args) == 1 {
		n, err := strconv.Atoi(c.Args[0])
		if err != nil || n <= 0 {
			return c.Usagef("invalid PID %q", c.Args[0])
		}
		if n != os.Getpid() {
			// The shell keeps its own working directory; for another
			// process, the kernel's is the one.
			pid, cwd = c.Args[0], ""
			if d, err := os.Readlink("/proc/" + c.Args[0] + "/cwd"); err == nil {
				cwd = d
			}
		}
	}
	list, err := bind.ReadMountInfo(pid)
	if err != nil {
		return c.Failf("read mount table: %v", err)
	}
	c.Printf("%s", bind.Script(list, cwd, c.Opts.GetBool("r")))
	return 0
}
