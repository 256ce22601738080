// Command nsh is a namespace shell: a bash-syntax shell (mvdan.cc/sh/v3)
// whose builtins are the kernel's primitives, so that a container
// environment is a script with one primitive per line.
//
// Usage:
//
//	nsh [OPTIONS] FILE [ARG...]          run a script
//	nsh [OPTIONS] -c COMMANDS [ARG0 [ARG...]]
//	nsh [OPTIONS] [-s] [ARG...]          run the script on standard input
//	nsh [OPTIONS]                        interactive, on a terminal
//
// See docs/nsh.md and `nsh --help`.
//
// The Go runtime would keep its cgroup CPU-limit files open on the lowest
// free descriptors (3 and 4) to follow the limit; descriptors 3 to 9 are
// the script's (exec 3>file), so nsh sets GOMAXPROCS from the CPU count and
// lets the runtime open nothing.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
	"mvdan.cc/sh/v3/syntax"

	"github.com/nsh-project/nsh/builtins"
	"github.com/nsh-project/nsh/limits"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "devel"

const usage = `usage: nsh [-eunx] [-o OPTION] FILE [ARG...]
       nsh [-eunx] [-o OPTION] -c COMMANDS [ARG0 [ARG...]]
       nsh [-eunx] [-o OPTION] [-s] [-i] [ARG...]

nsh is a shell with bash syntax whose builtins are the kernel's primitives:
unshare, enter, bind, mount, pivot, limit, and more ("help" lists them).
With FILE it runs the script; with -c the COMMANDS; otherwise it reads
commands from standard input, interactively when that is a terminal.

Options:
  -c          read commands from the first operand
  -s          read commands from standard input; operands are $1...
  -i          interactive, even if standard input is not a terminal
  -e          exit when a command fails (set -e)
  -u          treat unset variables as an error (set -u)
  -x          print commands as they run (set -x)
  -n          parse only; report syntax errors without running anything
  -o OPTION   set an option by name: errexit, nounset, xtrace, noexec,
              pipefail, noglob, allexport, noclobber
  +o OPTION   unset an option
  --version   print the version
  -h, --help  print this help

Exit status: that of the last command; 2 for a usage or syntax error
(reported as FILE:LINE:COL: message); 126 not executable; 127 not found;
128+N for a command killed by signal N.
`

func main() {
	builtins.ReserveFds()
	// The cgroup filesystems are found before a script can pivot or
	// chroot away from them; a copy made by unshare takes over the
	// shell's limits group here (docs/limit.md).
	limits.Shell()
	status := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	// The cgroups limit made go with the shell.
	if err := limits.Cleanup(); err != nil {
		fmt.Fprintf(os.Stderr, "nsh: limit: %v\n", err)
	}
	os.Exit(status)
}

// config is what the command line asks for.
type config struct {
	command     bool // -c
	stdin       bool // -s
	interactive bool // -i
	noexec      bool // -n
	setOpts     []string
	operands    []string
}

func parseArgs(args []string, stdout, stderr io.Writer) (*config, int, bool) {
	cfg := &config{}
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			args = args[1:]
			break
		}
		if a == "--version" {
			fmt.Fprintf(stdout, "nsh %s\n", version)
			return nil, 0, false
		}
		if a == "-h" || a == "--help" {
			fmt.Fprint(stdout, usage)
			return nil, 0, false
		}
		if len(a) < 2 || (a[0] != '-' && a[0] != '+') || strings.HasPrefix(a, "--") {
			if strings.HasPrefix(a, "--") {
				fmt.Fprintf(stderr, "nsh: unknown option %s\n%s", a, usage)
				return nil, 2, false
			}
			break
		}
		args = args[1:]
		sign := string(a[0])
		for _, f := range a[1:] {
			switch f {
			case 'c':
				cfg.command = true
			case 's':
				cfg.stdin = true
			case 'i':
				cfg.interactive = true
			case 'n':
				cfg.noexec = true
			case 'e', 'u', 'x', 'f', 'a', 'C':
				cfg.setOpts = append(cfg.setOpts, sign+string(f))
			case 'o':
				if len(args) == 0 {
					fmt.Fprintf(stderr, "nsh: option %so needs an option name\n%s", sign, usage)
					return nil, 2, false
				}
				cfg.setOpts = append(cfg.setOpts, sign+"o", args[0])
				args = args[1:]
			default:
				fmt.Fprintf(stderr, "nsh: unknown option %s%c\n%s", sign, f, usage)
				return nil, 2, false
			}
		}
	}
	cfg.operands = args
	if cfg.command && len(args) == 0 {
		fmt.Fprintf(stderr, "nsh: -c needs a command string\n%s", usage)
		return nil, 2, false
	}
	return cfg, 0, true
}

