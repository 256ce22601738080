package initd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Reaper owns all waiting for the child processes of this process: a single
// goroutine calls wait4(-1) each time SIGCHLD arrives, reaps every child that
// has ended (those started through Start and orphans re-parented to this
// process because it is PID 1 or a child subreaper), and hands each status to
// whoever waits for that pid.
//
// Nothing else in the process may wait for children: not exec.Cmd.Wait,
// os.Process.Wait, nor another wait4 loop, since whichever call reaps first
// takes the status from the others (wait4 reports a pid once). Start replaces
// exec.Cmd.Start + exec.Cmd.Wait.
//
// There is no race between starting a process and registering interest in
// it: Start holds a read lock across fork and registration, and the reaping
// goroutine holds the write lock around its wait4 calls, so a child that
// exits at once is only reaped after its Proc is known. Several goroutines
// may Start at once; the reaper waits for them.
//
// Only ends are reported (wait4 without WUNTRACED): a stopped child is not.
// The shell uses it so:
//
//	r := initd.NewReaper()
//	p, err := r.Start(cmd) // instead of cmd.Start
//	if err != nil {
//		return initd.StartErrorCode(err)
//	}
//	select {
//	case <-p.Done():
//	case <-ctx.Done():
//		p.Signal(unix.SIGKILL)
//	}
//	e, _ := p.Wait()
//	return e.Code() // 128+N when killed by signal N
type Reaper struct {
	// reapMu is held for reading across fork+register (Start) and signal
	// delivery (Proc.Signal), and for writing around wait4: a registered
	// pid cannot be reaped, and so cannot be reused, while it is read-locked.
	reapMu sync.RWMutex

	mu        sync.Mutex // guards the fields below
	procs     map[int]*Proc
	orphan    func(Exit)
	childless bool          // the last wait4 said ECHILD
	changed   chan struct{} // closed and replaced after every reaping pass

	sigch chan os.Signal
	kick  chan struct{}
}

var (
	theReaper *Reaper
	reaperMu  sync.Mutex
)

// NewReaper returns the process's Reaper, starting its goroutine on the
// first call: there is one per process (two wait4(-1) loops would take
// each other's statuses), and later calls return the same one. It calls
// signal.Notify for SIGCHLD; the program must not signal.Reset or
// signal.Ignore SIGCHLD afterwards (an ignored SIGCHLD makes the kernel
// discard exit statuses).
func NewReaper() *Reaper {
	reaperMu.Lock()
	defer reaperMu.Unlock()
	if theReaper != nil {
		return theReaper
	}
	r := &Reaper{
		procs:   make(map[int]*Proc),
		changed: make(chan struct{}),
		sigch:   make(chan os.Signal, 1),
		kick:    make(chan struct{}, 1),
	}
	signal.Notify(r.sigch, unix.SIGCHLD)
	go r.loop()
	r.Kick() // children that ended before NewReaper are reaped too
	theReaper = r
	return r
}

// OnOrphan sets the function called, on the reaping goroutine, with the
// status of every reaped process that was not started through Start
// (orphans re-parented to PID 1 or to a subreaper). It must not block. By
// default such statuses are dropped.
func (r *Reaper) OnOrphan(f func(Exit)) {
	r.mu.Lock()
	r.orphan = f
	r.mu.Unlock()
}

// Kick asks the reaping goroutine for a pass without waiting for SIGCHLD.
func (r *Reaper) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Reaper) loop() {
	for {
		select {
		case <-r.sigch:
		case <-r.kick:
		}
		r.reap()
	}
}

