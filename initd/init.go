package initd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/nsh-project/nsh/sig"
	"golang.org/x/sys/unix"
)

// Main is nsinit: it parses args (the command line without the program
// name) and the TINI_* environment variables, runs the command under
// supervision and returns the exit status for os.Exit. As the init of a
// virtual machine (PID 1 of the initial pid namespace) it never returns: it
// powers the machine off instead.
func Main(args []string) int {
	cfg, code, done := parseArgs(args, os.LookupEnv, os.Stdout, os.Stderr)
	if done {
		return code
	}
	n := &nsinit{cfg: cfg, sys: realSys(), log: os.Stderr}
	return n.run()
}

// nsinit is one run of the program.
type nsinit struct {
	cfg  *config
	sys  *sysCalls
	log  io.Writer
	pid1 bool // PID 1 of a pid namespace
	vm   bool // PID 1 of the initial pid namespace: the init of a machine

	// forceVM makes a PID 1 in a pid namespace take the VM code path
	// (tests only).
	forceVM  bool
	shutdown string // VM: poweroff, reboot or halt

	sharedTTY bool // the child is in nsinit's session (tini's way)
	oom       oomCounter

	// beforeSpawn runs after signals are caught and before the child is
	// started (tests only).
	beforeSpawn func()
}

// run is the boot order.
func (n *nsinit) run() int {
	defer n.recoverVM()
	// 1. Survive and queue every signal; pass no inherited fd on.
	sigs := catchSignals()
	markStrayFDs()
	// 2. As PID 1: mount what is missing; in a VM, load modules and
	// read the command from the kernel command line.
	n.pid1 = os.Getpid() == 1
	if n.pid1 {
		n.mount()
		n.vm = n.forceVM || initialPidNS(n.sys)
	}
	if n.vm {
		n.vmSetup()
	}
	// 3. Parent-death signal; subreaper, or the warning.
	if code, ok := n.parentAndReaper(); !ok {
		return n.end(code)
	}
	if len(n.cfg.Argv) == 0 {
		fmt.Fprintf(n.log, "nsinit: no command\n%s\n", usageLine)
		return n.end(2)
	}
	// 4. The one wait4 loop, then the command in its own session.
	reaper := NewReaper()
	reaper.OnOrphan(n.orphan)
	if n.beforeSpawn != nil {
		n.beforeSpawn()
	}
	child, code := n.spawn(reaper)
	// 5. Forward signals until it ends; TERM, grace, KILL what is left.
	if child != nil {
		code = n.supervise(child, sigs)
	}
	if n.vm {
		fmt.Fprintf(n.log, "nsinit: %s exited with status %d\n", strings.Join(n.cfg.Argv, " "), code)
	}
	n.finish(reaper, child)
	// 6. Exit with its status, or power the VM off.
	return n.end(code)
}

// recoverVM powers a VM off when nsinit panics: a panic that returned
// from /init would panic the kernel instead, and lose the message.
func (n *nsinit) recoverVM() {
	if !n.vm {
		return
	}
	if r := recover(); r != nil {
		fmt.Fprintf(n.log, "nsinit: panic: %v\n", r)
		n.powerOff()
	}
}

func (n *nsinit) logf(level int, format string, a ...any) {
	if n.cfg.Verbosity >= level {
		fmt.Fprintf(n.log, "nsinit: "+format+"\n", a...)
	}
}

const (
	lvError = iota
	lvWarn
	lvInfo
	lvDebug
)

// catchSignals asks for every catchable signal but SIGCHLD (the reaper's)
// and those named below. A Go program that does not handle SIGTERM, SIGINT, SIGHUP or SIGQUIT
// exits on them even as PID 1, and one that does not handle SIGSEGV, SIGBUS,
// SIGFPE, SIGILL, SIGTRAP, SIGABRT or SIGSYS sent by kill(2) crashes: so all
// are caught, and the channel holds what arrives before the child exists.
// Signals 32 and 33 belong to the C library's threads; Go does not let them
// be caught, and the kernel drops them for PID 1.
//
// SIGURG is left to the Go runtime, which sends it to its own threads to
// preempt goroutines (hundreds a second while orphans are reaped) and
// os/signal cannot tell those from a kill(2): forwarding them would shower
// the child with signals it never got. The runtime ignores the others, so
// nsinit survives SIGURG; the child does not get it (its default action is
// to be ignored, and out-of-band socket data goes to the socket's owner).
func catchSignals() chan os.Signal {
	ch := make(chan os.Signal, 128)
	signal.Notify(ch, forwarded()...)
	setGoKept(true)
	return ch
}

// forwarded is every signal nsinit passes on to the child.
func forwarded() []os.Signal {
	var l []os.Signal
	for _, s := range sig.All() {
		if sig.Catchable(s) && s != unix.SIGCHLD && s != unix.SIGURG && !slices.Contains(goKeeps, s) {
			l = append(l, s)
		}
	}
	return l
}

