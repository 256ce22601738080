package limits

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Limiter holds the limits state of one shell process: the cgroup it made
// for itself (or inherited from the nsh that started it) and the cgroups it
// made for commands. A shell has one, [Shell]; tests make their own on fake
// trees with [NewLimiter].
type Limiter struct {
	host *Host

	mu      sync.Mutex
	self    *Group   // the group the shell is in, made or adopted; nil if none
	adopted bool     // self was looked for among the inherited cgroups
	groups  []*Group // groups made for commands, not yet removed
	seq     int
}

// NewLimiter returns a limiter for the process host.Pid on host.
func NewLimiter(h *Host) *Limiter { return &Limiter{host: h} }

var (
	shellOnce sync.Once
	shell     *Limiter
	shellErr  error
)

// Shell returns the limiter of this process, detecting the host's cgroups
// on first use.
func Shell() (*Limiter, error) {
	shellOnce.Do(func() {
		h, err := Detect()
		if err != nil {
			shellErr = err
			return
		}
		shell = NewLimiter(h)
	})
	return shell, shellErr
}

// Host returns the host the limiter works on.
func (l *Limiter) Host() *Host { return l.host }

// Self returns the group the shell is in, if nsh made it (or an nsh
// that started this one did), else nil.
func (l *Limiter) Self() *Group {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adopt()
	return l.self
}

// adopt takes over the group an nsh that started this process made, such
// as the original shell before `unshare` ran the rest of the script in a
// copy: its cgroup is named nsh-* in every hierarchy (in the "shell" leaf
// on v2). The copy changes that group's limits rather than nesting one.
func (l *Limiter) adopt() {
	if l.self != nil || l.adopted {
		return
	}
	l.adopted = true
	g := &Group{host: l.host, dirs: map[*Hierarchy]string{}, procs: map[*Hierarchy]string{}, parents: map[*Hierarchy]string{}}
	for _, hv := range l.hierarchies() {
		p := hv.Path
		if hv.Version == 2 {
			if filepath.Base(p) != "shell" {
				return
			}
			p = filepath.Dir(p)
		}
		if !strings.HasPrefix(filepath.Base(p), "nsh-") {
			return
		}
		g.Name = filepath.Base(p)
		g.dirs[hv], g.procs[hv], g.parents[hv] = hv.Dir(p), hv.Dir(hv.Path), hv.Dir(filepath.Dir(p))
	}
	if g.Name != "" {
		l.self = g
	}
}

// hierarchies are those a group of the shell's joins: every v1 hierarchy
// nsh uses, and cgroup2 on a pure v2 host.
func (l *Limiter) hierarchies() []*Hierarchy {
	out := append([]*Hierarchy{}, l.host.V1...)
	if l.host.V2 != nil && len(l.host.V1) == 0 {
		out = append(out, l.host.V2)
	}
	return out
}

// shellDir is the cgroup the shell is in, in hv.
func (l *Limiter) shellDir(hv *Hierarchy) string {
	if l.self != nil && l.self.procs[hv] != "" {
		return l.self.procs[hv]
	}
	return hv.Dir(hv.Path)
}

// limitDir is the cgroup whose limits the shell is under, in hv: its
// group, or the cgroup it is in.
func (l *Limiter) limitDir(hv *Hierarchy) string {
	if l.self != nil && l.self.dirs[hv] != "" {
		return l.self.dirs[hv]
	}
	return hv.Dir(hv.Path)
}

// current reads the present value of a file of the shell's group.
func (l *Limiter) current(hv *Hierarchy, file string) (string, bool) {
	if l.self == nil || l.self.dirs[hv] == "" {
		return "", false
	}
	v, err := readFile(filepath.Join(l.self.dirs[hv], file))
	return v, err == nil
}

// Set applies a limit line to the shell process, and so to every command
// it starts afterwards. Cgroup limits need a cgroup of the shell's own:
// the first time, Set makes one named name (default nsh-PID) under the
// cgroup the shell is in, in every hierarchy (v2: with the shell in its
// leaf "shell"), and moves the shell (the whole process, every thread) into
// it. Later lines change that group's limits. If any step fails, the steps
// before it are undone and the error is returned: the previous limits stay.
func (l *Limiter) Set(settings []Setting, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set(settings, name, false)
}

