package builtins

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsh-project/nsh/initd"
	"github.com/nsh-project/nsh/limits"
)

// How `unshare`, `rfork` and `enter` work in a multithreaded Go process
// (DESIGN.md section 5): nsh never unshares itself. It starts a copy of
// itself, re-executed from a sealed memfd copy of its binary, with the clone
// flags (and uid/gid maps) of the new namespaces, and hands it a plan on an
// inherited pipe: the setup to do in the namespaces (propagation, /proc,
// lo, an empty root, a seccomp filter) and then either the state of the
// shell and the rest of the script, or a command to execute. The original
// forwards the signals it receives to the copy, waits, and ends with the
// copy's status. Pdeathsig kills the copy if the original dies.

// copyEnv names the environment variable that marks a process as a copy;
// its value is the descriptor the plan is read from. Resume removes it at
// once, so that nothing the copy runs sees it.
const copyEnv = "_NSH_COPY_FD"

// copyPlan is what the original sends to the copy, as JSON.
type copyPlan struct {
	Setup copySetup

	// State is the shell to resume, with the rest of the program; nil when
	// the copy executes Argv.
	State *shellState `json:",omitempty"`

	// Argv is the command to execute (`unshare FLAGS -- CMD`), with Env
	// and Dir.
	Argv []string `json:",omitempty"`
	Env  []string `json:",omitempty"`
	Dir  string   `json:",omitempty"`
	// Init runs Argv under a reaping PID 1 (the copy itself) instead of
	// executing it in place.
	Init bool `json:",omitempty"`

	// Reexec makes the copy execute itself once more before anything else:
	// a copy whose uid map was written by newuidmap after it started ran
	// execve as an unmapped user and so holds no capabilities; executing
	// again as uid 0 of its user namespace gives them.
	Reexec bool `json:",omitempty"`
	// Name is the builtin that made the copy, for messages.
	Name string
	// Pdeathsig is set by the copy itself when the original could not
	// have the kernel set it at fork (see copySpec.noPdeathsig); the plan
	// pipe, which the original keeps open until the copy ends, tells the
	// copy whether the original died before that.
	Pdeathsig int `json:",omitempty"`
}

// copySetup is what the copy does in its new namespaces before it goes on.
type copySetup struct {
	// Propagation is applied recursively to / (MS_PRIVATE, MS_SLAVE,
	// MS_SHARED), 0 for none.
	Propagation uintptr `json:",omitempty"`
	// MountProc is where a fresh proc is mounted, "" for nowhere.
	MountProc string `json:",omitempty"`
	// LoUp brings the loopback interface up.
	LoUp bool `json:",omitempty"`
	// EmptyRoot makes / an empty tmpfs, the old root kept as '#/' (rfork N).
	EmptyRoot bool `json:",omitempty"`
	// NoMounts installs the seccomp filter that refuses the mount family
	// of system calls (rfork m).
	NoMounts bool `json:",omitempty"`
	// CloseFds closes every descriptor above 2 (rfork F).
	CloseFds bool `json:",omitempty"`
	// Umask is the file mode creation mask, -1 to keep the inherited one.
	Umask int
}

// copySpec says how to start a copy.
type copySpec struct {
	plan copyPlan
	attr syscall.SysProcAttr
	env  []string // the copy's process environment
	// newuidmap and newgidmap are the mappings newuidmap(1) and
	// newgidmap(1) write, after the copy starts, for a non-root user
	// mapping more than its own ids.
	newuidmap, newgidmap []idMap
	// nsFiles maps a namespace type ("net") to the file the new namespace
	// is bind-mounted on (`--net=/run/netns/box`).
	nsFiles map[string]string
	// onThread runs on the locked thread the copy is forked from, before
	// it is (enter: setns).
	onThread func() error
	// viaFdDir makes the thread change into this process's /proc/PID/fd,
	// opened before onThread, and execute the memfd from there: a joined
	// mount namespace may have no /proc/self of its own.
	viaFdDir bool
	// clearEnv drops the exported variables (rfork E).
	clearEnv bool
	// dir, when set, is the copy's working directory (rfork N: /).
	dir string
	// noPdeathsig leaves the parent-death signal to the copy (plan.Pdeathsig).
	noPdeathsig bool
}

// idMap is one line of a uid_map or gid_map: Inside is the first id in
// the new user namespace, Outside the first in this one.
type idMap struct{ Inside, Outside, Count int }

var (
	exeOnce sync.Once
	exeFile *os.File
	exeErr  error
)