// goKeeps are the signals Go's runtime never hands to os/signal: SIGPROF
// (its profiler's) and 32-34 (the C libraries' thread signals). nsinit
// cannot forward them. As PID 1 the kernel drops them (init has no handler
// for them); otherwise they would kill nsinit, so it ignores them, except
// around fork: the child starts with their default action.
var goKeeps = []unix.Signal{unix.SIGPROF, 32, 33, 34}

// kSigaction is struct sigaction of rt_sigaction(2) (x86, arm64, riscv).
type kSigaction struct {
	handler, flags, restorer uintptr
	mask                     uint64
}

// setGoKept sets the disposition of goKeeps to SIG_IGN or SIG_DFL with the
// system call: os/signal refuses to touch them.
func setGoKept(ignore bool) {
	var sa kSigaction
	if ignore {
		sa.handler = 1 // SIG_IGN
	}
	for _, s := range goKeeps {
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
	}
}

// markStrayFDs sets close-on-exec on every descriptor above 2: nsinit
// passes only stdin, stdout and stderr on (os/exec does not close what the
// process inherited).
func markStrayFDs() {
	if unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	// Before Linux 5.11.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

func (n *nsinit) mount() {
	r := mountEssentials(n.sys)
	for _, m := range r.Mounted {
		n.logf(lvDebug, "%s", m)
	}
	for _, s := range r.Skipped {
		n.logf(lvInfo, "skipped mount %s", s)
	}
	for _, w := range r.Warn {
		n.logf(lvWarn, "mount failed: %s", w)
	}
}

// initialPidNS reports whether this is the pid namespace of the machine:
// its inode is PROC_PID_INIT_INO (include/linux/proc_ns.h), fixed since
// Linux 3.8.
func initialPidNS(s *sysCalls) bool {
	l, err := os.Readlink(s.path(s.procRoot) + "/self/ns/pid")
	return err == nil && l == "pid:[4026531836]"
}

const reaperWarning = `nsinit is not running as PID 1 and isn't registered as a child subreaper.
Zombie processes will not be re-parented to nsinit, so zombie reaping won't work.
To fix the problem, use the -s option or set the environment variable ` + EnvSubreaper + ` to register nsinit as a child subreaper, or run nsinit as PID 1.`

// parentAndReaper sets the parent-death signal, and, when not PID 1,
// registers as a child subreaper or warns that orphans escape.
func (n *nsinit) parentAndReaper() (int, bool) {
	if s := n.cfg.PdeathSig; s != 0 {
		ppid := os.Getppid()
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(s), 0, 0, 0); err != nil {
			n.logf(lvError, "prctl PR_SET_PDEATHSIG %s: %v", sig.FullName(s), err)
			return 1, false
		}
		if os.Getppid() != ppid {
			unix.Kill(os.Getpid(), s) // the parent died before prctl
		}
	}
	if n.pid1 {
		return 0, true
	}
	if n.cfg.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			n.logf(lvError, "prctl PR_SET_CHILD_SUBREAPER: %v", err)
			return 1, false
		}
		n.logf(lvDebug, "registered as a child subreaper")
		return 0, true
	}
	var bit int32
	if unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&bit)), 0, 0, 0) == nil && bit != 0 {
		return 0, true
	}
	n.logf(lvWarn, "%s", reaperWarning)
	return 0, true
}

func (n *nsinit) orphan(e Exit) {
	if n.cfg.WarnReap {
		n.logf(lvWarn, "Reaped zombie process with pid=%d", e.Pid)
	} else {
		n.logf(lvDebug, "reaped orphan %d: %s", e.Pid, e)
	}
}