func (l *Limiter) set(settings []Setting, name string, force bool) (err error) {
	l.adopt()
	if l.self != nil && name != "" && name != l.self.Name {
		return &UnavailableError{Key: "-g " + name, Reason: fmt.Sprintf("the shell is already in its group %s", l.self.Name)}
	}
	plan, err := l.host.Plan(settings, l.current)
	if err != nil {
		return err
	}
	if err := checkRlimits(0, plan.Rlimits); err != nil {
		return err
	}
	j := &journal{}
	defer func() {
		if err != nil {
			if rb := j.rollback(); rb != nil {
				err = fmt.Errorf("%w (undoing it failed too: %v)", err, rb)
			}
		}
	}()
	g, made := l.self, false
	fresh := map[*Hierarchy]bool{}
	if g == nil && (len(plan.Writes) > 0 || force) {
		g, made = newGroup(l.host, l.freeName(name)), true
		for _, hv := range l.hierarchies() {
			if err := l.join(j, g, hv); err != nil {
				return err
			}
			fresh[hv] = true
		}
	}
	if v2 := l.host.V2; v2 != nil && len(plan.Enable[v2]) > 0 && g.dirs[v2] == "" {
		// A hybrid host whose cgroup2 hierarchy serves a controller
		// that no v1 hierarchy has (hugetlb here and there).
		if err := l.join(j, g, v2); err != nil {
			return err
		}
		fresh[v2] = true
	}
	for hv, ctrls := range plan.Enable {
		if err := g.enable(j, hv, ctrls, false); err != nil {
			return err
		}
	}
	for _, w := range plan.Writes {
		if err := g.write(j, w, fresh[w.Hier]); err != nil {
			return err
		}
	}
	if plan.OOMScore != nil {
		if err := setOOMScore(j, l.host.Root, 0, *plan.OOMScore); err != nil {
			return err
		}
	}
	for _, s := range plan.Rlimits {
		if err := setRlimit(j, 0, s); err != nil {
			return err
		}
	}
	if made {
		l.self = g
	}
	return nil
}

// join makes the group's directory in hv under the cgroup the shell is in
// and moves the shell into it.
func (l *Limiter) join(j *journal, g *Group, hv *Hierarchy) error {
	from := hv.Dir(hv.Path)
	if err := g.makeDir(j, hv, from, hv.Version == 2); err != nil {
		return err
	}
	return g.move(j, hv, l.host.Pid, from)
}

// freeName returns name, or the first of nsh-PID, nsh-PID.1, ... that no
// hierarchy has yet under the shell's cgroup (a pid is reused across pid
// namespaces).
func (l *Limiter) freeName(name string) string {
	if name != "" {
		return name
	}
	for i := 0; ; i++ {
		n := fmt.Sprintf("nsh-%d", l.host.Pid)
		if i > 0 {
			n = fmt.Sprintf("%s.%d", n, i)
		}
		taken := false
		for _, hv := range append(l.hierarchies(), l.host.V2) {
			if hv != nil && exists(filepath.Join(l.shellDir(hv), n)) {
				taken = true
			}
		}
		if !taken {
			return n
		}
	}
}

