package builtins

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

var rforkBuiltin = Builtin{
	Name:     "rfork",
	Synopsis: "rfork [nNeEsfFm]",
	Summary:  "run the rest of the script in a new name space, Plan 9 style",
	Help: `Plan 9's rfork, as rc(1) has it: the rest of the script (or the
interactive session) runs in a new process with what the letters ask for.
Without letters it is "rfork ens".

  n  new mount namespace, a copy of this one (made private: nothing
     mounted afterwards reaches the host)
  N  new mount namespace whose root is an empty tmpfs, Plan 9's clean
     name space. The root it came from stays reachable to nsh's builtins
     under the device name '#/' ("bind '#/'/usr /usr" builds the new
     tree) until "unmount '#/'" releases it; it is mounted nowhere in the
     new tree, so no command can reach it. The working directory is /
  e  keep the environment (the default)
  E  clear the environment: no exported variables are carried over
  s  new session (setsid): no controlling terminal, a process group of
     its own
  f  keep the descriptors (the default): 3 to 9, opened by the script
     with exec, are passed on
  F  close the descriptors above 2
  m  no further mounts: mount, umount2, pivot_root and the new mount API
     calls fail with EPERM from then on, in this process and everything
     it starts (a seccomp filter; without CAP_SYS_ADMIN it also sets
     no_new_privs)

n and N, e and E, f and F exclude each other. As a non-root user, n and
N come with a user namespace that maps you to root.

The continuation rule is unshare's: rfork must be a statement of its own
at the top level of the script (not in a function, loop, subshell,
pipeline, && or || list, or if), since the rest of the script runs in
the new process; the original waits, forwards signals and ends with its
status.

Acts on: a new process (a copy of the shell) that runs the rest of the
script.`,
	Run: runRfork,
}

func runRfork(c *Call) int {
	letters := "ens"
	switch len(c.Args) {
	case 0:
	case 1:
		letters = c.Args[0]
	default:
		return c.Usagef("one word of letters is expected")
	}
	letters = strings.TrimPrefix(letters, "-")
	seen := map[rune]bool{}
	for _, l := range letters {
		if !strings.ContainsRune("nNeEsfFm", l) {
			return c.Usagef("unknown letter %q (known: nNeEsfFm)", l)
		}
		seen[l] = true
	}
	for _, pair := range []string{"nN", "eE", "fF"} {
		if seen[rune(pair[0])] && seen[rune(pair[1])] {
			return c.Usagef("%c and %c exclude each other", pair[0], pair[1])
		}
	}
	spec := &copySpec{}
	setup := copySetup{Umask: currentUmask()}
	var flags uintptr
	if seen['n'] || seen['N'] {
		flags |= unix.CLONE_NEWNS
		setup.Propagation = unix.MS_PRIVATE
	}
	setup.EmptyRoot = seen['N']
	setup.NoMounts = seen['m']
	setup.CloseFds = seen['F']
	spec.clearEnv = seen['E']
	spec.attr.Setsid = seen['s']
	if flags != 0 && os.Geteuid() != 0 {
		flags |= unix.CLONE_NEWUSER
		spec.attr.UidMappings = sysMaps([]idMap{{0, os.Geteuid(), 1}})
		spec.attr.GidMappings = sysMaps([]idMap{{0, os.Getegid(), 1}})
	}
	spec.attr.Cloneflags = flags
	if seen['N'] {
		spec.dir = "/"
	}
	return startCopy(c, spec, setup, nil, false)
}