// reap calls wait4(-1, WNOHANG) until no ended child is left, then delivers
// the statuses. A SIGCHLD that comes after the last wait4 was received before
// it (the channel holds one), so no exit goes unnoticed.
func (r *Reaper) reap() {
	r.reapMu.Lock()
	var exits []Exit
	childless := false
	for {
		var e Exit
		pid, err := unix.Wait4(-1, &e.Status, unix.WNOHANG|unix.WALL, &e.Rusage)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			childless = err == unix.ECHILD
			break
		}
		e.Pid = pid
		exits = append(exits, e)
	}
	var orphans []Exit
	r.mu.Lock()
	for _, e := range exits {
		if p, ok := r.procs[e.Pid]; ok {
			delete(r.procs, e.Pid)
			p.exit = e
			close(p.done)
		} else {
			orphans = append(orphans, e)
		}
	}
	r.childless = childless
	close(r.changed)
	r.changed = make(chan struct{})
	orphan := r.orphan
	r.mu.Unlock()
	r.reapMu.Unlock()
	if orphan != nil {
		for _, e := range orphans {
			orphan(e)
		}
	}
}

// WaitChildless waits until this process has no children left (wait4
// reports ECHILD) and reports true, or returns false once timeout has
// passed. A negative timeout waits for ever. In a subreaper, descendants
// whose parents are alive are not children; they become children when
// those parents die.
func (r *Reaper) WaitChildless(timeout time.Duration) bool {
	var expired <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	r.mu.Lock()
	ch := r.changed
	r.mu.Unlock()
	r.Kick()
	for {
		select {
		case <-ch:
		case <-expired:
			return false
		}
		r.mu.Lock()
		childless := r.childless
		ch = r.changed
		r.mu.Unlock()
		if childless {
			return true
		}
	}
}

// Start starts cmd, as exec.Cmd.Start does, and registers it with the
// Reaper. Path, Args, Env, Dir, ExtraFiles and SysProcAttr are used as
// exec.Cmd uses them; Stdin, Stdout and Stderr may be *os.File (passed as
// they are) or any io.Reader/io.Writer (copied through a pipe by a
// goroutine, as exec.Cmd does). Never call cmd.Wait: use the Proc. A Stdin
// that is not an *os.File is copied until it ends or the process stops
// reading; Proc.Wait does not wait for that copy (a reader that never
// returns would hold it for ever).
//
// Commands made by exec.CommandContext are refused (exec.Cmd would watch
// the context from a goroutine that only Wait ends); use Proc.Signal.
//
// The error is exec.Cmd.Start's; StartErrorCode maps it to 126 or 127.
func (r *Reaper) Start(cmd *exec.Cmd) (*Proc, error) {
	if cmd.Process != nil {
		return nil, errors.New("initd: Start: command already started")
	}
	if cmd.Cancel != nil {
		return nil, errors.New("initd: Start: exec.CommandContext is not supported; use Proc.Signal")
	}
	p := &Proc{done: make(chan struct{}), r: r}
	if err := p.pipes(cmd); err != nil {
		p.closeAll()
		return nil, err
	}
	r.reapMu.RLock()
	err := cmd.Start()
	if err == nil {
		p.Pid = cmd.Process.Pid
		r.mu.Lock()
		r.procs[p.Pid] = p
		r.mu.Unlock()
	}
	r.reapMu.RUnlock()
	for _, f := range p.childEnds {
		f.Close()
	}
	p.childEnds = nil
	if err != nil {
		p.closeAll()
		return nil, err
	}
	// exec.Cmd keeps a pidfd in cmd.Process; the pid is ours to watch.
	cmd.Process.Release()
	for _, c := range p.copiers {
		go c()
	}
	p.copiers = nil
	return p, nil
}

// Run starts cmd and waits for it to end: Start, then Proc.Wait.
func (r *Reaper) Run(cmd *exec.Cmd) (Exit, error) {
	p, err := r.Start(cmd)
	if err != nil {
		return Exit{}, err
	}
	return p.Wait()
}

// Proc is a process started by Reaper.Start. cmd.Process and
// cmd.ProcessState of its command are not to be used.
type Proc struct {
	// Pid is the process id, valid until Done is closed.
	Pid int

	r    *Reaper
	done chan struct{}
	exit Exit

	childEnds  []*os.File // pipe ends for the child, closed after fork
	parentEnds []*os.File // pipe ends for the copiers
	copiers    []func()
	copying    sync.WaitGroup
	copyMu     sync.Mutex
	copyErr    error
}