// Start starts cmd in a new cgroup named name (default nsh-PID-N) made
// under the shell's cgroup, with the limits of settings, which apply to
// cmd and its children only. On cgroup v2 the command is created in the
// cgroup (clone3 CLONE_INTO_CGROUP). A v1 cgroup, rlimits and
// oom_score_adj are applied while the command is stopped at its execve
// (the child is started traced and released once they are in place), so it
// runs no instruction of its own unlimited. The caller waits for cmd, then
// calls [Limiter.Remove].
func (l *Limiter) Start(settings []Setting, name string, cmd *exec.Cmd) (g *Group, err error) {
	plan, err := l.host.Plan(settings, nil)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adopt()
	v2 := l.host.V2
	useV2 := v2 != nil && (len(l.host.V1) == 0 || len(plan.Enable[v2]) > 0)
	if useV2 && (l.self == nil || l.self.dirs[v2] == "") && v2.Path != "/" {
		// The shell's cgroup holds the shell, so it cannot enable
		// controllers for a child: the shell moves to a leaf of a group
		// of its own first, in which the command's group is made.
		if err := l.set(nil, "", true); err != nil {
			return nil, err
		}
	}
	if name == "" {
		l.seq++
		name = fmt.Sprintf("nsh-%d-%d", l.host.Pid, l.seq)
	}
	g = newGroup(l.host, name)
	j := &journal{}
	defer func() {
		if err != nil {
			j.rollback()
		}
	}()
	for _, hv := range l.host.V1 {
		if err := g.makeDir(j, hv, l.shellDir(hv), false); err != nil {
			return nil, err
		}
	}
	if useV2 {
		if err := g.makeDir(j, v2, l.limitDir(v2), false); err != nil {
			return nil, err
		}
		if err := g.enable(j, v2, plan.Enable[v2], false); err != nil {
			return nil, err
		}
	}
	for _, w := range plan.Writes {
		if err := g.write(j, w, true); err != nil {
			return nil, err
		}
	}
	g.oom = countersAt(l.host, l.host.serving("memory"), g.Dir("memory"), l.ownDirs(g))
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if useV2 {
		fd, err := unix.Open(g.dirs[v2], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &Error{Op: "open", Path: g.dirs[v2], Err: err}
		}
		defer unix.Close(fd)
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	stop := len(l.host.V1) > 0 || len(plan.Rlimits) > 0 || plan.OOMScore != nil
	if stop {
		// ptrace(2): the tracer is the thread that forked; it alone
		// may wait for and release the stopped child.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd.SysProcAttr.Ptrace = true
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if stop {
		if err := l.setupStopped(g, cmd.Process.Pid, plan); err != nil {
			cmd.Process.Kill()
			unix.PtraceDetach(cmd.Process.Pid)
			cmd.Wait()
			return nil, err
		}
	}
	l.groups = append(l.groups, g)
	return g, nil
}

// setupStopped puts a child stopped at its execve into the group's v1
// cgroups and sets its rlimits and OOM score, then lets it run.
func (l *Limiter) setupStopped(g *Group, pid int, plan *Plan) error {
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return &Error{Op: "wait4", Path: fmt.Sprint(pid), Err: err}
	}
	if !ws.Stopped() {
		return &Error{Op: "wait4", Path: fmt.Sprint(pid), Err: unix.ECHILD, Note: "the command did not stop at its execve"}
	}
	j := &journal{} // the group is removed as a whole on failure
	for _, hv := range l.host.V1 {
		if err := movePid(g.procs[hv], pid); err != nil {
			return err
		}
	}
	if plan.OOMScore != nil {
		if err := setOOMScore(j, l.host.Root, pid, *plan.OOMScore); err != nil {
			return err
		}
	}
	if err := checkRlimits(pid, plan.Rlimits); err != nil {
		return err
	}
	for _, s := range plan.Rlimits {
		if err := setRlimit(j, pid, s); err != nil {
			return err
		}
	}
	if err := unix.PtraceDetach(pid); err != nil {
		return &Error{Op: "ptrace(PTRACE_DETACH)", Path: fmt.Sprint(pid), Err: err}
	}
	return nil
}

// Explain says why a command started by [Limiter.Start] in g and killed by
// SIGKILL died, as [Explain] does.
func (g *Group) Explain() string { return Explain(g.oom) }

// Remove kills what is left in a command's group (the command's orphans:
// the group is the command's, and ends with it) and removes the group.
func (l *Limiter) Remove(g *Group) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remove(g)
}

func (l *Limiter) remove(g *Group) error {
	var errs []error
	if len(g.pids()) > 0 {
		errs = append(errs, g.Kill())
	}
	errs = append(errs, g.remove())
	for i, x := range l.groups {
		if x == g {
			l.groups = append(l.groups[:i], l.groups[i+1:]...)
			break
		}
	}
	return errors.Join(errs...)
}

// ownDirs are the directories of the groups nsh made, for Explain.
func (l *Limiter) ownDirs(extra ...*Group) map[string]bool {
	own := map[string]bool{}
	for _, g := range append(append([]*Group{l.self}, l.groups...), extra...) {
		if g == nil {
			continue
		}
		for _, d := range g.dirs {
			own[d] = true
		}
	}
	return own
}

