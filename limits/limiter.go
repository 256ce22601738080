package limits

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Limiter holds the limits state of one shell process: the cgroup it made
// for the commands it runs (or inherited from the nsh that started it) and
// the cgroups it made for single commands. A shell has one, [Shell]; tests
// make their own on fake trees with [NewLimiter].
//
// The shell itself never runs inside a group it limits: a Go program is
// multithreaded, its threads count against pids= (and it dies when the
// runtime cannot make one), and it must survive an OOM kill of what it
// runs. Its group NAME has a sibling NAME.shell holding the shell, as a
// container runtime's shim sits beside the container's cgroup; the
// commands it starts are put into NAME by [Limiter.StartCommand].
type Limiter struct {
	host *Host

	mu       sync.Mutex
	self     *Group                // the shell's group, made or adopted; nil if none
	adopted  bool                  // self was looked for among inherited cgroups
	leaf     map[*Hierarchy]string // NAME.shell, where the shell is
	from     map[*Hierarchy]string // the cgroup the shell came from
	leafMade []string              // NAME.shell directories made
	groups   []*Group              // groups made for single commands
	placing  sync.Mutex            // serialises moves into v1 groups
	seq      int
}

// NewLimiter returns a limiter for the process host.Pid on host.
func NewLimiter(h *Host) *Limiter {
	return &Limiter{host: h, leaf: map[*Hierarchy]string{}, from: map[*Hierarchy]string{}}
}

var (
	shellOnce sync.Once
	shell     *Limiter
	shellErr  error
)

// Shell returns the limiter of this process, detecting the host's cgroups
// on first use. The shell calls it when it starts, so that a copy started
// by unshare or enter finds the group it inherits before it can pivot.
func Shell() (*Limiter, error) {
	shellOnce.Do(func() {
		h, err := Detect()
		if err != nil {
			shellErr = err
			return
		}
		shell = NewLimiter(h)
		// A copy of a shell (unshare, enter) takes over its group now,
		// before it can leave the root the cgroups are mounted in.
		shell.mu.Lock()
		shell.adopt()
		shell.mu.Unlock()
	})
	return shell, shellErr
}

// Host returns the host the limiter works on.
func (l *Limiter) Host() *Host { return l.host }

// Self returns the shell's group, if a limit line made one (here or in the
// nsh that started this one), else nil.
func (l *Limiter) Self() *Group {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adopt()
	return l.self
}

