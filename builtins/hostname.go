package builtins

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

var hostnameBuiltin = Builtin{
	Name:     "hostname",
	Synopsis: "hostname [NAME]",
	Summary:  "print or set the host name of the UTS namespace",
	Help: `Prints the host name, or sets it to NAME with sethostname(2). The name
belongs to the UTS namespace the shell is in: after "unshare -u" it is
private to the environment; in the host's namespace, setting it renames
the host (root only).`,
	Flags: func(*FlagSet) {},
	Run: func(c *Call) int {
		return runUTSName(c, unix.Sethostname, func(u *unix.Utsname) []byte { return u.Nodename[:] })
	},
}

var domainnameBuiltin = Builtin{
	Name:     "domainname",
	Synopsis: "domainname [NAME]",
	Summary:  "print or set the NIS domain name of the UTS namespace",
	Help: `Prints the NIS domain name, or sets it to NAME with setdomainname(2).
Like the host name, it belongs to the UTS namespace the shell is in.`,
	Flags: func(*FlagSet) {},
	Run: func(c *Call) int {
		return runUTSName(c, unix.Setdomainname, func(u *unix.Utsname) []byte { return u.Domainname[:] })
	},
}

func runUTSName(c *Call, set func([]byte) error, field func(*unix.Utsname) []byte) int {
	switch len(c.Args) {
	case 0:
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return c.Failf("uname: %v", err)
		}
		c.Printf("%s\n", unix.ByteSliceToString(field(&u)))
		return 0
	case 1:
		if err := set([]byte(c.Args[0])); err != nil {
			op := "set" + c.Name()
			c.Errorf("%s %q: %v", op, c.Args[0], err)
			if errors.Is(err, unix.EPERM) {
				c.Errorf("hint: %s", utsHint())
			}
			return 1
		}
		return 0
	default:
		return c.Usagef("too many arguments")
	}
}

// utsHint explains EPERM from sethostname: the caller needs
// CAP_SYS_ADMIN in the user namespace that owns its UTS namespace.
func utsHint() string {
	// A user who may not read PID 1's namespace links is not root and is
	// not in a namespace of its own either.
	if private, err := privateNamespace("uts"); err == nil && private {
		return "changing the name needs CAP_SYS_ADMIN over this UTS namespace"
	}
	return "this is the host's UTS namespace: run \"unshare -u\" first (as a non-root user it adds a user namespace)"
}

// privateNamespace reports whether this process's namespace of type ns
// differs from PID 1's.
func privateNamespace(ns string) (bool, error) {
	self, err := os.Readlink("/proc/self/ns/" + ns)
	if err != nil {
		return false, err
	}
	init, err := os.Readlink("/proc/1/ns/" + ns)
	if err != nil {
		return false, fmt.Errorf("readlink /proc/1/ns/%s: %w", ns, err)
	}
	return self != init, nil
}