// sealedExe returns a read-only memfd holding nsh's own binary, made once
// per process. The copy is executed from it rather than from
// /proc/self/exe, so that no process in the new namespaces can reopen the
// host's binary for writing through /proc/PID/exe (CVE-2019-5736, fixed the
// same way in runc). A process that is itself running from such a memfd
// reuses it.
func sealedExe() (*os.File, error) {
	exeOnce.Do(func() {
		exeFile, exeErr = makeSealedExe()
		if exeErr != nil {
			return
		}
		// Out of the way of the descriptors a child is given (ExtraFiles
		// start at 3), which would replace it in the child before it is
		// executed through /proc/self/fd.
		fd, err := unix.FcntlInt(exeFile.Fd(), unix.F_DUPFD_CLOEXEC, 100)
		if err != nil {
			exeFile, exeErr = nil, fmt.Errorf("fcntl(F_DUPFD_CLOEXEC): %w", err)
			return
		}
		exeFile.Close()
		exeFile = os.NewFile(uintptr(fd), "memfd:nsh")
	})
	return exeFile, exeErr
}

const exeSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

func makeSealedExe() (*os.File, error) {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open /proc/self/exe: %w", unwrapExec(err))
	}
	if seals, err := unix.FcntlInt(self.Fd(), unix.F_GET_SEALS, 0); err == nil && seals&exeSeals == exeSeals {
		return self, nil
	}
	defer self.Close()
	fd, err := unix.MemfdCreate("nsh", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:nsh")
	if err := copyExe(mem, self); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy /proc/self/exe to a memfd: %w", err)
	}
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, exeSeals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal the memfd copy of nsh: %w", err)
	}
	return mem, nil
}

// copyExe copies the binary in the kernel with sendfile(2) (copy_file_range
// refuses to cross into the memfd's filesystem, and io.Copy would then go
// through a small buffer), falling back to a large buffer.
func copyExe(dst, src *os.File) error {
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	for left := fi.Size(); left > 0; {
		n, err := unix.Sendfile(int(dst.Fd()), int(src.Fd()), nil, int(min(left, 1<<30)))
		if err != nil || n == 0 {
			if left == fi.Size() {
				_, err = io.CopyBuffer(dst, src, make([]byte, 1<<20))
				return err
			}
			return fmt.Errorf("sendfile: %w", err)
		}
		left -= int64(n)
	}
	return nil
}

// copyProc is a started copy: through the reaper when this process is
// PID 1 of a namespace, else through os/exec.
type copyProc interface {
	Signal(unix.Signal) error
	Wait() (unix.WaitStatus, error)
}

type execProc struct{ cmd *exec.Cmd }

func (p execProc) Signal(s unix.Signal) error { return p.cmd.Process.Signal(s) }
func (p execProc) Wait() (unix.WaitStatus, error) {
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	return unix.WaitStatus(p.cmd.ProcessState.Sys().(syscall.WaitStatus)), nil
}

// startProc starts cmd and returns it as a copyProc.
func startProc(cmd *exec.Cmd) (copyProc, error) {
	if pid1Reaper != nil {
		p, err := pid1Reaper.Start(cmd)
		if err != nil {
			return nil, err
		}
		return reapedProc{p}, nil
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return execProc{cmd}, nil
}

// runCopy starts the copy, hands it the plan, forwards signals to it while
// it runs, and returns its status (128+N if a signal killed it). The copy
// is forked from a locked thread that lives until the copy ends, since
// Pdeathsig fires when the forking thread exits, not the process.
func runCopy(c *Call, spec *copySpec) (int, error) {
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked when spec.onThread changed it
		// (setns): it ends with the goroutine instead of going back to
		// the pool in another namespace.
		status, dirty, err := runCopyLocked(c, spec)
		if !dirty {
			runtime.UnlockOSThread()
		}
		done <- result{status, err}
	}()
	r := <-done
	return r.status, r.err
}

