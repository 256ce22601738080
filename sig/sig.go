// Package sig names Linux signals the way kill(1), bash's kill -l and tini
// do: "TERM", "SIGTERM" and "15" all mean signal 15, and the real-time
// signals are "RTMIN", "RTMIN+1" ... "RTMAX-1", "RTMAX" (bash's spelling).
//
// It is shared by nsinit (-p SIG, reports of how a child ended) and by the
// shell's kill builtin (kill -l, kill -s NAME).
package sig

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RTMin and RTMax are the real-time signals a program may use. The kernel's
// SIGRTMIN is 32, but glibc and musl keep 32 and 33 for threads, so the
// user-visible SIGRTMIN of every libc (and of bash, kill -l and procps) is 34.
const (
	RTMin unix.Signal = 34
	RTMax unix.Signal = 64
)

// names holds the standard signals of Linux on amd64, arm64 and riscv64
// (signal(7), "Standard signals"), indexed by number.
var names = [...]string{
	unix.SIGHUP:    "HUP",
	unix.SIGINT:    "INT",
	unix.SIGQUIT:   "QUIT",
	unix.SIGILL:    "ILL",
	unix.SIGTRAP:   "TRAP",
	unix.SIGABRT:   "ABRT",
	unix.SIGBUS:    "BUS",
	unix.SIGFPE:    "FPE",
	unix.SIGKILL:   "KILL",
	unix.SIGUSR1:   "USR1",
	unix.SIGSEGV:   "SEGV",
	unix.SIGUSR2:   "USR2",
	unix.SIGPIPE:   "PIPE",
	unix.SIGALRM:   "ALRM",
	unix.SIGTERM:   "TERM",
	unix.SIGSTKFLT: "STKFLT",
	unix.SIGCHLD:   "CHLD",
	unix.SIGCONT:   "CONT",
	unix.SIGSTOP:   "STOP",
	unix.SIGTSTP:   "TSTP",
	unix.SIGTTIN:   "TTIN",
	unix.SIGTTOU:   "TTOU",
	unix.SIGURG:    "URG",
	unix.SIGXCPU:   "XCPU",
	unix.SIGXFSZ:   "XFSZ",
	unix.SIGVTALRM: "VTALRM",
	unix.SIGPROF:   "PROF",
	unix.SIGWINCH:  "WINCH",
	unix.SIGIO:     "IO",
	unix.SIGPWR:    "PWR",
	unix.SIGSYS:    "SYS",
}

// aliases are other names accepted by Parse, never returned by Name.
var aliases = map[string]unix.Signal{
	"IOT":  unix.SIGABRT,
	"CLD":  unix.SIGCHLD,
	"POLL": unix.SIGIO,
}

// Name returns the name of s without the "SIG" prefix: "TERM", "RTMIN+2",
// "RTMAX". A number with no name (0, 32, 33, above 64) is returned as its
// decimal string.
func Name(s unix.Signal) string {
	switch {
	case s > 0 && int(s) < len(names) && names[s] != "":
		return names[s]
	case s == RTMin:
		return "RTMIN"
	case s == RTMax:
		return "RTMAX"
	case s > RTMin && s <= RTMin+15:
		return "RTMIN+" + strconv.Itoa(int(s-RTMin))
	case s > RTMin+15 && s < RTMax:
		return "RTMAX-" + strconv.Itoa(int(RTMax-s))
	}
	return strconv.Itoa(int(s))
}

// FullName returns Name with the "SIG" prefix ("SIGTERM"), or "signal N"
// for a number with no name.
func FullName(s unix.Signal) string {
	n := Name(s)
	if n[0] >= '0' && n[0] <= '9' {
		return "signal " + n
	}
	return "SIG" + n
}

// Parse returns the signal named by s: a name with or without "SIG", in any
// case ("TERM", "SIGTERM", "term"), a real-time name ("RTMIN+3",
// "SIGRTMAX-1"), or a number from 0 to 64 (0 is the null signal of kill(2)).
func Parse(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > int(RTMax) {
			return 0, fmt.Errorf("invalid signal number %d: not in 0..%d", n, RTMax)
		}
		return unix.Signal(n), nil
	}
	u := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for i, n := range names {
		if n != "" && n == u {
			return unix.Signal(i), nil
		}
	}
	if a, ok := aliases[u]; ok {
		return a, nil
	}
	if rt, ok := parseRT(u); ok {
		return rt, nil
	}
	return 0, fmt.Errorf("invalid signal name %q", s)
}

// parseRT parses RTMIN, RTMAX, RTMIN+N and RTMAX-N.
func parseRT(u string) (unix.Signal, bool) {
	base, sign, rest := u, 0, ""
	if i := strings.IndexAny(u, "+-"); i >= 0 {
		base, rest = u[:i], u[i+1:]
		sign = 1
		if u[i] == '-' {
			sign = -1
		}
	}
	var s unix.Signal
	switch base {
	case "RTMIN":
		s = RTMin
	case "RTMAX":
		s = RTMax
	default:
		return 0, false
	}
	if sign != 0 {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			return 0, false
		}
		s += unix.Signal(sign * n)
	}
	if s < RTMin || s > RTMax {
		return 0, false
	}
	return s, true
}

// All returns every signal that has a name, in numeric order: 1 to 31, then
// RTMIN (34) to RTMAX (64). It is the list bash's kill -l prints.
func All() []unix.Signal {
	var all []unix.Signal
	for i, n := range names {
		if n != "" {
			all = append(all, unix.Signal(i))
		}
	}
	for s := RTMin; s <= RTMax; s++ {
		all = append(all, s)
	}
	return all
}

// Catchable reports whether a process can handle, block or ignore s: every
// named signal except SIGKILL and SIGSTOP.
func Catchable(s unix.Signal) bool {
	return s != unix.SIGKILL && s != unix.SIGSTOP && Name(s)[0] > '9'
}
