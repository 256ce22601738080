package builtins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/interp"

	"github.com/nsh-project/nsh/limits"
	"github.com/nsh-project/nsh/sig"
)

// killDelay is how long a command may take to exit after SIGTERM when the
// shell's context is cancelled (a test's timeout) before it is killed.
const killDelay = 2 * time.Second

// runCommand runs an external command in the foreground and returns its
// status the way a shell reports it: 127 not found, 126 not executable,
// 128+N killed by signal N (and says so on standard error unless N is
// SIGINT or SIGPIPE).
func (s *Shell) runCommand(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	path, status := lookCommand(hc, args[0])
	if status != 0 {
		return exitStatus(status)
	}
	cmd := &exec.Cmd{
		Path:   path,
		Args:   args,
		Env:    environ(hc.Env),
		Dir:    hc.Dir,
		Stdin:  hc.Stdin,
		Stdout: hc.Stdout,
		Stderr: hc.Stderr,
	}
	oom := limits.OOMSnapshot()
	ws, err := s.wait(ctx, cmd)
	switch {
	case errors.Is(err, syscall.ENOEXEC):
		// A file the kernel will not execute, such as a script without a
		// "#!" line, is a shell script (POSIX): run it with nsh.
		cmd = &exec.Cmd{
			Path: "/proc/self/exe", Args: append([]string{"nsh", path}, args[1:]...),
			Env: cmd.Env, Dir: cmd.Dir, Stdin: cmd.Stdin, Stdout: cmd.Stdout, Stderr: cmd.Stderr,
		}
		ws, err = s.wait(ctx, cmd)
	case errors.Is(err, syscall.ENOENT):
		// The file exists (lookCommand saw it), so the kernel could not
		// find its interpreter.
		fmt.Fprintf(hc.Stderr, "nsh: %s: bad interpreter: %v\n", args[0], err)
		return exitStatus(126)
	}
	if err != nil {
		fmt.Fprintf(hc.Stderr, "nsh: %s: %v\n", args[0], unwrapExec(err))
		return exitStatus(126)
	}
	if ws.Signaled() {
		sg := ws.Signal()
		switch {
		case sg == syscall.SIGINT:
			if s.Interactive || s.sawInterrupt() {
				// The command died of the Ctrl-C: so does the rest of
				// the line (a script ends), as in bash. Killed by a
				// SIGINT aimed at it alone, it is just a status.
				s.interruptLine()
			}
		case sg == syscall.SIGKILL && limits.Explain(oom) != "":
			// Killed by the kernel's OOM killer for a memory limit.
			fmt.Fprintf(hc.Stderr, "nsh: %s: killed: %s\n", args[0], limits.Explain(oom))
		case sg != syscall.SIGPIPE:
			core := ""
			if ws.CoreDump() {
				core = " (core dumped)"
			}
			fmt.Fprintf(hc.Stderr, "nsh: %s: killed by %s%s\n", args[0], sig.FullName(unix.Signal(sg)), core)
		}
		return exitStatus(128 + int(sg))
	}
	return exitStatus(ws.ExitStatus())
}

// wait starts cmd and waits for it. The error is from starting it; a
// status from the command itself is in the wait status.
func (s *Shell) wait(ctx context.Context, cmd *exec.Cmd) (syscall.WaitStatus, error) {
	p, err := start(cmd)
	if err != nil {
		return 0, err
	}
	s.beginForeground()
	defer s.endForeground()
	select {
	case <-p.done:
	case <-ctx.Done():
		// Cancelled from outside (a timeout, not Ctrl-C, which the
		// terminal delivers itself): ask, then insist.
		p.signal(unix.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(killDelay):
			p.signal(unix.SIGKILL)
		}
	}
	<-p.done
	return p.status, p.err
}

// started is a command that runs, and what it ended with once done is
// closed.
type started struct {
	signal func(unix.Signal) error
	done   chan struct{}
	status syscall.WaitStatus
	err    error // waiting failed (reaped by someone else, output not copied)
}

// start starts cmd: through the reaper when the shell is PID 1 of a pid
// namespace (nothing else may wait there), with os/exec otherwise. A
// concurrently forked process may briefly hold the file open for writing
// (ETXTBSY, go.dev/issue/22315): start tries again for a while.
func start(cmd *exec.Cmd) (*started, error) {
	for delay := time.Millisecond; ; delay *= 2 {
		p, err := startOnce(cmd)
		if !errors.Is(err, syscall.ETXTBSY) || delay >= 300*time.Millisecond {
			return p, err
		}
		time.Sleep(delay)
		// A failed Start has used up the command: make it anew.
		cmd = &exec.Cmd{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: cmd.Dir,
			Stdin: cmd.Stdin, Stdout: cmd.Stdout, Stderr: cmd.Stderr, SysProcAttr: cmd.SysProcAttr}
	}
}

func startOnce(cmd *exec.Cmd) (*started, error) {
	p := &started{done: make(chan struct{})}
	if pid1Reaper != nil {
		// Into the shell's limits group, if it has one: created there
		// on cgroup v2, moved there right after the start on v1 (the
		// reaper owns every wait, so it cannot be stopped at execve).
		place, err := limits.PrepareCommand(cmd)
		if err != nil {
			return nil, err
		}
		rp, err := pid1Reaper.Start(cmd)
		if err != nil {
			place(0)
			return nil, err
		}
		if err := place(rp.Pid); err != nil {
			rp.Signal(unix.SIGKILL)
			rp.Wait()
			return nil, err
		}
		p.signal = rp.Signal
		go func() {
			e, err := rp.Wait()
			p.status, p.err = syscall.WaitStatus(e.Status), err
			close(p.done)
		}()
		return p, nil
	}
	// Into the shell's limits group, if it has one (limits.StartCommand
	// is cmd.Start otherwise).
	if err := limits.StartCommand(cmd); err != nil {
		return nil, err
	}
	p.signal = func(sg unix.Signal) error { return cmd.Process.Signal(sg) }
	go func() {
		var ee *exec.ExitError
		if err := cmd.Wait(); err != nil && !errors.As(err, &ee) {
			p.err = err
		} else {
			p.status = cmd.ProcessState.Sys().(syscall.WaitStatus)
		}
		close(p.done)
	}()
	return p, nil
}

// lookCommand finds the file a command name runs, printing why not and
// returning 127 (not found) or 126 (found, not executable) when it cannot.
func lookCommand(hc interp.HandlerContext, name string) (string, int) {
	if !strings.Contains(name, "/") {
		path, err := interp.LookPathDir(hc.Dir, hc.Env, name)
		if err != nil {
			fmt.Fprintf(hc.Stderr, "nsh: %s: command not found\n", name)
			return "", 127
		}
		return path, 0
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(hc.Dir, path)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(hc.Stderr, "nsh: %s: no such file or directory\n", name)
		return "", 127
	case err != nil:
		fmt.Fprintf(hc.Stderr, "nsh: %s: %v\n", name, unwrapExec(err))
		return "", 126
	case fi.IsDir():
		fmt.Fprintf(hc.Stderr, "nsh: %s: is a directory\n", name)
		return "", 126
	case fi.Mode()&0o111 == 0:
		fmt.Fprintf(hc.Stderr, "nsh: %s: permission denied\n", name)
		return "", 126
	}
	return path, 0
}

// unwrapExec strips os/exec's and os's wrapping of a start error down to
// the errno, since the caller names the command itself.
func unwrapExec(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
