package builtins

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nsh-project/nsh/sig"
)

var killBuiltin = Builtin{
	Name:     "kill",
	Synopsis: "kill [-s SIGNAL | -n NUM | -SIGNAL] PID|-PGID...\nkill -l [SIGNAL|STATUS...]",
	Summary:  "send a signal to processes or process groups",
	Help: `Sends SIGNAL (default SIGTERM) to each PID. A negative number -PGID names
a process group; 0 is the shell's own group and -1 every process the
shell may signal. SIGNAL is a name, with or without "SIG" (TERM, SIGKILL,
RTMIN+3), or a number.

"kill -l" lists the signals; with arguments it translates each: a number
(or an exit status above 128) to its name, a name to its number.

Options:
  -s SIGNAL   the signal to send, by name or number
  -n NUM      the signal to send, by number
  -SIGNAL     the same, as "-9", "-KILL" or "-SIGKILL"
  -l          list signal names, or translate

The status is 0 if every process was signalled, 1 otherwise (each failure
is reported with the PID and the reason).`,
	Run: runKill,
}

func runKill(c *Call) int {
	args := c.Args
	sg := unix.SIGTERM
	// One signal option may come first; after it (and after "--"), a
	// negative number is a process group.
	if len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && args[0] != "--" {
		a := args[0]
		var spec string
		switch a {
		case "-l", "-L":
			return killList(c, args[1:])
		case "-s", "-n":
			if len(args) < 2 {
				return c.Usagef("option %s needs a signal", a)
			}
			spec, args = args[1], args[2:]
		default:
			spec, args = a[1:], args[1:]
		}
		s, err := sig.Parse(spec)
		if err != nil {
			return c.Usagef("%v", err)
		}
		sg = s
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return c.Usagef("no process given")
	}
	status := 0
	for _, a := range args {
		if strings.HasPrefix(a, "%") {
			c.Errorf("%s: no job control in this shell: use a PID", a)
			status = 1
			continue
		}
		pid, err := strconv.Atoi(a)
		if err != nil {
			c.Errorf("%s: not a process id", a)
			status = 1
			continue
		}
		if err := unix.Kill(pid, sg); err != nil {
			c.Errorf("kill %d with %s: %v", pid, sig.FullName(sg), err)
			status = 1
		}
	}
	return status
}

// killList prints every signal, or translates the arguments.
func killList(c *Call, args []string) int {
	if len(args) == 0 {
		var names []string
		for _, n := range sig.All() {
			names = append(names, fmt.Sprintf("%2d) %s", n, sig.FullName(n)))
		}
		for i, n := range names {
			sep := "\t"
			if (i+1)%5 == 0 || i == len(names)-1 {
				sep = "\n"
			}
			c.Printf("%-12s%s", n, sep)
		}
		return 0
	}
	status := 0
	for _, a := range args {
		if n, err := strconv.Atoi(a); err == nil {
			if n > 128 {
				n -= 128 // an exit status: 137 is KILL
			}
			if n < 1 || n > 64 {
				c.Errorf("%s: invalid signal number", a)
				status = 1
				continue
			}
			c.Printf("%s\n", sig.Name(unix.Signal(n)))
			continue
		}
		s, err := sig.Parse(a)
		if err != nil {
			c.Errorf("%v", err)
			status = 1
			continue
		}
		c.Printf("%d\n", int(s))
	}
	return status
}
