package limits

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Hierarchy is one mounted cgroup hierarchy and this process's place in it.
type Hierarchy struct {
	// Version is 1 or 2.
	Version int
	// Mount is where it is mounted, under the host's root.
	Mount string
	// Controllers are the controllers bound to it: for v1 those named in
	// its mount options (name=systemd is not a controller and is not
	// listed); for v2 those its root lists in cgroup.controllers.
	Controllers []string
	// Path is this process's cgroup in it, as /proc/self/cgroup says,
	// relative to the mount's root.
	Path string
}

// Dir returns the directory of the cgroup at path (relative to the
// hierarchy's root) in this hierarchy.
func (h *Hierarchy) Dir(path string) string { return filepath.Join(h.Mount, path) }

// Has reports whether the hierarchy serves controller.
func (h *Hierarchy) Has(controller string) bool { return slices.Contains(h.Controllers, controller) }

// Host is the cgroup layout of the machine as this process sees it.
type Host struct {
	// Root is the directory the paths below are taken under: "/" on a real
	// host, a fake tree in tests.
	Root string
	// V1 are the v1 hierarchies that serve a controller nsh uses.
	V1 []*Hierarchy
	// V2 is the cgroup2 hierarchy, or nil.
	V2 *Hierarchy
	// Pid is the process that "the shell" means: os.Getpid() on a real
	// host.
	Pid int

	// real is set for the host this process runs on, whose hierarchies
	// are held open once a group is made (hold).
	real bool

	// dirs makes and removes cgroup directories: the kernel's cgroupfs
	// fills a new directory with its files and removes them with it,
	// which a fake tree in a test does by hand. nil means mkdir(2) and
	// rmdir(2).
	dirs dirOps
}

// dirOps is the seam for making and removing cgroup directories.
type dirOps interface {
	Mkdir(path string) error
	Rmdir(path string) error
	// MovePid writes pid into dir/cgroup.procs, which moves it out of
	// the cgroup it was in.
	MovePid(dir string, pid int) error
}

// v1Controllers are the v1 controllers a group of nsh's joins. devices,
// net_cls, net_prio, perf_event and name=systemd are left alone.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "hugetlb", "freezer"}

// v1Name is the v1 name of a v2 controller.
func v1Name(controller string) string {
	if controller == "io" {
		return "blkio"
	}
	return controller
}

// Mode returns "v2" (unified), "v1" (legacy), "hybrid" (v1 controllers and
// a cgroup2 mount) or "none".
func (h *Host) Mode() string {
	switch {
	case h.V2 != nil && len(h.V1) == 0:
		return "v2"
	case h.V2 != nil:
		return "hybrid"
	case len(h.V1) > 0:
		return "v1"
	}
	return "none"
}

// Detect reads the cgroup layout of this process from /proc.
func Detect() (*Host, error) {
	h, err := DetectAt("/", os.Getpid())
	if err != nil {
		return nil, err
	}
	h.real = true
	return h, nil
}

// hold opens a descriptor of each hierarchy's mount, through which the
// groups are reached from then on, even once the shell has moved to
// another root (pivot, chroot). It is called when a group is made or
// adopted: a shell without one keeps no descriptor open (a shell limited
// to nofile=16 has few to spare).
func (h *Host) hold() error {
	if !h.real {
		return nil
	}
	for _, hv := range append(append([]*Hierarchy{}, h.V1...), h.V2) {
		if hv == nil {
			continue
		}
		if err := anchor(hv.Mount); err != nil {
			return err
		}
	}
	return nil
}