func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	// A copy started by unshare, rfork or enter goes on with the state
	// and the rest of the script it was handed.
	if rs, status, ok := builtins.Resume(stdin, stdout, stderr); ok {
		return resume(rs, status, stdin, stdout, stderr)
	}
	cfg, status, ok := parseArgs(args, stdout, stderr)
	if !ok {
		return status
	}
	// Descriptors inherited from whoever started nsh (beyond 0, 1 and 2)
	// are not passed on to the commands it runs.
	closeInheritedFds()

	var (
		name   = "nsh" // $0
		params []string
		src    []byte
		srcErr error
		srcAs  string // the name syntax errors give
	)
	interactive := false
	switch {
	case cfg.command:
		src, srcAs = []byte(cfg.operands[0]), "-c"
		if len(cfg.operands) > 1 {
			name, params = cfg.operands[1], cfg.operands[2:]
		}
	case !cfg.stdin && len(cfg.operands) > 0:
		name, params = cfg.operands[0], cfg.operands[1:]
		src, srcErr = os.ReadFile(name)
		srcAs = name
		if srcErr != nil {
			fmt.Fprintf(stderr, "nsh: %s: %v\n", name, unwrap(srcErr))
			if errors.Is(srcErr, os.ErrNotExist) {
				return 127
			}
			return 126
		}
	default:
		params = cfg.operands
		interactive = cfg.interactive || term.IsTerminal(int(stdin.Fd()))
		if !interactive {
			src, srcErr = io.ReadAll(stdin)
			srcAs = "stdin"
			if srcErr != nil {
				fmt.Fprintf(stderr, "nsh: reading standard input: %v\n", srcErr)
				return 1
			}
		}
	}

	var prog *syntax.File
	if !interactive {
		var err error
		prog, err = syntax.NewParser().Parse(bytes.NewReader(src), srcAs)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		prog.Name = name
		if cfg.noexec {
			return 0
		}
	}

	// nsh started as PID 1 (a container's entrypoint) reaps orphans and
	// ends on SIGTERM as an init does.
	builtins.BecomeInit(interactive)

	sh, err := builtins.New(builtins.Options{
		Interactive: interactive,
		Stdin:       stdin,
		Stdout:      stdout,
		Stderr:      stderr,
		Params:      append(append(cfg.setOpts, "--"), params...),
	})
	if err != nil {
		fmt.Fprintf(stderr, "nsh: %v\n%s", err, usage)
		return 2
	}
	if interactive {
		return interact(sh, stdin, stdout, stderr, cfg.noexec)
	}
	return runScript(sh, prog)
}

// runScript runs a script. Ctrl-C (SIGINT or SIGQUIT from the terminal)
// stops it at once when only builtins run; while a command runs, the
// command gets it too and the script ends only if the command dies of it,
// as bash does: a shell that a script starts keeps the script alive. A
// script stopped that way dies of the signal itself, so that whoever
// started it knows.
func runScript(sh *builtins.Shell, prog *syntax.File) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGQUIT)
	var last atomic.Value
	go func() {
		for sg := range sigs {
			last.Store(sg)
			sh.Interrupt()
		}
	}()
	status, _ := sh.Run(context.Background(), prog)
	signal.Stop(sigs)
	if sg, ok := last.Load().(os.Signal); ok && status == 130 {
		// Raised on this very thread, the signal is handled before
		// tgkill returns: the runtime, with no handler left, dies of it.
		// (PID 1 ignores it and returns 130.)
		signal.Reset(sg)
		runtime.LockOSThread()
		unix.Tgkill(os.Getpid(), unix.Gettid(), sg.(unix.Signal))
	}
	return status
}

// resume runs a copy made by unshare, rfork or enter without a command:
// the rest of the script, then, for an interactive session, the prompt.
func resume(rs *builtins.Resumed, status int, stdin *os.File, stdout, stderr io.Writer) int {
	if rs == nil {
		return status
	}
	if !rs.Interactive {
		return runScript(rs.Shell, rs.Prog)
	}
	status, exit := rs.Shell.Run(context.Background(), rs.Prog)
	if exit {
		return status
	}
	return interact(rs.Shell, stdin, stdout, stderr, false)
}

// closeInheritedFds marks every descriptor above 2 close-on-exec, so that
// `nsh 7</etc` does not hand fd 7 (a way out of a new root) to every
// command. close_range(2) does it in one call where the kernel has it.
func closeInheritedFds() {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
