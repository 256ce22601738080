package limits

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Group is a cgroup nsh made or joined: one directory in each hierarchy it
// uses. On cgroup v2 the shell's own group keeps the shell in a leaf child
// named "shell", so that the group can enable controllers for the groups
// of commands made inside it (the no-internal-process rule).
type Group struct {
	// Name is the group's path relative to the cgroup it was made in, such
	// as "nsh-123".
	Name string
	// Owned is set when nsh made the group; it is removed when done.
	Owned bool

	host    *Host
	dirs    map[*Hierarchy]string // where its limits are written
	procs   map[*Hierarchy]string // where its processes go
	parents map[*Hierarchy]string // the cgroup it was made in
	created []string              // directories made, parents first
	enabled []enabled             // controllers added to subtree_control
	oom     Counters              // OOM counters when it was made
}

type enabled struct{ dir, controller string }

// Dir returns the group's directory in the hierarchy that serves
// controller, or "".
func (g *Group) Dir(controller string) string {
	hv := g.host.serving(controller)
	if hv == nil {
		return ""
	}
	return g.dirs[hv]
}

// Dirs returns the group's directories, one per hierarchy.
func (g *Group) Dirs() []string {
	var out []string
	for _, d := range g.dirs {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

func newGroup(h *Host, name string) *Group {
	return &Group{Name: name, Owned: true, host: h, dirs: map[*Hierarchy]string{},
		procs: map[*Hierarchy]string{}, parents: map[*Hierarchy]string{}}
}

// makeDir makes the group's directory in hv under parent, with the
// intermediate directories a NAME with slashes needs, and on v2 with the
// leaf "run" for the processes when leaf is set. Each directory made is
// recorded for removal, and undone on rollback.
func (g *Group) makeDir(j *journal, hv *Hierarchy, parent string, leaf bool) error {
	dir, err := mkdirs(j, g.host, hv, parent, g.Name, &g.created)
	if err != nil {
		return err
	}
	g.dirs[hv], g.parents[hv], g.procs[hv] = dir, parent, dir
	if leaf {
		if g.procs[hv], err = mkdirs(j, g.host, hv, dir, "run", &g.created); err != nil {
			return err
		}
	}
	return nil
}

// mkdirs makes the cgroup parent/name and the directories between,
// appending each directory it makes to created (and removing it again on
// rollback). A new v1 cpuset gets its parent's cpus and mems, without
// which it takes no process (runc copies them likewise).
func mkdirs(j *journal, h *Host, hv *Hierarchy, parent, name string, created *[]string) (string, error) {
	dir := filepath.Join(parent, name)
	if rel, err := filepath.Rel(parent, dir); err != nil || strings.HasPrefix(rel, "..") || rel == "." {
		return "", &UsageError{Reason: fmt.Sprintf("cgroup name %q leaves the parent cgroup", name)}
	}
	var todo []string
	for d := dir; d != parent; d = filepath.Dir(d) {
		todo = append(todo, d)
	}
	slices.Reverse(todo)
	for _, d := range todo {
		err := h.mkdir(d)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", &Error{Op: "mkdir", Path: d, Err: err, Note: writeHint("mkdir", err)}
		}
		*created = append(*created, d)
		j.add(func() error {
			*created = slices.DeleteFunc(*created, func(s string) bool { return s == d })
			return h.rmdir(d)
		})
		if hv.Version == 1 && hv.Has("cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := readFile(filepath.Join(filepath.Dir(d), f))
				if err != nil {
					return "", err
				}
				if err := writeFile(filepath.Join(d, f), v); err != nil {
					return "", err
				}
			}
		}
	}
	return dir, nil
}