// adopt takes over the group an nsh that started this process made, such
// as the original shell before `unshare` ran the rest of the script in a
// copy: this process is then in NAME.shell in every hierarchy, beside the
// group NAME. The copy puts its commands into that group and changes its
// limits rather than making another; the original removes it.
func (l *Limiter) adopt() {
	if l.self != nil || l.adopted {
		return
	}
	l.adopted = true
	g := &Group{host: l.host, dirs: map[*Hierarchy]string{}, procs: map[*Hierarchy]string{}, parents: map[*Hierarchy]string{}}
	hs := l.hierarchies()
	if v2 := l.host.V2; v2 != nil && len(l.host.V1) > 0 && strings.HasSuffix(v2.Path, ".shell") {
		hs = append(hs, v2)
	}
	leaf, from := map[*Hierarchy]string{}, map[*Hierarchy]string{}
	for _, hv := range hs {
		name, ok := strings.CutSuffix(filepath.Base(hv.Path), ".shell")
		dir := filepath.Join(filepath.Dir(hv.Dir(hv.Path)), name)
		if !ok || (g.Name != "" && name != g.Name) || !exists(dir) {
			return
		}
		g.Name = name
		g.dirs[hv], g.procs[hv], g.parents[hv] = dir, dir, filepath.Dir(dir)
		if hv.Version == 2 {
			g.procs[hv] = filepath.Join(dir, "run")
		}
		leaf[hv], from[hv] = hv.Dir(hv.Path), filepath.Dir(dir)
	}
	if g.Name != "" {
		l.self, l.leaf, l.from = g, leaf, from
		l.host.hold()
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

// limitDir is the cgroup whose limits the shell's commands are under, in
// hv: its group, or the cgroup the shell is in.
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

// Set applies a limit line to the shell: rlimits and oom_score_adj to the
// shell process, which every command inherits; cgroup limits to the
// shell's group, which every command it starts afterwards is put into.
// The first cgroup key makes the group, named name (default nsh-PID),
// under the cgroup the shell is in, in every hierarchy (on v2 with a leaf
// "run" for the commands), and moves the shell into NAME.shell next to it.
// Later lines change the group's limits. If any step fails, the steps
// before it are undone and the error is returned: the previous limits stay.
func (l *Limiter) Set(settings []Setting, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set(settings, name, false)
}

func (l *Limiter) set(settings []Setting, name string, force bool) (err error) {
	l.adopt()
	if l.self != nil && name != "" && name != l.self.Name {
		return &UnavailableError{Key: "-g " + name, Reason: fmt.Sprintf("the shell already has its group %s", l.self.Name)}
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
		if err := l.host.hold(); err != nil {
			return err
		}
		// Best effort: groups of shells that died without cleaning up.
		l.sweep()
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
		// that no v1 hierarchy has (hugetlb on some).
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

// join makes the group's directory in hv under the cgroup the shell is
// in, and moves the shell into NAME.shell beside the group. On v2 this empties
// the shell's cgroup, which may then enable controllers for the group.
func (l *Limiter) join(j *journal, g *Group, hv *Hierarchy) error {
	from, parent := hv.Dir(hv.Path), groupParent(hv)
	leaf, err := mkdirs(j, l.host, hv, parent, g.Name+".shell", &l.leafMade)
	if err != nil {
		return err
	}
	if err := l.host.movePid(leaf, l.host.Pid); err != nil {
		return err
	}
	l.leaf[hv], l.from[hv] = leaf, from
	j.add(func() error {
		delete(l.leaf, hv)
		delete(l.from, hv)
		return l.host.movePid(from, l.host.Pid)
	})
	return g.makeDir(j, hv, parent, hv.Version == 2)
}

// groupParent is the cgroup the shell's group is made in, in hv: the
// cgroup the shell is in; but when that is the "run" leaf of another
// shell's group on v2 (an nsh run by an nsh), the group itself, so that
// "run" stays a leaf the other shell can still start commands in.
func groupParent(hv *Hierarchy) string {
	dir := hv.Dir(hv.Path)
	if hv.Version == 2 && filepath.Base(dir) == "run" && exists(filepath.Dir(dir)+".shell") {
		return filepath.Dir(dir)
	}
	return dir
}

// freeName returns name, or the first of nsh-PID, nsh-PID.1, ... that no
// hierarchy has yet where the group is made (pids repeat across pid
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
			if hv != nil && (exists(filepath.Join(groupParent(hv), n)) || exists(filepath.Join(groupParent(hv), n+".shell"))) {
				taken = true
			}
		}
		if !taken {
			return n
		}
	}
}

// StartCommand starts cmd, a command the shell runs, in the shell's group
// when a limit line has made one; otherwise it is cmd.Start. The shell's
// exec handler calls it instead of cmd.Start.
func (l *Limiter) StartCommand(cmd *exec.Cmd) error {
	l.mu.Lock()
	l.adopt()
	g := l.self
	l.mu.Unlock()
	if g == nil {
		return cmd.Start()
	}
	return l.startIn(g, cmd, nil)
}

// StartCommand is [Limiter.StartCommand] for this process's limiter.
func StartCommand(cmd *exec.Cmd) error {
	l, err := Shell()
	if err != nil {
		return cmd.Start()
	}
	return l.StartCommand(cmd)
}

// BeforeExec moves the shell into its group, where its commands go, just
// before the exec builtin replaces the shell with a command, so that the
// command is limited like the others. If execve fails, undo moves the
// shell back. Without a group it does nothing.
func BeforeExec() (undo func() error, err error) {
	l, err := Shell()
	if err != nil {
		return func() error { return nil }, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adopt()
	j := &journal{}
	if l.self != nil {
		for hv, dir := range l.self.procs {
			from := l.leaf[hv]
			if from == "" {
				continue
			}
			if err := l.host.movePid(dir, l.host.Pid); err != nil {
				j.rollback()
				return nil, err
			}
			j.add(func() error { return l.host.movePid(from, l.host.Pid) })
		}
	}
	return j.rollback, nil
}

// Start starts cmd in a new cgroup named name (default nsh-PID-N) made
// inside the shell's group, or under the shell's cgroup if it has none,
// with the limits of settings, which apply to cmd and its children only.
// The caller waits for cmd, then calls [Limiter.Remove].
func (l *Limiter) Start(settings []Setting, name string, cmd *exec.Cmd) (*Group, error) {
	g, plan, err := l.commandGroup(settings, name)
	if err != nil {
		return nil, err
	}
	if err := l.startIn(g, cmd, plan); err != nil {
		l.Remove(g)
		return nil, err
	}
	return g, nil
}

// Prepare is Start for a caller that starts cmd itself, such as PID 1's
// reaper, which must own every wait: it makes the group and sets cmd up to
// be created in its v2 cgroup. Once cmd has started, the caller calls
// place with its pid (0 if it did not start), which moves it into the v1
// cgroups and sets its rlimits: unlike Start, the command runs unlimited
// by v1 controllers for the moment between its start and place.
func (l *Limiter) Prepare(settings []Setting, name string, cmd *exec.Cmd) (g *Group, place func(pid int) error, err error) {
	g, plan, err := l.commandGroup(settings, name)
	if err != nil {
		return nil, nil, err
	}
	place, err = l.prepare(g, cmd, plan)
	if err != nil {
		l.Remove(g)
		return nil, nil, err
	}
	return g, place, nil
}

// commandGroup makes the group of a single command and writes its limits.
func (l *Limiter) commandGroup(settings []Setting, name string) (g *Group, plan *Plan, err error) {
	plan, err = l.host.Plan(settings, nil)
	if err != nil {
		return nil, nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adopt()
	v2 := l.host.V2
	useV2 := v2 != nil && (len(l.host.V1) == 0 || len(plan.Enable[v2]) > 0)
	if useV2 && (l.self == nil || l.self.dirs[v2] == "") && v2.Path != "/" {
		// The shell's cgroup holds the shell and so cannot enable
		// controllers for a child (the no-internal-process rule): make
		// the shell its group, moving it aside, and nest in that.
		if err := l.set(nil, "", true); err != nil {
			return nil, nil, err
		}
		if l.self.dirs[v2] == "" {
			j := &journal{}
			if err := l.join(j, l.self, v2); err != nil {
				j.rollback()
				return nil, nil, err
			}
		}
	}
	if err := l.host.hold(); err != nil {
		return nil, nil, err
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
	hs := append([]*Hierarchy{}, l.host.V1...)
	if useV2 {
		hs = append(hs, v2)
	}
	for _, hv := range hs {
		made := len(g.created)
		if err := g.makeDir(j, hv, l.limitDir(hv), false); err != nil {
			return nil, nil, err
		}
		if len(g.created) == made {
			// -g NAME of a cgroup that exists: joined, and neither
			// emptied nor removed when the command ends.
			g.Owned = false
		}
	}
	if useV2 {
		if err := g.enable(j, v2, plan.Enable[v2], false); err != nil {
			return nil, nil, err
		}
	}
	for _, w := range plan.Writes {
		if err := g.write(j, w, true); err != nil {
			return nil, nil, err
		}
	}
	g.oom = countersAt(l.host, l.host.serving("memory"), g.Dir("memory"), l.ownDirs(g))
	l.groups = append(l.groups, g)
	return g, plan, nil
}

// PrepareCommand is [Limiter.Prepare] for a command the shell runs, in
// the shell's group (nil place and no change when it has none).
func (l *Limiter) PrepareCommand(cmd *exec.Cmd) (place func(pid int) error, err error) {
	l.mu.Lock()
	l.adopt()
	g := l.self
	l.mu.Unlock()
	if g == nil {
		return func(int) error { return nil }, nil
	}
	return l.prepare(g, cmd, nil)
}

// PrepareCommand is [Limiter.PrepareCommand] for this process's limiter.
func PrepareCommand(cmd *exec.Cmd) (place func(pid int) error, err error) {
	l, err := Shell()
	if err != nil {
		return func(int) error { return nil }, nil
	}
	return l.PrepareCommand(cmd)
}

// prepare sets cmd up to be created in the group's v2 cgroup (clone3 with
// CLONE_INTO_CGROUP) and returns place, which puts the started process
// into the group's v1 cgroups and sets its rlimits and OOM score.
func (l *Limiter) prepare(g *Group, cmd *exec.Cmd, plan *Plan) (place func(pid int) error, err error) {
	var v1 []string
	var v2 string
	for hv, d := range g.procs {
		if hv.Version == 2 {
			v2 = d
		} else {
			v1 = append(v1, d)
		}
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	fd := -1
	if v2 != "" {
		f, err := openFile(v2, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return nil, &Error{Op: "open", Path: v2, Err: err}
		}
		fd, err = unix.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			return nil, &Error{Op: "dup", Path: v2, Err: err}
		}
		unix.CloseOnExec(fd)
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	return func(pid int) error {
		if fd >= 0 {
			unix.Close(fd)
			fd = -1
		}
		if pid <= 0 {
			return nil
		}
		return l.place(pid, v1, plan)
	}, nil
}

// startIn starts cmd in the group's cgroups. On cgroup v2 the command is
// created in its cgroup. v1 has no such call: the command is started
// traced, so that it stops at its execve before running any instruction
// of its own; it is moved into the v1 cgroups and given its rlimits and
// OOM score while stopped, and then released (PTRACE_DETACH).
func (l *Limiter) startIn(g *Group, cmd *exec.Cmd, plan *Plan) error {
	place, err := l.prepare(g, cmd, plan)
	if err != nil {
		return err
	}
	stop := false
	for hv := range g.procs {
		stop = stop || hv.Version == 1
	}
	stop = stop || plan != nil && (len(plan.Rlimits) > 0 || plan.OOMScore != nil)
	// Set either way: a command made anew after ETXTBSY keeps its
	// SysProcAttr.
	cmd.SysProcAttr.Ptrace = stop
	if !stop {
		err := cmd.Start()
		place(0)
		return err
	}
	// The tracer is the thread that forked; it alone may wait for and
	// release the stopped child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		place(0)
		return err
	}
	pid := cmd.Process.Pid
	err = waitStopped(pid)
	if err == nil {
		err = place(pid)
	}
	if err == nil {
		if e := unix.PtraceDetach(pid); e != nil {
			err = &Error{Op: "ptrace(PTRACE_DETACH)", Path: fmt.Sprint(pid), Err: e}
		}
	}
	if err != nil {
		cmd.Process.Kill()
		unix.PtraceDetach(pid)
		cmd.Wait()
	}
	return err
}

// waitStopped waits for a traced child to stop at its execve.
func waitStopped(pid int) error {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &Error{Op: "wait4", Path: fmt.Sprint(pid), Err: err}
		}
		break
	}
	if !ws.Stopped() {
		return &Error{Op: "wait4", Path: fmt.Sprint(pid), Err: unix.ECHILD, Note: "the command did not stop at its execve"}
	}
	return nil
}

// place puts process pid into the v1 cgroups and sets its rlimits and OOM
// score.
func (l *Limiter) place(pid int, v1 []string, plan *Plan) error {
	// Moving a process in is not forking: v1's pids.max does not count
	// it. The check stands in for the one fork makes (serialised, so that
	// commands started at once cannot pass it together).
	l.placing.Lock()
	defer l.placing.Unlock()
	for _, d := range v1 {
		if err := pidsRoom(d); err != nil {
			return err
		}
	}
	for _, d := range v1 {
		if err := l.host.movePid(d, pid); err != nil {
			return err
		}
	}
	if plan == nil {
		return nil
	}
	j := &journal{} // a failure kills the command; nothing to undo
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
	if g.Owned && len(g.pids()) > 0 {
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
// directories named so inside the shell's group (or beside the shell's
// cgroup when it has none); a name beginning with "/" is taken from each
// hierarchy's root. "" is the shell's own group.
func (l *Limiter) Lookup(name string) (*Group, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adopt()
	if name == "" || l.self != nil && name == l.self.Name {
		if l.self == nil {
			return nil, &UnavailableError{Key: "cgroup", Reason: "the shell has no group (no limit line has made one); name one with -g"}
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
		d := filepath.Join(l.limitDir(hv), name)
		if strings.HasPrefix(name, "/") {
			d = hv.Dir(name)
		}
		if isDir(d) {
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
	return slices.Contains(g.pids(), l.host.Pid)
}

// Cleanup undoes what the limiter made, when the shell exits: the groups
// of single commands still running in the background are killed and
// removed; the shell moves back to the cgroups it came from; its
// NAME.shell directories are removed, and its group, with the
// intermediate directories a NAME with slashes made, unless processes are
// left in it; the controllers it enabled in cgroup.subtree_control are
// taken back where no other child cgroup remains.
//
// Background processes the shell started and left running keep its group
// alive (rmdir of a populated cgroup fails with EBUSY): it is left to them,
// still limited, and the error names them; the shell stays in NAME.shell,
// which it leaves empty when it exits, so that the next shell to make a
// group beside it sweeps both once they are gone. Groups that copies of
// this shell (unshare, enter) made and left when they exec'd are swept too.
func (l *Limiter) Cleanup() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for len(l.groups) > 0 {
		errs = append(errs, l.remove(l.groups[0]))
	}
	// Groups made by copies of this shell (unshare, enter) that ended in
	// exec are left behind by them: swept once this shell is done, as
	// are the groups of shells that died without cleaning up. A shell
	// that made no group and started no copy has nothing to sweep (and
	// every nsh ends through here: no directory reads for nothing).
	g := l.self
	if g != nil || l.seq > 0 || copyStarted.Load() {
		defer l.sweep()
	}
	owned := g != nil && (len(g.created) > 0 || len(g.enabled) > 0)
	removed := false
	if owned {
		if left := g.pids(); len(left) > 0 {
			// The shell stays in NAME.shell and exits: the empty leaf
			// beside the group marks it for a later sweep, once its
			// processes are gone.
			return errors.Join(append(errs, fmt.Errorf("cgroup %s is left, still limiting processes %v that the shell started in the background; the next nsh to make a group beside it removes it once they are gone", g.Name, left))...)
		} else if err := g.removeDirs(); err != nil {
			errs = append(errs, err)
		} else {
			removed = true
		}
	}
	if removed {
		// Before the shell moves back: on v2 its old cgroup takes no
		// process while controllers are enabled for its children.
		errs = append(errs, g.disable(l.leafMade...))
	}
	if len(l.leafMade) > 0 {
		for _, from := range l.from {
			if err := l.host.movePid(from, l.host.Pid); err != nil {
				errs = append(errs, err)
			}
		}
		for i := len(l.leafMade) - 1; i >= 0; i-- {
			if err := l.host.rmdir(l.leafMade[i]); err != nil {
				errs = append(errs, err)
				continue
			}
			l.leafMade = slices.Delete(l.leafMade, i, i+1)
		}
	}
	if removed {
		l.self = nil
		clear(l.leaf)
		clear(l.from)
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

// copyStarted records that this shell started a copy of itself (unshare,
// rfork, enter), which may make groups that Cleanup sweeps.
var copyStarted atomic.Bool

// CopyStarted tells the limits that the shell starts a copy of itself, so
// that Cleanup looks for the groups the copy may leave behind.
func CopyStarted() { copyStarted.Store(true) }

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

// pidsRoom fails with EAGAIN, as fork(2) does, when the v1 pids cgroup dir
// or one of its ancestors is at its pids.max.
func pidsRoom(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		cur, err := readFile(filepath.Join(d, "pids.current"))
		if err != nil {
			return nil // not the pids hierarchy, or above its root
		}
		max, _ := readFile(filepath.Join(d, "pids.max"))
		m, err1 := strconv.ParseUint(max, 10, 64)
		c, err2 := strconv.ParseUint(cur, 10, 64)
		if err1 == nil && err2 == nil && c >= m {
			return &Error{Op: "fork into", Path: dir, Err: unix.EAGAIN, Note: fmt.Sprintf("%s has reached its pids.max of %d", d, m)}
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}

// sweep removes the groups that shells which died without cleaning up
// left beside this shell's cgroup: a NAME.shell that holds no process
// (its shell is gone; a live one leaves it only in Cleanup, which removes
// it) beside a group NAME that holds none either. It is best effort: a
// group it cannot remove stays, and the error is dropped.
func (l *Limiter) sweep() {
	for _, hv := range append(l.hierarchies(), l.host.V2) {
		if hv == nil {
			continue
		}
		parent := groupParent(hv)
		for _, e := range readDir(parent) {
			name, ok := strings.CutSuffix(e.Name(), ".shell")
			if !ok || !e.IsDir() {
				continue
			}
			leaf, dir := filepath.Join(parent, e.Name()), filepath.Join(parent, name)
			if !exists(dir) || !emptyTree(leaf) || !emptyTree(dir) {
				continue
			}
			removeTree(l.host, dir)
			l.host.rmdir(leaf)
		}
	}
}

// emptyTree reports whether no process is in the cgroup dir or below it.
func emptyTree(dir string) bool {
	return walkDirs(dir, func(p string) bool {
		return len(readWords(filepath.Join(p, "cgroup.procs"))) == 0
	})
}

// removeTree removes the cgroup dir and the cgroups below it, deepest
// first.
func removeTree(h *Host, dir string) error {
	var dirs []string
	walkDirs(dir, func(p string) bool {
		dirs = append(dirs, p)
		return true
	})
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		errs = append(errs, h.rmdir(dirs[i]))
	}
	return errors.Join(errs...)
}