// DetectAt reads the cgroup layout from root/proc/self/mountinfo and
// root/proc/self/cgroup, and the v2 controllers from the cgroup2 mount
// under root. Tests pass a fake tree as root; the mount points in its
// mountinfo are taken under root.
func DetectAt(root string, pid int) (*Host, error) {
	h := &Host{Root: root, Pid: pid}
	paths, err := readProcCgroup(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return nil, err
	}
	mi := filepath.Join(root, "proc/self/mountinfo")
	f, err := os.Open(mi)
	if err != nil {
		return nil, &Error{Op: "open", Path: mi, Err: unwrapPath(err)}
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(tail) < 3 {
			continue
		}
		fstype, mntRoot, mnt := tail[0], unescape(fields[3]), unescape(fields[4])
		switch fstype {
		case "cgroup2":
			if h.V2 != nil {
				continue
			}
			p, ok := paths["0:"]
			if !ok {
				continue
			}
			hv := &Hierarchy{Version: 2, Mount: filepath.Join(root, mnt), Path: relPath(p, mntRoot)}
			hv.Controllers = readWords(filepath.Join(hv.Mount, "cgroup.controllers"))
			h.V2 = hv
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(tail[2], ",") {
				if slices.Contains(v1Controllers, o) {
					ctrls = append(ctrls, o)
				}
			}
			if len(ctrls) == 0 {
				continue
			}
			key := strings.Join(ctrls, ",")
			if seen[key] {
				continue // a second mount of the same hierarchy
			}
			p, ok := paths[key]
			if !ok {
				continue
			}
			seen[key] = true
			h.V1 = append(h.V1, &Hierarchy{Version: 1, Mount: filepath.Join(root, mnt), Controllers: ctrls, Path: relPath(p, mntRoot)})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{Op: "read", Path: mi, Err: err}
	}
	return h, nil
}

// readProcCgroup maps each hierarchy's controllers ("memory", "cpu,cpuacct",
// "0:" for cgroup2) to this process's path in it.
func readProcCgroup(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &Error{Op: "read", Path: file, Err: unwrapPath(err)}
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			out["0:"] = parts[2]
			continue
		}
		var ctrls []string
		for _, c := range strings.Split(parts[1], ",") {
			if slices.Contains(v1Controllers, c) {
				ctrls = append(ctrls, c)
			}
		}
		// mountinfo lists a hierarchy's controllers in its own order;
		// /proc/self/cgroup in the kernel's. Both follow the kernel's
		// subsystem order, so the joined names match.
		if len(ctrls) > 0 {
			out[strings.Join(ctrls, ",")] = parts[2]
		}
	}
	return out, nil
}

// relPath makes the process's cgroup path relative to the mount's root
// (they differ for a bind mount of a subtree or inside a cgroup namespace
// whose root is not the mount's).
func relPath(p, mntRoot string) string {
	if mntRoot == "/" {
		return p
	}
	if rel, ok := strings.CutPrefix(p, mntRoot); ok && (rel == "" || rel[0] == '/') {
		if rel == "" {
			rel = "/"
		}
		return rel
	}
	return p
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readWords(file string) []string {
	data, err := readFile(file)
	if err != nil {
		return nil
	}
	return strings.Fields(data)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// serving returns the hierarchy that serves controller: the v1 hierarchy it
// is bound to, else cgroup2 if its root offers it. "freezer" is served by
// any cgroup2 hierarchy (cgroup.freeze is a core file).
func (h *Host) serving(controller string) *Hierarchy {
	for _, hv := range h.V1 {
		if hv.Has(v1Name(controller)) {
			return hv
		}
	}
	if h.V2 != nil && (controller == "freezer" || h.V2.Has(controller)) {
		return h.V2
	}
	return nil
}

// notServed explains why no hierarchy serves controller.
func (h *Host) notServed(controller string) string {
	switch h.Mode() {
	case "none":
		return "no cgroup filesystem is mounted (mount cgroup2 on /sys/fs/cgroup, or the v1 hierarchies)"
	case "v1":
		return fmt.Sprintf("no cgroup v1 hierarchy has the %s controller mounted", v1Name(controller))
	case "hybrid":
		return fmt.Sprintf("the %s controller is neither mounted as cgroup v1 nor available in the cgroup2 hierarchy at %s", controller, h.V2.Mount)
	}
	return fmt.Sprintf("the %s controller is not available in the cgroup2 hierarchy at %s (its root's cgroup.controllers does not list it)", controller, h.V2.Mount)
}
