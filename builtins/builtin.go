// Package builtins holds nsh's builtin commands and wires them into the
// mvdan.cc/sh/v3 interpreter.
//
// Each builtin lives in a file of its own and is listed in the table in
// registry.go. A builtin is a [Builtin] value: its synopsis and help text,
// which `NAME --help`, `help NAME` and the page in docs/ share, and a Run
// function that parses its arguments, makes one call into a package such as
// bind or initd, reports, and returns an exit status.
//
// The contract every builtin keeps:
//
//   - `--help` prints the synopsis and the description to standard output and
//     returns 0;
//   - a usage error prints `NAME: message` and the synopsis to standard error
//     and returns 2 ([Call.Usagef]);
//   - a failure prints one line `NAME: what: why` to standard error and
//     returns 1 ([Call.Fail]);
//   - an ordinary failure never stops the shell: Run returns a status, never
//     a Go error, and never calls os.Exit or touches os.Stdout.
//
// The interpreter reserves the names of every bash builtin (it lists `bind`,
// `kill`, `umask` and `help` among them) and answers "unsupported builtin" for
// those it lacks before any exec handler runs. [Shell] therefore routes every
// registered name through a call handler, which rewrites the command to a
// name no function or builtin can have, and an exec middleware, which runs
// the nsh builtin with the command's redirected standard streams.
package builtins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
)

// Builtin is one nsh builtin command.
type Builtin struct {
	// Name is the command name, such as "bind".
	Name string
	// Synopsis is the usage, one form per line, without the word "usage".
	Synopsis string
	// Summary is a one-line description shown by `help`.
	Summary string
	// Help is the description printed by `--help` and `help NAME`: what the
	// builtin does, what it acts on (this process, its children, or the next
	// command) and its exit status. Options are listed from the flag set.
	Help string
	// Flags declares the options. When it is set, the options are parsed
	// before Run is called: --help and usage errors are answered, Call.Args
	// holds the operands and Call.Opts the options. Builtins that parse
	// their arguments by hand (kill) leave it nil; a lone --help still
	// prints their help.
	Flags func(fs *FlagSet)
	// Run runs the builtin and returns its exit status.
	Run func(c *Call) int
}

// Call is one invocation of a builtin: its arguments, its standard streams
// after redirections, and the shell it runs in.
type Call struct {
	Ctx     context.Context
	Builtin *Builtin
	// Args are the arguments after the command name.
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Dir is the shell's working directory.
	Dir string
	// Env is the shell's environment, read-only.
	Env expand.Environ
	// Shell is the shell running the builtin.
	Shell *Shell
	// Opts are the parsed options, when the builtin declares Flags.
	Opts *FlagSet

	hc interp.HandlerContext
}

// Name returns the builtin's name.
func (c *Call) Name() string { return c.Builtin.Name }

// Printf writes to the builtin's standard output.
func (c *Call) Printf(format string, args ...any) {
	fmt.Fprintf(c.Stdout, format, args...)
}

// Errorf writes one line, prefixed with the builtin's name, to standard error.
func (c *Call) Errorf(format string, args ...any) {
	msg := strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")
	fmt.Fprintf(c.Stderr, "%s: %s\n", c.Builtin.Name, msg)
}

// Usagef reports a usage error: `NAME: message` and the synopsis on standard
// error. It returns 2, the status of a usage error.
func (c *Call) Usagef(format string, args ...any) int {
	c.Errorf(format, args...)
	c.printSynopsis(c.Stderr)
	return 2
}

// Fail reports a failure as one line `NAME: err` on standard error and
// returns 1. The error should say what failed and why, such as
// "mount /a on /b: operation not permitted".
func (c *Call) Fail(err error) int {
	c.Errorf("%v", err)
	var h interface{ Hint() string }
	if errors.As(err, &h) && h.Hint() != "" {
		fmt.Fprintf(c.Stderr, "%s: hint: %s\n", c.Builtin.Name, h.Hint())
	}
	return 1
}

// Failf is Fail with a formatted message.
func (c *Call) Failf(format string, args ...any) int {
	c.Errorf(format, args...)
	return 1
}

// Flags returns a new flag set for the call, with the builtin's declared
// options.
func (c *Call) Flags() *FlagSet {
	fs := &FlagSet{call: c}
	if c.Builtin.Flags != nil {
		c.Builtin.Flags(fs)
	}
	return fs
}

// InterpBuiltin runs one of the interpreter's own builtins, such as the
// interpreter's `help`, with the call's streams. It returns its status.
func (c *Call) InterpBuiltin(args ...string) int {
	err := c.hc.Builtin(c.Ctx, args)
	if err == nil {
		return 0
	}
	var st interp.ExitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	// Control-flow results (exit, return) carry no status we can report
	// here; the builtins nsh delegates never produce them.
	return 1
}

func (c *Call) printSynopsis(w io.Writer) {
	for i, line := range strings.Split(c.Builtin.Synopsis, "\n") {
		if i == 0 {
			fmt.Fprintf(w, "usage: %s\n", line)
		} else {
			fmt.Fprintf(w, "       %s\n", line)
		}
	}
}

// WriteHelp writes the builtin's full help: synopsis, description and
// options. It is what `NAME --help` and `help NAME` print.
func (b *Builtin) WriteHelp(w io.Writer) {
	c := &Call{Builtin: b}
	c.printSynopsis(w)
	if b.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(b.Help))
	}
	fs := c.Flags()
	if len(fs.opts) > 0 {
		fmt.Fprintf(w, "\nOptions:\n")
		fs.writeOptions(w)
	}
}

// run parses the options, if the builtin declares them, and runs it.
func (c *Call) run() int {
	if len(c.Args) > 0 && c.Args[0] == "--help" {
		c.Builtin.WriteHelp(c.Stdout)
		return 0
	}
	if c.Builtin.Flags != nil {
		fs := c.Flags()
		operands, status, ok := fs.Parse(c.Args)
		if !ok {
			return status
		}
		c.Args, c.Opts = operands, fs
	}
	return c.Builtin.Run(c)
}