// pipes replaces the non-*os.File standard streams of cmd with pipes and
// prepares the goroutines that copy through them.
func (p *Proc) pipes(cmd *exec.Cmd) error {
	if cmd.Stdin != nil {
		if _, ok := cmd.Stdin.(*os.File); !ok {
			pr, pw, err := os.Pipe()
			if err != nil {
				return fmt.Errorf("initd: pipe for stdin: %w", err)
			}
			src := cmd.Stdin
			cmd.Stdin = pr
			p.childEnds = append(p.childEnds, pr)
			p.parentEnds = append(p.parentEnds, pw)
			// Like exec.Cmd: a child that stops reading is not an error.
			// Unlike exec.Cmd, Wait does not wait for this copy: a
			// reader that never returns would hold Wait for ever.
			p.copiers = append(p.copiers, func() {
				_, err := io.Copy(pw, src)
				if err != nil && !errors.Is(err, unix.EPIPE) && !errors.Is(err, os.ErrClosed) {
					p.setCopyErr(err)
				}
				pw.Close()
			})
		}
	}
	var outW *os.File
	sameWriter := interfaceEqual(cmd.Stdout, cmd.Stderr)
	for i, w := range []*io.Writer{&cmd.Stdout, &cmd.Stderr} {
		if *w == nil {
			continue
		}
		if _, ok := (*w).(*os.File); ok {
			continue
		}
		if i == 1 && outW != nil && sameWriter {
			cmd.Stderr = outW // one pipe when both go to the same writer
			continue
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("initd: pipe for output: %w", err)
		}
		dst := *w
		*w = pw
		if i == 0 {
			outW = pw
		}
		p.childEnds = append(p.childEnds, pw)
		p.parentEnds = append(p.parentEnds, pr)
		p.copying.Add(1)
		p.copiers = append(p.copiers, func() {
			defer p.copying.Done()
			_, err := io.Copy(dst, pr)
			if err != nil {
				p.setCopyErr(err)
			}
			pr.Close()
		})
	}
	return nil
}

// interfaceEqual is a == b for writers that may not be comparable.
func interfaceEqual(a, b io.Writer) (eq bool) {
	defer func() { recover() }()
	return a == b
}

func (p *Proc) setCopyErr(err error) {
	p.copyMu.Lock()
	if p.copyErr == nil {
		p.copyErr = err
	}
	p.copyMu.Unlock()
}

func (p *Proc) closeAll() {
	for _, f := range append(p.childEnds, p.parentEnds...) {
		f.Close()
	}
}

// Done is closed when the process has ended and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to end and returns how it ended. When the
// command's Stdout or Stderr was not an *os.File, Wait also waits for the
// copy of its output to reach end of file (when every process holding the
// pipe has closed it, as with exec.Cmd), and the error reports a failed
// copy. It may be called any number of times, from any goroutine.
func (p *Proc) Wait() (Exit, error) {
	<-p.done
	p.copying.Wait()
	p.copyMu.Lock()
	defer p.copyMu.Unlock()
	return p.exit, p.copyErr
}

// Exit returns how the process ended, and false while it has not.
func (p *Proc) Exit() (Exit, bool) {
	select {
	case <-p.done:
		return p.exit, true
	default:
		return Exit{}, false
	}
}

// Signal sends s to the process. It is safe against pid reuse: the pid is
// not reaped while the signal is sent. Once the process has been reaped it
// returns os.ErrProcessDone.
func (p *Proc) Signal(s unix.Signal) error { return p.kill(p.Pid, s) }

// SignalGroup sends s to the process group whose id is the process's pid
// (a process started with Setsid or Setpgid leads one). Once the process
// has been reaped it returns os.ErrProcessDone.
func (p *Proc) SignalGroup(s unix.Signal) error { return p.kill(-p.Pid, s) }

func (p *Proc) kill(pid int, s unix.Signal) error {
	p.r.reapMu.RLock()
	defer p.r.reapMu.RUnlock()
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	if err := unix.Kill(pid, s); err != nil {
		return os.NewSyscallError("kill", err)
	}
	return nil
}
