package builtins

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsh-project/nsh/limits"
)

var execBuiltin = Builtin{
	Name:     "exec",
	Synopsis: "exec [-cl] [-a NAME] COMMAND [ARG...]\nexec REDIRECTION...",
	Summary:  "replace the shell with a command (execve: PID, fds and namespaces are kept)",
	Help: `Replaces the shell process with COMMAND by execve(2): the process keeps
its PID, its open files, its namespaces, its cgroup, its limits and its
credentials, so "exec" is how an environment script hands over to the
program it was built for. Nothing after a successful exec runs.

The command's standard streams are the exec line's, after redirections.
Without a command, the redirections apply to the shell itself
("exec 3>file", "exec 2>&1"), as in bash.

If COMMAND cannot be executed the shell exits with 127 (not found) or 126
(not executable), as bash does in a non-interactive shell; an interactive
shell reports the error and goes on.`,
	Flags: func(fs *FlagSet) {
		fs.Bool('c', "", "run COMMAND with an empty environment")
		fs.Bool('l', "", "put a dash before argv[0], as login(1) does")
		fs.String('a', "", "NAME", "", "pass NAME as argv[0]")
	},
	Run: runExec,
}

func runExec(c *Call) int {
	if len(c.Args) == 0 {
		return c.Usagef("a command is needed (redirections alone go without flags)")
	}
	name := c.Args[0]
	path, status := lookCommand(c.hc, name)
	if status != 0 {
		return c.execFailed(status)
	}
	argv := append([]string{}, c.Args...)
	if c.Opts.Changed("a") {
		argv[0] = c.Opts.GetString("a")
	}
	if c.Opts.GetBool("l") {
		argv[0] = "-" + filepath.Base(argv[0])
	}
	env := environ(c.Env)
	if c.Opts.GetBool("c") {
		env = []string{}
	}
	if err := dupStdio(c); err != nil {
		c.Errorf("%v", err)
		return c.execFailed(126)
	}
	if err := os.Chdir(c.Dir); err != nil {
		c.Errorf("chdir %s: %v", c.Dir, unwrapExec(err))
		return c.execFailed(126)
	}
	// The command goes where the shell's commands go: into its limits
	// group, if it has one.
	undo, err := limits.BeforeExec()
	if err != nil {
		c.Errorf("%v", err)
		return c.execFailed(126)
	}
	err = unix.Exec(path, argv, env)
	if errors.Is(err, syscall.ENOEXEC) {
		// A script without "#!": nsh runs it, in this same process.
		err = unix.Exec("/proc/self/exe", append([]string{"nsh", path}, c.Args[1:]...), env)
	}
	undo()
	c.Errorf("execve %s: %v", path, err)
	return c.execFailed(126)
}

// execFailed ends a non-interactive shell with status, as bash does when
// exec cannot run its command.
func (c *Call) execFailed(status int) int {
	if !c.Shell.Interactive {
		c.Shell.Exit(status)
	}
	return status
}

// dupStdio makes the call's standard streams the process's fds 0, 1 and 2,
// so that the program exec'd inherits the redirections of the exec line.
// Streams that are not files (the interpreter's pipes between goroutines)
// cannot be handed over.
func dupStdio(c *Call) error {
	streams := []any{c.Stdin, c.Stdout, c.Stderr}
	for fd, st := range streams {
		f, ok := st.(*os.File)
		if !ok {
			if st == nil {
				continue
			}
			return errors.New("exec: standard stream " + []string{"0", "1", "2"}[fd] +
				" is not a file (exec in a pipeline or command substitution cannot replace the shell)")
		}
		if int(f.Fd()) == fd {
			continue
		}
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return &os.SyscallError{Syscall: "dup3", Err: err}
		}
	}
	return nil
}