// spawn starts the command in its own session (and with the terminal,
// when stdin is one), with an empty signal mask and default dispositions.
func (n *nsinit) spawn(r *Reaper) (*Proc, int) {
	argv := n.cfg.Argv
	if os.Getenv("PATH") == "" {
		// execvp's default, as tini gets it; a kernel starts init without PATH.
		os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = n.session()

	// The child gets the signal mask of the thread that forks it (Go saves
	// it in BeforeFork and restores it in the child): make it empty. Every
	// signal nsinit catches goes back to SIG_DFL in the child.
	runtime.LockOSThread()
	var empty, old unix.Sigset_t
	unix.PthreadSigmask(unix.SIG_SETMASK, &empty, &old)
	setGoKept(false)
	p, err := r.Start(cmd)
	if err != nil && errors.Is(err, unix.EPERM) && cmd.SysProcAttr.Setctty {
		// TIOCSCTTY refused (a terminal the kernel will not hand over):
		// a session of its own without it, rather than no child at all.
		n.logf(lvDebug, "exec with controlling terminal: %v; trying without", err)
		cmd = exec.Command(argv[0], argv[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		p, err = r.Start(cmd)
	}
	setGoKept(true)
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	runtime.UnlockOSThread()

	if err != nil {
		code := StartErrorCode(err)
		n.logf(lvError, "exec %s failed: %v", argv[0], unwrapExec(err))
		return nil, code
	}
	if n.sharedTTY {
		// The child's group now owns the terminal and nsinit is in the
		// background of the same session: a write with TOSTOP set would
		// stop nsinit (tini ignores these two for the same reason).
		signal.Ignore(unix.SIGTTIN, unix.SIGTTOU)
	}
	n.oom = oomBefore(n.sys, p.Pid)
	n.logf(lvInfo, "spawned child process '%s' with pid %d", argv[0], p.Pid)
	return p, 0
}

// unwrapExec drops os/exec's "fork/exec PATH:" prefix, keeping path and errno.
func unwrapExec(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// session chooses how the child gets the terminal:
//
//   - stdin not a terminal: a session of its own (setsid), as dumb-init;
//   - a terminal no session controls (a VM console, a pty handed over):
//     setsid and TIOCSCTTY, so job control works in a shell;
//   - nsinit's own controlling terminal, nsinit leading the session (a
//     container's init): the same when nsinit may take it over (needs
//     CAP_SYS_ADMIN), else tini's way below;
//   - a terminal of the session nsinit was started in (from a shell):
//     tini's way, a process group of its own made the foreground one, so
//     the user's shell keeps its terminal;
//   - a terminal of another session: setsid without a terminal.
func (n *nsinit) session() *syscall.SysProcAttr {
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err != nil {
		return &syscall.SysProcAttr{Setsid: true}
	}
	ttySid, err := unix.IoctlGetInt(0, unix.TIOCGSID)
	if err != nil {
		return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	mySid, _ := unix.Getsid(0)
	switch {
	case ttySid == mySid && mySid == os.Getpid() && hasCap(n.sys, unix.CAP_SYS_ADMIN):
		return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	case ttySid == mySid:
		n.sharedTTY = true
		return &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0}
	}
	return &syscall.SysProcAttr{Setsid: true}
}

// hasCap reports whether capability c is in this process's effective set.
func hasCap(s *sysCalls, c int) bool {
	b, err := os.ReadFile(s.path(s.procRoot) + "/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<uint(c)) != 0
		}
	}
	return false
}

// supervise forwards signals to the child until it ends and returns its
// status. In a VM, SIGINT (Ctrl-Alt-Del), SIGTERM and SIGPWR shut down.
func (n *nsinit) supervise(child *Proc, sigs chan os.Signal) int {
	for {
		select {
		case s := <-sigs:
			us := s.(syscall.Signal)
			if n.vm && (us == unix.SIGINT || us == unix.SIGTERM || us == unix.SIGPWR) {
				n.logf(lvWarn, "%s: shutting down", sig.FullName(us))
				return n.childCode(child, n.stopChild(child))
			}
			n.forward(child, us)
		case <-child.Done():
			e, _ := child.Exit()
			return n.childCode(child, e)
		}
	}
}

// stopChild ends the child for a shutdown: SIGTERM, SIGKILL after grace.
func (n *nsinit) stopChild(child *Proc) Exit {
	n.signalChild(child, unix.SIGTERM)
	t := time.NewTimer(n.cfg.Grace)
	defer t.Stop()
	select {
	case <-child.Done():
	case <-t.C:
		n.signalChild(child, unix.SIGKILL)
		<-child.Done()
	}
	e, _ := child.Exit()
	return e
}

func (n *nsinit) forward(child *Proc, s syscall.Signal) {
	n.logf(lvDebug, "passing signal %s", sig.FullName(s))
	if err := n.signalChild(child, s); errors.Is(err, os.ErrProcessDone) || errors.Is(err, unix.ESRCH) {
		n.logf(lvDebug, "child was dead when forwarding %s", sig.FullName(s))
	} else if err != nil {
		n.logf(lvWarn, "forwarding %s: %v", sig.FullName(s), err)
	}
}

func (n *nsinit) signalChild(child *Proc, s syscall.Signal) error {
	if n.cfg.Group {
		return child.SignalGroup(s)
	}
	return child.Signal(s)
}

// childCode reports how the child ended and returns its status.
func (n *nsinit) childCode(child *Proc, e Exit) int {
	how := e.String()
	if e.Status.Signaled() && e.Status.Signal() == unix.SIGKILL && n.oom.fired(n.sys) {
		how += ": killed by the kernel OOM killer (" + n.oom.where + ")"
	}
	n.logf(lvInfo, "main child '%s' (pid %d) %s", n.cfg.Argv[0], child.Pid, how)
	return e.Code()
}

// end applies -e and returns the status; in a VM it powers off instead of
// returning.
func (n *nsinit) end(code int) int {
	code &= 0xff
	if n.cfg.Remap[code] {
		n.logf(lvDebug, "exit status %d remapped to 0", code)
		code = 0
	}
	if !n.vm {
		return code
	}
	n.powerOff()
	panic("unreachable")
}