// OOMCounters snapshots the OOM-kill counters of the memory cgroup the
// shell is in and its ancestors; see [Explain].
func (l *Limiter) OOMCounters() Counters {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adopt()
	hv := l.host.serving("memory")
	if hv == nil {
		return Counters{root: l.host.Root, system: vmstatOOM(l.host.Root)}
	}
	return countersAt(l.host, hv, l.limitDir(hv), l.ownDirs())
}

// Lookup finds the group called name: one made for a command, or the
// directories named so under the cgroup groups are made in (a name
// beginning with "/" is taken from each hierarchy's root). "" is the
// shell's own group.
func (l *Limiter) Lookup(name string) (*Group, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adopt()
	if name == "" {
		if l.self == nil {
			return nil, &UnavailableError{Key: "cgroup", Reason: "the shell has no cgroup of its own (no limit has made one)"}
		}
		return l.self, nil
	}
	for _, g := range l.groups {
		if g.Name == name {
			return g, nil
		}
	}
	g := &Group{Name: name, host: l.host, dirs: map[*Hierarchy]string{}, procs: map[*Hierarchy]string{}, parents: map[*Hierarchy]string{}}
	for _, hv := range append(append([]*Hierarchy{}, l.host.V1...), l.host.V2) {
		if hv == nil {
			continue
		}
		base := l.shellDir(hv)
		if hv.Version == 2 {
			base = l.limitDir(hv)
		}
		d := filepath.Join(base, name)
		if strings.HasPrefix(name, "/") {
			d = hv.Dir(name)
		}
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			g.dirs[hv], g.procs[hv] = d, d
		}
	}
	if len(g.dirs) == 0 {
		return nil, &Error{Op: "find cgroup", Path: name, Err: unix.ENOENT}
	}
	return g, nil
}

// Holds reports whether the shell process is in g or below it, which
// freezing or killing g would stop or kill.
func (l *Limiter) Holds(g *Group) bool {
	for _, p := range g.pids() {
		if p == l.host.Pid {
			return true
		}
	}
	return false
}

// Cleanup undoes what the limiter made, when the shell exits: groups made
// for commands still running in the background are killed and removed;
// the shell moves back to the cgroups it came from, and its own group is
// removed with the intermediate directories a NAME with slashes made, and
// the controllers it enabled in cgroup.subtree_control are taken back.
//
// Processes the shell started in the background and left running keep the
// shell's group alive: it is not removed, and the error says which
// processes hold it (rmdir of a populated cgroup fails with EBUSY).
func (l *Limiter) Cleanup() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for len(l.groups) > 0 {
		errs = append(errs, l.remove(l.groups[0]))
	}
	g := l.self
	if g == nil || len(g.created) == 0 && len(g.enabled) == 0 {
		return errors.Join(errs...)
	}
	for _, hv := range g.hierarchies() {
		if g.procs[hv] != hv.Dir(hv.Path) {
			if err := movePid(hv.Dir(hv.Path), l.host.Pid); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if left := g.pids(); len(left) > 0 {
		errs = append(errs, &Error{Op: "rmdir", Path: strings.Join(g.Dirs(), " "), Err: unix.EBUSY,
			Note: fmt.Sprintf("left for processes %v that the shell started and that still run", left)})
		return errors.Join(errs...)
	}
	if err := g.remove(); err != nil {
		errs = append(errs, err)
	} else {
		l.self = nil
	}
	return errors.Join(errs...)
}

// Cleanup undoes what this process's limiter made; see [Limiter.Cleanup].
// The shell calls it once, when it exits. It does nothing if no limit
// was set.
func Cleanup() error {
	if shell == nil {
		return nil
	}
	return shell.Cleanup()
}

// OOMSnapshot snapshots the OOM-kill counters of the shell's memory cgroup
// and its ancestors, and the system's. The shell takes one before it
// starts a command and, if the command dies of SIGKILL, passes it to
// [Explain]. It costs a few small reads.
func OOMSnapshot() Counters {
	l, err := Shell()
	if err != nil {
		return Counters{}
	}
	return l.OOMCounters()
}
