package builtins

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/nsh-project/nsh/initd"
)

// Resumed is a copy of nsh made by `unshare`, `rfork` or `enter` without a
// command, ready to go on in its new namespaces: the main program runs
// Prog with Shell, then, when Interactive, the prompt loop.
type Resumed struct {
	Shell *Shell
	// Prog is the rest of the script (or of the interactive line).
	Prog *syntax.File
	// Interactive is set when the original was an interactive session:
	// the copy opens a nested one.
	Interactive bool
}

// A copy is executed through /proc/self/fd/N: it would be called "N" in ps
// and /proc/PID/comm. PR_SET_NAME names the calling thread only, and only
// during package initialisation is the main goroutine sure to run on the
// main thread, whose name ps shows.
func init() {
	if _, isCopy := os.LookupEnv(copyEnv); isCopy {
		unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte("nsh\x00")[0])), 0, 0, 0)
	}
}

// Resume finishes starting a copy of nsh. It reports ok false in a process
// that is not a copy, which goes on as usual. In a copy it reads the plan
// from the original, sets up the new namespaces, and either executes the
// plan's command (it then returns only on failure, with rs nil and the
// status to exit with) or returns the shell to resume.
//
// cmd/nsh calls it first thing, before parsing its arguments.
func Resume(stdin *os.File, stdout, stderr io.Writer) (rs *Resumed, status int, ok bool) {
	fdStr, isCopy := os.LookupEnv(copyEnv)
	if !isCopy {
		return nil, 0, false
	}
	os.Unsetenv(copyEnv)
	// A copy made by enter starts in the original's /proc/PID/fd (see
	// copySpec.viaFdDir): leave it before anything else.
	unix.Chdir("/")
	fail := func(name string, format string, args ...any) (*Resumed, int, bool) {
		fmt.Fprintf(stderr, "%s: %s\n", name, fmt.Sprintf(format, args...))
		return nil, 1, true
	}
	fd, err := strconv.Atoi(fdStr)
	if err != nil {
		return fail("nsh", "%s=%q: not a descriptor", copyEnv, fdStr)
	}
	f := os.NewFile(uintptr(fd), "plan")
	var plan copyPlan
	err = json.NewDecoder(f).Decode(&plan)
	if err == nil && plan.Pdeathsig != 0 {
		err = setPdeathsig(f, unix.Signal(plan.Pdeathsig))
	}
	f.Close()
	if err != nil {
		return fail("nsh", "reading the plan from the original shell: %v", err)
	}
	if plan.Name == "" {
		plan.Name = "nsh"
	}
	if plan.Name == "enter" {
		// A copy that joined an environment is not open to ptrace (and
		// to /proc/PID/fd, cwd, root) from the processes already there,
		// as runc's nsexec does.
		unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	}
	if plan.Reexec {
		err := reexec(&plan)
		return fail(plan.Name, "%v", err)
	}
	if err := setupCopy(&plan.Setup); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", plan.Name, err)
		if h, ok := err.(interface{ Hint() string }); ok && h.Hint() != "" {
			fmt.Fprintf(stderr, "%s: hint: %s\n", plan.Name, h.Hint())
		}
		return nil, 1, true
	}
	if plan.State == nil {
		if os.Getpid() == 1 {
			pid1Reaper = initd.NewReaper()
		}
		return nil, runPlanCommand(&plan, stdin, stdout, stderr), true
	}
	BecomeInit(plan.State.Interactive)
	sh, prog, err := restore(plan.State, stdin, stdout, stderr)
	if err != nil {
		return fail(plan.Name, "resuming the shell in the new namespaces: %v", err)
	}
	return &Resumed{Shell: sh, Prog: prog, Interactive: plan.State.Interactive}, 0, true
}

// setPdeathsig makes the kernel send s to the copy when the original's
// forking thread ends, then checks that the original has not ended
// already: it holds the other end of the plan pipe until the copy ends.
func setPdeathsig(plan *os.File, s unix.Signal) error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(s), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", err)
	}
	fds := []unix.PollFd{{Fd: int32(plan.Fd()), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents&unix.POLLHUP != 0 {
		os.Exit(128 + int(s))
	}
	return nil
}

// catchInitSignals handles the signals that end a shell: as PID 1 of a pid
// namespace, a Go program that does not catch SIGTERM, SIGINT, SIGHUP or
// SIGQUIT exits with status 2 instead of dying of them (the kernel ignores
// the default action for init). The copy ends with 128+N on SIGHUP and (not
// interactive) SIGTERM, as if killed; the kernel then kills the rest of the
// namespace. SIGINT and SIGQUIT are cmd/nsh's, for every shell: they stop
// the line unless a command in the foreground takes them (Shell.Interrupt).
func catchInitSignals(interactive bool) {
	sigs := []os.Signal{unix.SIGHUP}
	if !interactive {
		sigs = append(sigs, unix.SIGTERM)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	go func() {
		s := <-ch
		os.Exit(128 + int(s.(unix.Signal)))
	}()
}

// reexec executes the copy once more with the same plan (without Reexec),
// passed in a memfd: see copyPlan.Reexec.
func reexec(plan *copyPlan) error {
	plan.Reexec = false
	fd, err := unix.MemfdCreate("nsh-plan", 0)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "plan")
	if err := json.NewEncoder(f).Encode(plan); err != nil {
		return fmt.Errorf("write the plan: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	env := append(os.Environ(), copyEnv+"="+strconv.Itoa(fd))
	err = unix.Exec("/proc/self/exe", []string{"nsh"}, env)
	return fmt.Errorf("execve /proc/self/exe: %w", err)
}

// runPlanCommand runs the command of `unshare FLAGS -- CMD`: it executes it
// in place, or, as PID 1 of a new pid namespace, starts it under the
// reaper, forwards signals to it and returns its status.
func runPlanCommand(plan *copyPlan, stdin *os.File, stdout, stderr io.Writer) int {
	env := expand.ListEnviron(plan.Env...)
	dir := plan.Dir
	if _, err := os.Stat(dir); err != nil {
		dir = "/"
	}
	name := plan.Argv[0]
	path, err := interp.LookPathDir(dir, env, name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: command not found\n", plan.Name, name)
		return 127
	}
	if !plan.Init || pid1Reaper == nil {
		if err := os.Chdir(dir); err != nil {
			fmt.Fprintf(stderr, "%s: chdir %s: %v\n", plan.Name, dir, unwrapExec(err))
			return 1
		}
		err := unix.Exec(path, plan.Argv, plan.Env)
		fmt.Fprintf(stderr, "%s: execve %s: %v\n", plan.Name, path, err)
		if err == unix.ENOENT {
			return 127
		}
		return 126
	}
	cmd := &exec.Cmd{Path: path, Args: plan.Argv, Env: plan.Env, Dir: dir,
		Stdin: stdin, Stdout: stdout, Stderr: stderr}
	// Signals are caught before the command starts, so that none is lost
	// (or kills the init) in between.
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, append(forwarded(false), unix.SIGWINCH)...)
	p, err := pid1Reaper.Start(cmd)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", plan.Name, name, unwrapExec(err))
		return initd.StartErrorCode(err)
	}
	go func() {
		for s := range ch {
			p.Signal(s.(unix.Signal))
		}
	}()
	e, _ := p.Wait()
	return waitCode(e.Status)
}