// enable adds controllers to cgroup.subtree_control from the hierarchy's
// root down to the parent of the group's directory (top-down, as cgroup v2
// requires), recording what it added. into is set to enable them in the
// group's own subtree_control as well, for groups made inside it.
func (g *Group) enable(j *journal, hv *Hierarchy, controllers []string, into bool) error {
	if hv.Version != 2 || len(controllers) == 0 {
		return nil
	}
	last := g.parents[hv]
	if into {
		last = g.dirs[hv]
	}
	rel, err := filepath.Rel(hv.Mount, last)
	if err != nil {
		return err
	}
	chain := []string{hv.Mount}
	if rel != "." {
		d := hv.Mount
		for _, part := range strings.Split(rel, "/") {
			d = filepath.Join(d, part)
			chain = append(chain, d)
		}
	}
	for _, d := range chain {
		file := filepath.Join(d, "cgroup.subtree_control")
		have := readWords(file)
		for _, c := range controllers {
			if slices.Contains(have, c) {
				continue
			}
			if avail := readWords(filepath.Join(d, "cgroup.controllers")); !slices.Contains(avail, c) {
				return &UnavailableError{Key: c, Reason: fmt.Sprintf("the %s controller is not available in %s (not enabled in its parent's cgroup.subtree_control, or not delegated)", c, d)}
			}
			if err := writeFile(file, "+"+c); err != nil {
				return err
			}
			e := enabled{d, c}
			g.enabled = append(g.enabled, e)
			j.add(func() error {
				g.enabled = slices.DeleteFunc(g.enabled, func(x enabled) bool { return x == e })
				return writeFile(file, "-"+c)
			})
		}
	}
	return nil
}

// movePid writes pid into dir's cgroup.procs: the whole process moves,
// every thread (tasks would move one thread).
func (h *Host) movePid(dir string, pid int) error {
	if h.dirs != nil {
		return h.dirs.MovePid(dir, pid)
	}
	return writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid))
}

// write writes a value to a file of the group, recording how to put the
// old value back unless the group is new in this apply.
func (g *Group) write(j *journal, w Write, fresh bool) error {
	dir := g.dirs[w.Hier]
	if dir == "" {
		return fmt.Errorf("internal error: group %s has no directory in the %s hierarchy", g.Name, strings.Join(w.Hier.Controllers, ","))
	}
	path := filepath.Join(dir, w.File)
	if !exists(path) {
		return &UnavailableError{Key: w.Key, Reason: fmt.Sprintf("%s does not exist (the kernel lacks this feature, or the controller is not enabled there)", path)}
	}
	var old string
	if !fresh {
		var err error
		if old, err = readFile(path); err != nil {
			return err
		}
	}
	if err := writeFile(path, w.Value); err != nil {
		return err
	}
	if !fresh {
		j.add(func() error { return writeFile(path, restoreValue(w, old)) })
	}
	return nil
}

// restoreValue returns what to write to put back old, the content of the
// file before w. Files keyed by device take the old line of that device,
// or no limit if it had none.
func restoreValue(w Write, old string) string {
	dev, _, _ := strings.Cut(w.Value, " ")
	switch {
	case w.File == "io.max" || strings.HasPrefix(w.File, "blkio.throttle."):
		for _, line := range strings.Split(old, "\n") {
			if strings.HasPrefix(line, dev+" ") {
				return line
			}
		}
		if w.File == "io.max" {
			return dev + " rbps=max wbps=max riops=max wiops=max"
		}
		return dev + " 0"
	case w.File == "io.weight":
		line, _, _ := strings.Cut(old, "\n")
		return line
	}
	return old
}

// pids returns the processes in the group and its descendants, from every
// hierarchy it has a directory in.
func (g *Group) pids() []int {
	seen := map[int]bool{}
	var out []int
	for _, dir := range g.dirs {
		walkDirs(dir, func(p string) bool {
			for _, w := range readWords(filepath.Join(p, "cgroup.procs")) {
				if n, err := strconv.Atoi(w); err == nil && !seen[n] {
					seen[n] = true
					out = append(out, n)
				}
			}
			return true
		})
	}
	slices.Sort(out)
	return out
}

