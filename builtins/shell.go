package builtins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// builtinCall is the command name the call handler rewrites an nsh builtin
// to. No function, builtin or file can have it, so the interpreter hands the
// command to the exec middleware, which runs the builtin.
const builtinCall = "\x00nsh-builtin"

// Options configure a [Shell].
type Options struct {
	// Interactive makes the shell expand aliases, keep running after an
	// interrupted line, and report interrupted lines as status 130.
	Interactive bool
	// Stdin, Stdout and Stderr are the shell's standard streams.
	Stdin          *os.File
	Stdout, Stderr io.Writer
	// Params are the shell options and positional parameters as `set`
	// takes them: option flags ("-e", "-o", "pipefail"), then "--" and the
	// positional parameters.
	Params []string
	// Env is the initial environment; nil means the process environment.
	Env expand.Environ
	// Dir is the initial working directory; "" means the process's.
	Dir string
}

// Shell is an nsh interpreter: an interp.Runner whose builtins include nsh's
// and whose commands run through nsh's exec handler.
type Shell struct {
	// Runner is the interpreter. Its Vars, Funcs, Dir and Params are the
	// shell's state.
	Runner *interp.Runner
	// Interactive is set for a session on a terminal.
	Interactive bool

	stderr io.Writer

	// foreground counts the external commands running in the foreground;
	// while one runs, a SIGINT is the command's to handle.
	foreground atomic.Int32
	// interrupted records a SIGINT received while a command ran, and
	// interrupts carries it to sawInterrupt.
	interrupted   atomic.Bool
	interrupts    chan struct{}
	foregroundEnd atomic.Int64 // when the last foreground command ended

	mu         sync.Mutex
	cancelLine context.CancelFunc // interrupts the line being run

	exitStatus int // set by Exit
	exiting    bool

	prog *syntax.File // the program Run is running

	exitTrap string // an interactive session's EXIT trap

	lineEnded  bool // set by EndLine
	lineStatus int
}

// ExitError is returned by [Shell.Run] when a builtin ended the shell, such
// as `exec` in a copy that could not start its command, or the original of
// an `unshare` whose copy ran the rest of the script.
type ExitError struct{ Status int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Status) }

// New returns a shell with nsh's builtins and exec handler.
func New(o Options) (*Shell, error) {
	s := &Shell{Interactive: o.Interactive, stderr: o.Stderr, interrupts: make(chan struct{}, 1)}
	if s.stderr == nil {
		s.stderr = io.Discard
	}
	opts := []interp.RunnerOption{
		interp.Interactive(o.Interactive),
		interp.CallHandler(s.callHandler),
		interp.ExecHandlers(s.execMiddleware),
		interp.OpenHandler(openHandler(interp.DefaultOpenHandler())),
	}
	if o.Stdin != nil || o.Stdout != nil || o.Stderr != nil {
		var in io.Reader
		if o.Stdin != nil {
			in = o.Stdin
		}
		opts = append(opts, interp.StdIO(in, o.Stdout, o.Stderr))
	}
	if o.Env != nil {
		opts = append(opts, interp.Env(o.Env))
	}
	if o.Dir != "" {
		opts = append(opts, interp.Dir(o.Dir))
	}
	if len(o.Params) > 0 {
		opts = append(opts, interp.Params(o.Params...))
	}
	r, err := interp.New(opts...)
	if err != nil {
		return nil, err
	}
	s.Runner = r
	return s, nil
}

// Run runs a program and returns its exit status, and whether the shell
// must now exit (the `exit` builtin, `set -e`, a fatal error).
//
// In an interactive shell, [Shell.Interrupt] stops the program at its next
// command; Run then returns 130 without exiting.
func (s *Shell) Run(ctx context.Context, prog *syntax.File) (status int, exit bool) {
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancelLine = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancelLine = nil
		s.mu.Unlock()
		cancel()
	}()

	s.prog = prog
	s.lineEnded = false
	rewriteFds(prog)
	err := s.Runner.Run(ctx, prog)
	if s.exiting {
		return s.exitStatus, true
	}
	if s.lineEnded {
		return s.lineStatus, false
	}
	var st interp.ExitStatus
	switch {
	case err == nil:
		return 0, s.Runner.Exited()
	case errors.As(err, &st):
		return int(st), s.Runner.Exited()
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// An interrupt: a fresh line follows in an interactive session;
		// elsewhere the shell ends as if killed by SIGINT.
		return 130, !s.Interactive
	default:
		fmt.Fprintf(s.stderr, "nsh: %v\n", err)
		return 1, true
	}
}

// Interrupt stops the line being run, as Ctrl-C does: cmd/nsh calls it on
// SIGINT and SIGQUIT. While an external command (or a copy made by unshare)
// runs in the foreground, the terminal has sent the interrupt to it as well:
// the shell waits, and stops only if the command dies of it, as bash does
// ("wait and cooperative exit"); the exec handler sees that. A command that
// handles Ctrl-C itself, such as a shell started by a script, keeps the
// script alive.
func (s *Shell) Interrupt() {
	// The signal reaches the shell through a goroutine, possibly after
	// the command that got it too has ended: a Ctrl-C just after a
	// command counts as the command's.
	if s.foreground.Load() > 0 || time.Since(time.Unix(0, s.foregroundEnd.Load())) < interruptSlack {
		s.interrupted.Store(true)
		select {
		case s.interrupts <- struct{}{}:
		default:
		}
		return
	}
	s.interruptLine()
}

// interruptSlack is how late the shell may learn of the Ctrl-C that a
// command it ran died of: the terminal signals both at once, but the shell
// hears of it through the Go runtime's signal goroutine.
const interruptSlack = 50 * time.Millisecond

