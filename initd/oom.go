package initd

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// oomCounter is the kernel's count of OOM kills in the memory cgroup of
// the child, read when it started: memory.events "oom_kill" (cgroup v2) or
// memory.oom_control "oom_kill" (v1). A rise while the child was killed by
// SIGKILL says the OOM killer did it.
type oomCounter struct {
	file   string
	before uint64
	where  string // for the message: "memory limit of cgroup /x"
}

// oomBefore finds the child's memory cgroup and reads its counter.
func oomBefore(s *sysCalls, pid int) oomCounter {
	if !procIsOurs(s) {
		return oomCounter{}
	}
	b, err := os.ReadFile(s.procRoot + "/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return oomCounter{}
	}
	mi, _ := readMountinfo(s.procRoot + "/self/mountinfo")
	var v1, v2 string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			v2 = f[2]
		case hasWord(f[1], "memory"):
			v1 = f[2]
		}
	}
	var o oomCounter
	for _, m := range mi {
		switch {
		case v1 != "" && m.Type == "cgroup" && hasWord(m.SuperOpts, "memory"):
			o.file = filepath.Join(m.Dst, rel(v1, m.Root), "memory.oom_control")
			o.where = "memory limit of cgroup " + v1
		case v2 != "" && v1 == "" && m.Type == "cgroup2":
			o.file = filepath.Join(m.Dst, rel(v2, m.Root), "memory.events")
			o.where = "memory limit of cgroup " + v2
		default:
			continue
		}
		break
	}
	var ok bool
	if o.before, ok = readOOMKill(o.file); !ok {
		return oomCounter{}
	}
	return o
}

// fired reports whether the counter rose since oomBefore.
func (o *oomCounter) fired(*sysCalls) bool {
	if o.file == "" {
		return false
	}
	n, ok := readOOMKill(o.file)
	return ok && n > o.before
}

func readOOMKill(file string) (uint64, bool) {
	if file == "" {
		return 0, false
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		if k == "oom_kill" {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func hasWord(list, w string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == w {
			return true
		}
	}
	return false
}

// rel returns cgroup path p relative to the root of a cgroup mount.
func rel(p, root string) string {
	if root == "/" {
		return p
	}
	if r, ok := strings.CutPrefix(p, root); ok {
		return r
	}
	return p
}
