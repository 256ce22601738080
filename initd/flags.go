package initd

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nsh-project/nsh/sig"
	"golang.org/x/sys/unix"
)

// Version is printed by --version and -l. The build may set it with
// -ldflags=-X=github.com/nsh-project/nsh/initd.Version=v1.2.3.
var Version = "devel"

// DefaultGrace is how long the processes left after the main command are
// given between SIGTERM and SIGKILL.
const DefaultGrace = 10 * time.Second

// The environment variables tini reads; nsinit reads the same ones.
const (
	EnvSubreaper        = "TINI_SUBREAPER"
	EnvKillProcessGroup = "TINI_KILL_PROCESS_GROUP"
	EnvVerbosity        = "TINI_VERBOSITY"
)

// config is what the command line and the environment ask of nsinit.
type config struct {
	Subreaper bool          // -s, TINI_SUBREAPER: become a child subreaper
	Group     bool          // -g, TINI_KILL_PROCESS_GROUP: signal the child's process group
	PdeathSig unix.Signal   // -p SIG: signal nsinit gets when its parent dies
	Remap     [256]bool     // -e CODE: exit statuses reported as 0
	Verbosity int           // -v, TINI_VERBOSITY: 0 errors, 1 warnings (default), 2 info, 3 debug
	WarnReap  bool          // -w: warn about every orphan reaped
	Grace     time.Duration // -t GRACE: SIGTERM to SIGKILL delay for the processes left
	Argv      []string      // the command; empty means the default (VM mode only)
}

const usageLine = "usage: nsinit [-s] [-g] [-p SIG] [-e CODE]... [-v]... [-w] [-t GRACE] [-l] [--] CMD [ARGS...]"

const helpText = usageLine + `
       nsinit --version | -h | --help

Run CMD as the child of a PID 1 that reaps orphans, forwards signals and
exits with CMD's status (compatible with tini; see docs/nsinit.md).

  -s          register as a child subreaper (when not PID 1)
  -g          send forwarded signals to the child's process group
  -p SIG      set the parent-death signal of nsinit, e.g. -p SIGKILL
  -e CODE     report exit status CODE (0-255) as 0; repeatable
  -v          more output; repeat up to 3 times
  -w          warn about every orphan reaped
  -t GRACE    SIGTERM to SIGKILL delay for what is left after CMD
              (seconds or a duration like 500ms; default 10s)
  -l          print version and license and exit
  --version   print version and exit
  -h, --help  print this help and exit

Environment: TINI_SUBREAPER (as -s), TINI_KILL_PROCESS_GROUP (as -g),
TINI_VERBOSITY=N (verbosity level, default 1).
`

const licenseText = `nsinit is part of nsh (github.com/nsh-project/nsh).
It is free software; see the LICENSE file of the nsh source for the terms.
nsinit follows the command-line interface of tini (github.com/krallin/tini,
MIT license) but shares no code with it.
`

// parseArgs parses the command line and the environment. It returns done
// with an exit status when the command line asked for something else than
// running a command (help, version, license) or was wrong; the output has
// then been written to stdout or stderr.
func parseArgs(args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) (cfg *config, code int, done bool) {
	cfg = &config{Verbosity: 1, Grace: DefaultGrace}
	// Environment first, as tini: TINI_VERBOSITY sets the level and -v
	// counts from there.
	if _, ok := getenv(EnvSubreaper); ok {
		cfg.Subreaper = true
	}
	if _, ok := getenv(EnvKillProcessGroup); ok {
		cfg.Group = true
	}
	if v, ok := getenv(EnvVerbosity); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			fmt.Fprintf(stderr, "nsinit: %s=%q: not a number, using 1\n", EnvVerbosity, v)
			n = 1
		}
		cfg.Verbosity = n
	}
	if len(args) == 1 && args[0] == "--version" {
		fmt.Fprintf(stdout, "nsinit version %s\n", Version)
		return nil, 0, true
	}
	bad := func(format string, a ...any) (*config, int, bool) {
		fmt.Fprintf(stderr, "nsinit: "+format+"\n%s\n", append(a, usageLine)...)
		return nil, 2, true
	}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if a == "--help" {
			fmt.Fprint(stdout, helpText)
			return nil, 0, true
		}
		if a == "--version" {
			fmt.Fprintf(stdout, "nsinit version %s\n", Version)
			return nil, 0, true
		}
		if len(a) < 2 || a[0] != '-' || a[1] == '-' {
			if strings.HasPrefix(a, "--") {
				return bad("unknown option %s", a)
			}
			break // the command; options stop here (getopt with POSIXLY_CORRECT)
		}
		// A cluster of one-letter options, getopt style: -vvv, -e143, -sg.
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch c {
			case 's':
				cfg.Subreaper = true
			case 'g':
				cfg.Group = true
			case 'v':
				cfg.Verbosity++
			case 'w':
				cfg.WarnReap = true
			case 'h':
				fmt.Fprint(stdout, helpText)
				return nil, 0, true
			case 'l':
				fmt.Fprintf(stdout, "nsinit version %s\n%s", Version, licenseText)
				return nil, 0, true
			case 'p', 'e', 't':
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return bad("option -%c needs a value", c)
					}
					i++
					val = args[i]
				}
				j = len(a)
				switch c {
				case 'p':
					s, err := sig.Parse(val)
					if err != nil || s == 0 {
						return bad("-p %s: not a signal", val)
					}
					cfg.PdeathSig = s
				case 'e':
					n, err := strconv.Atoi(val)
					if err != nil || n < 0 || n > 255 {
						return bad("-e %s: not an exit status (0-255)", val)
					}
					cfg.Remap[n] = true
				case 't':
					d, err := parseGrace(val)
					if err != nil {
						return bad("-t %s: %v", val, err)
					}
					cfg.Grace = d
				}
			default:
				return bad("unknown option -%c", c)
			}
		}
	}
	cfg.Argv = args[i:]
	return cfg, 0, false
}

// parseGrace accepts seconds ("10", "2.5") or a Go duration ("500ms", "1m").
func parseGrace(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 || f > 1e6 {
			return 0, errors.New("out of range")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("not a duration (seconds, or like 500ms)")
	}
	return d, nil
}