// beginForeground marks a command (or a copy) running in the foreground.
func (s *Shell) beginForeground() {
	s.interrupted.Store(false)
	select {
	case <-s.interrupts:
	default:
	}
	s.foreground.Add(1)
}

// endForeground marks the end of a command begun with beginForeground.
func (s *Shell) endForeground() {
	s.foregroundEnd.Store(time.Now().UnixNano())
	s.foreground.Add(-1)
}

// sawInterrupt reports whether the shell got a Ctrl-C while the command
// that just ended ran, waiting briefly for the signal to arrive.
func (s *Shell) sawInterrupt() bool {
	if s.interrupted.Load() {
		return true
	}
	select {
	case <-s.interrupts:
		return true
	case <-time.After(interruptSlack):
		return s.interrupted.Load()
	}
}

func (s *Shell) interruptLine() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelLine != nil {
		s.cancelLine()
	}
}

// Program returns the program being run: the script, the -c string, or the
// line just read in an interactive session. Builtins that carry the rest of
// the script into another process (unshare, enter) find their own
// statement in it by the call's position.
func (s *Shell) Program() *syntax.File { return s.prog }

// EndLine stops the program being run after the running builtin returns,
// without ending the shell, and makes status its result: the original of a
// nested interactive session opened by unshare, whose copy ran the rest of
// the line, goes back to its prompt with the session's status.
func (s *Shell) EndLine(status int) {
	s.lineStatus = status
	s.lineEnded = true
	s.interruptLine()
}

// Exit makes the shell end with status once the running builtin returns.
func (s *Shell) Exit(status int) {
	s.exitStatus = status
	s.exiting = true
}

// callHandler routes nsh's builtins past the interpreter's own table. A
// function of the same name still wins, as in bash; `builtin NAME` and
// `command NAME` reach the builtin too.
func (s *Shell) callHandler(ctx context.Context, args []string) ([]string, error) {
	name := args[0]
	switch {
	case name == "exec" && len(args) == 1:
		// `exec 2>file`: redirections only, kept by the interpreter.
		return args, nil
	case name == fdBuiltinName:
		return append([]string{builtinCall}, args...), nil
	case Lookup(name) != nil && s.Runner.Funcs[name] == nil:
		return append([]string{builtinCall}, args...), nil
	case (name == "builtin" || name == "command") && len(args) > 1 && Lookup(args[1]) != nil:
		return append([]string{builtinCall}, args[1:]...), nil
	case name == "trap" && s.Interactive && s.Runner.Funcs[name] == nil:
		return s.takeExitTrap(args), nil
	}
	return args, nil
}

// takeExitTrap keeps an interactive session's EXIT trap for the end of the
// session. The interpreter runs a program's EXIT trap when the program
// ends, and in a session each line is a program of its own.
func (s *Shell) takeExitTrap(args []string) []string {
	if len(args) < 3 || strings.HasPrefix(args[1], "-") && args[1] != "-" {
		return args // printing (trap, trap -p) or a single operand
	}
	action, sigs := args[1], args[2:]
	rest := []string{"trap", action}
	for _, sg := range sigs {
		if sg == "EXIT" || sg == "0" || strings.EqualFold(sg, "exit") {
			s.exitTrap = action
			if action == "-" {
				s.exitTrap = ""
			}
			continue
		}
		rest = append(rest, sg)
	}
	if len(rest) == 2 {
		return []string{"true"}
	}
	return rest
}

// RunExitTrap runs the EXIT trap an interactive session set, when the
// session ends.
func (s *Shell) RunExitTrap(ctx context.Context) {
	if s.exitTrap == "" {
		return
	}
	prog, err := syntax.NewParser().Parse(strings.NewReader(s.exitTrap), "trap")
	if err != nil {
		fmt.Fprintf(s.stderr, "nsh: trap: %v\n", err)
		return
	}
	s.exitTrap = ""
	s.exiting = false
	s.Run(ctx, prog)
}

// execMiddleware runs nsh builtins and external commands; it never calls
// the interpreter's default exec handler.
func (s *Shell) execMiddleware(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		if args[0] == builtinCall {
			b := Lookup(args[1])
			if args[1] == fdBuiltinName {
				b = &fdBuiltin
			}
			return s.runBuiltin(ctx, b, args[2:])
		}
		return s.runCommand(ctx, args)
	}
}

func (s *Shell) runBuiltin(ctx context.Context, b *Builtin, args []string) error {
	hc := interp.HandlerCtx(ctx)
	c := &Call{
		Ctx:     ctx,
		Builtin: b,
		Args:    args,
		Stdin:   hc.Stdin,
		Stdout:  hc.Stdout,
		Stderr:  hc.Stderr,
		Dir:     hc.Dir,
		Env:     hc.Env,
		Shell:   s,
		hc:      hc,
	}
	if c.Stdin == nil {
		c.Stdin = strings.NewReader("")
	}
	status := c.run()
	if s.exiting {
		return &ExitError{Status: s.exitStatus}
	}
	return exitStatus(status)
}

// exitStatus turns a status into what an exec handler returns.
func exitStatus(status int) error {
	if status == 0 {
		return nil
	}
	return interp.ExitStatus(uint8(status))
}

// environ returns the exported variables of env as "NAME=value" strings,
// as the interpreter passes them to commands. A variable may be listed once
// set (globally) and again unset (by the runner): the unset wins.
func environ(env expand.Environ) []string {
	var list []string
	at := map[string]int{}
	for name, vr := range env.Each {
		if i, ok := at[name]; ok && !vr.IsSet() {
			list[i] = ""
			continue
		}
		if vr.Exported && vr.IsSet() && vr.Kind == expand.String {
			at[name] = len(list)
			list = append(list, name+"="+vr.String())
		}
	}
	return slices.DeleteFunc(list, func(kv string) bool { return kv == "" })
}
