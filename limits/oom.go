package limits

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Counters is a snapshot of OOM-kill counters: those of a cgroup and each of
// its ancestors in the memory hierarchy, and the system's. [Explain]
// compares a snapshot taken before a command with the counters after it.
type Counters struct {
	hv     *Hierarchy
	dirs   []string // the cgroup first, then its ancestors
	kills  []uint64
	system uint64
	root   string
	own    map[string]bool // directories of groups nsh made
}

// countersAt snapshots the counters of dir in hv and its ancestors up to
// the hierarchy's root.
func countersAt(h *Host, hv *Hierarchy, dir string, own map[string]bool) Counters {
	c := Counters{hv: hv, root: h.Root, own: own, system: vmstatOOM(h.Root)}
	if hv == nil || dir == "" {
		return c
	}
	for d := dir; ; d = filepath.Dir(d) {
		c.dirs = append(c.dirs, d)
		c.kills = append(c.kills, oomKills(hv, d))
		if d == hv.Mount || len(d) <= len(hv.Mount) {
			break
		}
	}
	return c
}

// oomKills reads the oom_kill count of a memory cgroup: memory.events (v2,
// hierarchical: it counts the kills in the subtree) or memory.oom_control
// (v1, where the count stays in the cgroup whose limit was hit).
func oomKills(hv *Hierarchy, dir string) uint64 {
	file := "memory.oom_control"
	if hv.Version == 2 {
		file = "memory.events"
	}
	v, err := readFile(filepath.Join(dir, file))
	if err != nil {
		return 0
	}
	return field(v, "oom_kill")
}

func vmstatOOM(root string) uint64 {
	v, err := readFile(filepath.Join(root, "proc/vmstat"))
	if err != nil {
		return 0
	}
	return field(v, "oom_kill")
}

// field returns the number after name in "name N" lines.
func field(content, name string) uint64 {
	for _, line := range strings.Split(content, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == name {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// Explain says why a command that died of SIGKILL was killed, comparing the
// counters now with before: "out of memory (memory=256M)" when the kernel's
// OOM killer acted for a cgroup's memory limit (the deepest cgroup whose
// count grew: the one whose limit was hit), naming the cgroup when nsh did
// not make it; "out of memory (system)" for a system-wide OOM kill; "" when
// no count grew, so the SIGKILL came from elsewhere.
//
// The counters are per cgroup, not per process: a command killed at the
// same moment as an OOM kill of another process in the same cgroup is
// reported as out of memory too.
func Explain(before Counters) string {
	if before.root == "" {
		return "" // no snapshot: the cgroups could not be read
	}
	for i, d := range before.dirs {
		if oomKills(before.hv, d) > before.kills[i] {
			s := "out of memory (" + memoryLimit(before.hv, d)
			if !before.own[d] {
				rel := strings.TrimPrefix(d, before.hv.Mount)
				if rel == "" {
					rel = "/"
				}
				s += " of cgroup " + rel
			}
			return s + ")"
		}
	}
	if vmstatOOM(before.root) > before.system {
		return "out of memory (system)"
	}
	return ""
}

// memoryLimit prints a memory cgroup's limit as "memory=256M".
func memoryLimit(hv *Hierarchy, dir string) string {
	file := "memory.limit_in_bytes"
	if hv.Version == 2 {
		file = "memory.max"
	}
	v, err := readFile(filepath.Join(dir, file))
	if err != nil {
		return "memory=?"
	}
	if v == "max" {
		return "memory=max"
	}
	return "memory=" + FormatSize(parseV1Size(v))
}

// String prints the snapshot, for tests and debugging.
func (c Counters) String() string {
	return fmt.Sprintf("oom_kill %v in %v, system %d", c.kills, c.dirs, c.system)
}