// Freeze stops (frozen true) or resumes every process of the group with
// the freezer: v2's cgroup.freeze, or v1's freezer.state. It waits until
// the kernel reports the group frozen.
func (g *Group) Freeze(frozen bool) error {
	hv := g.host.serving("freezer")
	if hv == nil || g.dirs[hv] == "" {
		return &UnavailableError{Key: "freezer", Reason: g.host.notServed("freezer")}
	}
	dir := g.dirs[hv]
	var file, value, done string
	if hv.Version == 2 {
		file, value = "cgroup.freeze", map[bool]string{true: "1", false: "0"}[frozen]
		done = map[bool]string{true: "frozen 1", false: "frozen 0"}[frozen]
	} else {
		file, value = "freezer.state", map[bool]string{true: "FROZEN", false: "THAWED"}[frozen]
		done = value
	}
	if err := writeFile(filepath.Join(dir, file), value); err != nil {
		return err
	}
	check := filepath.Join(dir, file)
	if hv.Version == 2 {
		check = filepath.Join(dir, "cgroup.events")
	}
	for delay := time.Millisecond; ; delay *= 2 {
		v, err := readFile(check)
		if err != nil {
			return err
		}
		if strings.Contains(v, done) {
			return nil
		}
		if delay > 2*time.Second {
			return &Error{Op: "freeze", Path: dir, Err: unix.ETIMEDOUT, Note: "the kernel did not report the group " + strings.ToLower(value) + " in 4s"}
		}
		if hv.Version == 1 && frozen {
			// v1 may stay FREEZING while a task is in an
			// uninterruptible sleep; asking again retries (runc does).
			writeFile(filepath.Join(dir, file), value)
		}
		time.Sleep(delay)
	}
}

// Kill kills every process of the group: by cgroup.kill where the kernel
// has it (v2, Linux 5.14), else by freezing the group so that nothing forks
// meanwhile, sending SIGKILL to each process and thawing it. It waits up to
// two seconds for the group to empty.
func (g *Group) Kill() error {
	killed := false
	if hv := g.host.V2; hv != nil && g.dirs[hv] != "" {
		f := filepath.Join(g.dirs[hv], "cgroup.kill")
		if exists(f) {
			if err := writeFile(f, "1"); err != nil {
				return err
			}
			killed = true
		}
	}
	if !killed {
		frozen := g.Freeze(true) == nil
		for _, pid := range g.pids() {
			if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
				return &Error{Op: "kill", Path: strconv.Itoa(pid), Err: err}
			}
		}
		if frozen {
			if err := g.Freeze(false); err != nil {
				return err
			}
		}
	}
	for delay := time.Millisecond; len(g.pids()) > 0; delay *= 2 {
		if delay > time.Second {
			return &Error{Op: "kill", Path: strings.Join(g.Dirs(), " "), Err: unix.EBUSY, Note: fmt.Sprintf("processes %v are still there 2s after SIGKILL", g.pids())}
		}
		time.Sleep(delay)
	}
	return nil
}

// remove removes the directories nsh made for the group, deepest first,
// then takes back the controllers it enabled; see removeDirs and disable.
func (g *Group) remove() error {
	if err := g.removeDirs(); err != nil {
		return err
	}
	return g.disable()
}

// removeDirs removes the directories nsh made for the group, deepest
// first. It fails with EBUSY, explained, while processes remain.
func (g *Group) removeDirs() error {
	var errs []error
	for i := len(g.created) - 1; i >= 0; i-- {
		if err := g.host.rmdir(g.created[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		g.created = slices.Delete(g.created, i, i+1)
	}
	return errors.Join(errs...)
}

// disable takes back the controllers the group enabled in
// cgroup.subtree_control, where no child cgroup is left that may use them.
func (g *Group) disable(leaves ...string) error {
	var errs []error
	for i := len(g.enabled) - 1; i >= 0; i-- {
		e := g.enabled[i]
		if hasChildDirs(e.dir, leaves) {
			continue
		}
		if err := writeFile(filepath.Join(e.dir, "cgroup.subtree_control"), "-"+e.controller); err != nil {
			errs = append(errs, err)
			continue
		}
		g.enabled = slices.Delete(g.enabled, i, i+1)
	}
	return errors.Join(errs...)
}

// hasChildDirs reports whether dir has a child cgroup other than those in
// except (the shell's leaves, which use no controller).
func hasChildDirs(dir string, except []string) bool {
	for _, e := range readDir(dir) {
		if e.IsDir() && !slices.Contains(except, filepath.Join(dir, e.Name())) {
			return true
		}
	}
	return false
}