func runCopyLocked(c *Call, spec *copySpec) (status int, dirty bool, err error) {
	// The copy may make limit groups that outlive it (it may end in exec):
	// the shell looks for them when it ends.
	limits.CopyStarted()
	exe, err := sealedExe()
	if err != nil {
		return 0, false, err
	}
	path := "/proc/self/fd/" + strconv.Itoa(int(exe.Fd()))
	if spec.onThread != nil {
		dirty = true
		if spec.viaFdDir {
			// Resolve the memfd through this process's own /proc, opened
			// before setns: the joined mount namespace may have no /proc,
			// or one of another pid namespace where "self" is not us.
			dir, err := os.Open("/proc/" + strconv.Itoa(os.Getpid()) + "/fd")
			if err != nil {
				return 0, dirty, fmt.Errorf("open /proc/%d/fd: %w", os.Getpid(), unwrapExec(err))
			}
			defer dir.Close()
			if err := spec.onThread(); err != nil {
				return 0, dirty, err
			}
			if err := unix.Fchdir(int(dir.Fd())); err != nil {
				return 0, dirty, fmt.Errorf("fchdir /proc/%d/fd: %w", os.Getpid(), err)
			}
			path = "./" + strconv.Itoa(int(exe.Fd()))
		} else if err := spec.onThread(); err != nil {
			return 0, dirty, err
		}
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, dirty, fmt.Errorf("pipe: %w", err)
	}
	defer pw.Close()
	attr := spec.attr
	if attr.Pdeathsig == 0 && !spec.noPdeathsig {
		attr.Pdeathsig = unix.SIGKILL
	}
	// The script's descriptors 3 to 9 (exec 3>file) go to the copy at
	// the same numbers, unless rfork F; the plan comes on the next one.
	var extra []*os.File
	if !spec.plan.Setup.CloseFds {
		extra = scriptFds()
	} else {
		extra = make([]*os.File, maxScriptFd-minScriptFd+1)
	}
	planFd := 3 + len(extra)
	cmd := &exec.Cmd{
		Path:        path,
		Args:        []string{"nsh"},
		Env:         append(spec.env, copyEnv+"="+strconv.Itoa(planFd)),
		Stdin:       c.Stdin,
		Stdout:      c.Stdout,
		Stderr:      c.Stderr,
		ExtraFiles:  append(extra, pr),
		SysProcAttr: &attr,
	}
	proc, err := startProc(cmd)
	pr.Close()
	for _, f := range extra {
		if f != nil {
			f.Close()
		}
	}
	if err != nil {
		return 0, dirty, startError(c.Name(), attr.Cloneflags, err)
	}
	abort := func(err error) (int, bool, error) {
		proc.Signal(unix.SIGKILL)
		proc.Wait()
		return 0, dirty, err
	}
	pid := cmdPid(cmd, proc)
	if err := writeIDMaps(pid, spec, c); err != nil {
		return abort(err)
	}
	if err := bindNsFiles(pid, spec.nsFiles); err != nil {
		return abort(err)
	}
	if err := json.NewEncoder(pw).Encode(&spec.plan); err != nil {
		// The copy ended before it read its plan: say how.
		if ws, werr := proc.Wait(); werr == nil {
			return 0, dirty, fmt.Errorf("the copy of nsh ended before it was set up (%s)", initd.Describe(ws))
		}
		return abort(fmt.Errorf("send the plan to the copy: %w", err))
	}
	// pw stays open until the copy ends: its end of file tells the copy
	// that the original is gone (plan.Pdeathsig).

	// A copy in a session of its own (rfork s) gets no signal from the
	// terminal: the original forwards those too.
	stop := forwardSignals(proc, inForeground(c.Shell.Interactive) && !attr.Setsid)
	waited := make(chan struct{})
	if !c.Shell.Interactive {
		// Cancelled from outside (a caller's timeout): ask, then insist,
		// as for any command. In an interactive session the context is
		// the line's, which Ctrl-C cancels: the nested session handles
		// Ctrl-C itself.
		go func() {
			select {
			case <-waited:
			case <-c.Ctx.Done():
				proc.Signal(unix.SIGTERM)
				select {
				case <-waited:
				case <-time.After(killDelay):
					proc.Signal(unix.SIGKILL)
				}
			}
		}()
	}
	// The copy is the shell's foreground command: a Ctrl-C reaches it
	// from the terminal, and it decides what the interrupt ends.
	c.Shell.beginForeground()
	ws, err := proc.Wait()
	c.Shell.endForeground()
	close(waited)
	stop()
	if err != nil {
		return 0, dirty, fmt.Errorf("wait for the copy: %w", err)
	}
	return waitCode(ws), dirty, nil
}

// scriptFds returns duplicates of the descriptors 3 to 9 the script has
// open (nil for the closed ones), to be passed at the same numbers.
func scriptFds() []*os.File {
	files := make([]*os.File, maxScriptFd-minScriptFd+1)
	closedFds.Lock()
	defer closedFds.Unlock()
	for fd := minScriptFd; fd <= maxScriptFd; fd++ {
		if closedFds.fd[fd] {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
		if err != nil {
			continue
		}
		files[fd-minScriptFd] = os.NewFile(uintptr(dup), "fd"+strconv.Itoa(fd))
	}
	return files
}

// cmdPid returns the pid of the started copy.
func cmdPid(cmd *exec.Cmd, p copyProc) int {
	if rp, ok := p.(reapedProc); ok {
		return rp.p.Pid
	}
	return cmd.Process.Pid
}

// waitCode is the shell's status for a wait status: 128+N when killed.
func waitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}

