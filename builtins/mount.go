package builtins

import (
	"strings"

	"github.com/nsh-project/nsh/bind"
	"golang.org/x/sys/unix"
)

var mountBuiltin = Builtin{
	Name: "mount",
	Synopsis: "mount [-t TYPE] [-o OPTS] SRC DST\n" +
		"mount --bind|--rbind|--move SRC DST\n" +
		"mount -o remount,OPTS DST\n" +
		"mount --make-[r]private|shared|slave|unbindable DST\n" +
		"mount",
	Summary: "mount a filesystem, or change a mount, with util-linux's options",
	Help: `Mounts the filesystem SRC of type TYPE on DST, with mount(8)'s option
words: ro rw nosuid suid nodev dev noexec exec sync async dirsync remount
bind rbind move relatime norelatime noatime atime strictatime nodiratime
lazytime nosymfollow, the propagation words private shared slave
unbindable (and r-prefixed forms), and filesystem data passed as it is
(size= mode= uid= gid= lowerdir= upperdir= workdir= newinstance
ptmxmode= ...). TYPE may be left out for the filesystems whose usual
source name is their type (proc, sysfs, tmpfs, devpts, mqueue, cgroup2,
overlay, ...): nsh does not probe devices.

--bind binds SRC alone (bind, the builtin, is recursive); --rbind with
the mounts below it; --move moves a mount. "-o remount,ro DST" changes
the flags of a mounted filesystem. --make-rprivate / and its kind change
propagation: whether later mounts are shared with other namespaces.

A missing DST directory is created, inside the root that holds it (see
bind). Without arguments, mount lists the mount table as util-linux
does. Mounts act on the mount namespace: this shell and every process in
it; in the host's initial mount namespace they are refused (run
"unshare -m" first).`,
	Flags: func(fs *FlagSet) {
		fs.String('t', "types", "TYPE", "", "filesystem type")
		fs.List('o', "options", "OPTS", "comma-separated option words (repeatable)")
		fs.Bool('B', "bind", "bind SRC on DST, without the mounts below it")
		fs.Bool('R', "rbind", "bind SRC on DST, with the mounts below it")
		fs.Bool('M', "move", "move the mount at SRC to DST")
		fs.Bool('r', "read-only", "mount read-only (-o ro)")
		fs.Bool('w', "rw", "mount read-write (-o rw)")
		for _, p := range propagationWords {
			fs.Bool(0, "make-"+p, "set propagation to "+p)
		}
		fs.Interspersed = true
	},
	Run: runMount,
}

var propagationWords = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"}

// knownTypes are filesystems whose usual source name is their type.
var knownTypes = map[string]bool{
	"proc": true, "sysfs": true, "tmpfs": true, "devpts": true, "mqueue": true, "cgroup": true, "cgroup2": true,
	"overlay": true, "devtmpfs": true, "debugfs": true, "tracefs": true, "securityfs": true, "bpf": true,
	"hugetlbfs": true, "configfs": true, "fusectl": true, "binfmt_misc": true, "ramfs": true, "pstore": true,
}

func runMount(c *Call) int {
	flags, data := bind.ParseOptions(strings.Join(c.Opts.GetList("o"), ","))
	if c.Opts.GetBool("r") {
		flags |= unix.MS_RDONLY
	}
	if c.Opts.GetBool("w") {
		flags &^= unix.MS_RDONLY
	}
	switch {
	case c.Opts.GetBool("B"):
		flags |= unix.MS_BIND
	case c.Opts.GetBool("R"):
		flags |= unix.MS_BIND | unix.MS_REC
	case c.Opts.GetBool("M"):
		flags |= unix.MS_MOVE
	}
	for _, p := range propagationWords {
		if c.Opts.GetBool("make-" + p) {
			o, _ := bind.LookupOption(p)
			flags |= o.Set
		}
	}
	fstype := c.Opts.GetString("t")
	var op bind.Mount
	switch {
	case len(c.Args) == 0 && flags == 0 && data == "" && fstype == "":
		return listMounts(c)
	case len(c.Args) == 1 && flags&bind.PropagationFlags != 0:
		op = bind.Mount{Dst: absPath(c, c.Args[0]), Flags: flags}
	case len(c.Args) == 1 && flags&unix.MS_REMOUNT != 0:
		op = bind.Mount{Dst: absPath(c, c.Args[0]), FSType: fstype, Flags: flags, Data: data}
	case len(c.Args) != 2:
		return c.Usagef("SRC and DST are needed (there is no fstab)")
	case flags&(unix.MS_BIND|unix.MS_MOVE) != 0:
		op = bind.Mount{Src: absPath(c, c.Args[0]), Dst: absPath(c, c.Args[1]), Flags: flags, Data: data}
	default:
		if fstype == "" && knownTypes[c.Args[0]] {
			fstype = c.Args[0]
		}
		if fstype == "" {
			return c.Usagef("-t TYPE is needed: nsh does not probe filesystems")
		}
		op = bind.Mount{Src: c.Args[0], Dst: absPath(c, c.Args[1]), FSType: fstype, Flags: flags, Data: data}
	}
	if err := op.Apply(mountSys()); err != nil {
		return c.Fail(err)
	}
	return 0
}

// listMounts prints the mount table as mount(8) does:
// "SRC on DST type TYPE (OPTIONS)".
func listMounts(c *Call) int {
	list, err := bind.ReadMountInfo("self")
	if err != nil {
		return c.Failf("read mount table: %v", err)
	}
	for _, m := range list {
		opts := m.Options
		for _, o := range bind.SplitOptions(m.Super) {
			if o != "rw" && o != "ro" {
				opts += "," + o
			}
		}
		c.Printf("%s on %s type %s (%s)\n", m.Source, m.Point, m.FSType, opts)
	}
	return 0
}
