package builtins

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"
)

// nsList is `ns -l [PID]`: the namespaces of this process (or of PID), one
// line per type, with the inode number that identifies each (what lsns(8)
// calls NS) and whether it differs from PID 1's. The *_for_children
// entries (pid, time) are listed when they differ from the process's own,
// as after `unshare -p` in a process that stays outside.
func nsList(c *Call) int {
	var args []string
	for _, a := range c.Args {
		if a != "-l" && a != "--list" {
			args = append(args, a)
		}
	}
	pid := "self"
	switch len(args) {
	case 0:
	case 1:
		if n, err := strconv.Atoi(args[0]); err != nil || n <= 0 {
			return c.Usagef("invalid PID %q", args[0])
		}
		pid = args[0]
	default:
		return c.Usagef("too many arguments")
	}
	names := []string{"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"}
	w := tabwriter.NewWriter(c.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "TYPE\tNS\tPID1")
	failed := 0
	for _, name := range names {
		ino, err := nsInode("/proc/" + pid + "/ns/" + name)
		if err != nil {
			if os.IsNotExist(err) {
				continue // a type this kernel does not have
			}
			c.Errorf("%v", err)
			failed++
			continue
		}
		if own, ok := strings.CutSuffix(name, "_for_children"); ok {
			if self, err := nsInode("/proc/" + pid + "/ns/" + own); err == nil && self == ino {
				continue
			}
		}
		vs := "?"
		if init, err := nsInode("/proc/1/ns/" + name); err == nil {
			vs = map[bool]string{true: "same", false: "differs"}[init == ino]
		}
		fmt.Fprintf(w, "%s\t%d\t%s\n", name, ino, vs)
	}
	w.Flush()
	if failed > 0 {
		return 1
	}
	return 0
}

// nsInode returns the inode number of a namespace file: the namespace's
// id, as in "net:[4026531840]".
func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if err == unix.ENOENT {
			return 0, os.ErrNotExist
		}
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}