// startError explains a failed clone: EPERM without privilege, EINVAL or
// ENOSPC from namespace limits, EUSERS from nesting too deep.
func startError(name string, flags uintptr, err error) error {
	err = unwrapExec(err)
	e := &hintError{err: fmt.Errorf("clone(%s): %w", cloneFlagNames(flags), err)}
	switch {
	case errors.Is(err, unix.EPERM):
		e.hint = "creating namespaces needs CAP_SYS_ADMIN, or a user namespace (-U, added automatically for a non-root user); user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces)"
	case errors.Is(err, unix.ENOSPC):
		e.hint = "a namespace limit was reached: see /proc/sys/user/max_*_namespaces"
	case errors.Is(err, unix.EUSERS):
		e.hint = "user namespaces nest at most 32 deep"
	case errors.Is(err, unix.EINVAL):
		e.hint = "the kernel refused this combination of namespace flags (is every namespace type enabled in this kernel?)"
	case errors.Is(err, unix.ENOENT):
		e.hint = "the copy of nsh is executed through /proc/self/fd: is /proc mounted?"
	}
	return e
}

// hintError is an error with a hint, which Call.Fail prints on a line of
// its own.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// Hint returns the hint.
func (e *hintError) Hint() string { return e.hint }

// inForeground reports whether the shell is in the foreground process
// group of the terminal on its standard input, so that what the terminal
// sends (Ctrl-C) reaches a copy in the same group by itself.
func inForeground(interactive bool) bool {
	if interactive {
		return true
	}
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// forwarded are the signals the original passes on to the copy. Signals a
// terminal sends to the whole foreground process group (INT, QUIT, WINCH,
// TSTP) reach a copy in that group directly, and are not forwarded then
// (twice, a Ctrl-C the copy's command took would end the copy's script);
// otherwise, as for a script without a terminal, a `kill -INT` aimed at
// the original must reach the copy too. SIGCHLD, SIGURG (the Go runtime's), SIGPIPE and the stop
// signals are not forwarded.
func forwarded(foreground bool) []os.Signal {
	s := []os.Signal{unix.SIGHUP, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
		unix.SIGALRM, unix.SIGPWR, unix.SIGVTALRM, unix.SIGPROF, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGIO}
	if !foreground {
		s = append(s, unix.SIGINT, unix.SIGQUIT)
	}
	return s
}

// forwardSignals passes the signals this process receives to p until stop
// is called.
func forwardSignals(p copyProc, foreground bool) (stop func()) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, forwarded(foreground)...)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case s := <-ch:
				p.Signal(s.(unix.Signal))
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(quit)
		wg.Wait()
	}
}

// cloneFlagNames prints clone flags by name.
func cloneFlagNames(flags uintptr) string {
	var names []string
	for _, t := range nsTypes {
		if flags&t.flag != 0 {
			names = append(names, t.cloneName)
		}
	}
	if len(names) == 0 {
		return "0"
	}
	s := names[0]
	for _, n := range names[1:] {
		s += "|" + n
	}
	return s
}

// nsType is one kind of namespace.
type nsType struct {
	name      string // as in /proc/PID/ns
	flag      uintptr
	cloneName string
	short     rune   // unshare's and enter's flag
	long      string // unshare's long flag
	what      string // for --help
}

// nsTypes lists the namespace types in the order nsenter(1) joins them:
// user first (it grants the rights for the rest), mnt late (paths are
// resolved before it), time last.
var nsTypes = []nsType{
	{"user", unix.CLONE_NEWUSER, "CLONE_NEWUSER", 'U', "user", "user"},
	{"cgroup", unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP", 'C', "cgroup", "cgroup"},
	{"ipc", unix.CLONE_NEWIPC, "CLONE_NEWIPC", 'i', "ipc", "IPC"},
	{"uts", unix.CLONE_NEWUTS, "CLONE_NEWUTS", 'u', "uts", "UTS (host name)"},
	{"net", unix.CLONE_NEWNET, "CLONE_NEWNET", 'n', "net", "network"},
	{"pid", unix.CLONE_NEWPID, "CLONE_NEWPID", 'p', "pid", "pid"},
	{"mnt", unix.CLONE_NEWNS, "CLONE_NEWNS", 'm', "mount", "mount"},
	{"time", unix.CLONE_NEWTIME, "CLONE_NEWTIME", 'T', "time", "time"},
}
