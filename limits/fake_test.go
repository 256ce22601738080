package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeTree is a cgroup filesystem made of ordinary files under a temporary
// root, in one of three layouts, with a dirOps that fills a new cgroup
// directory with the files the kernel would give it.
type fakeTree struct {
	t    *testing.T
	root string
	h    *Host
}

const fakePid = 4242

// v1Files are the files a v1 cgroup of each controller has, with their
// values in a new cgroup.
var v1Files = map[string]map[string]string{
	"memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": "9223372036854771712",
		"memory.usage_in_bytes": "0", "memory.max_usage_in_bytes": "0", "memory.memsw.usage_in_bytes": "0",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0"},
	"cpu":     {"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000", "cpu.shares": "1024", "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0"},
	"cpuacct": {"cpuacct.usage": "0"},
	"cpuset":  {"cpuset.cpus": "", "cpuset.mems": ""},
	"pids":    {"pids.max": "max", "pids.current": "0"},
	"freezer": {"freezer.state": "THAWED"},
}

// v2Files are the files of each v2 controller in a cgroup whose parent
// enables it.
var v2Files = map[string]map[string]string{
	"memory":  {"memory.max": "max", "memory.high": "max", "memory.swap.max": "max", "memory.current": "0", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0"},
	"cpu":     {"cpu.max": "max 100000", "cpu.weight": "100"},
	"pids":    {"pids.max": "max", "pids.current": "0"},
	"cpuset":  {"cpuset.cpus": "", "cpuset.mems": ""},
	"io":      {"io.max": "", "io.weight": "default 100"},
	"hugetlb": {"hugetlb.2MB.max": "max", "hugetlb.2MB.current": "0"},
}

// newFakeTree lays out mode ("v1", "v2" or "hybrid"), with the process in
// /user/1 (v2) and /ctr (memory and pids of v1).
func newFakeTree(t *testing.T, mode string) *fakeTree {
	f := &fakeTree{t: t, root: t.TempDir()}
	var mi, pc []string
	id := 30
	mount := func(dst, fstype, opts string) {
		mi = append(mi, fmt.Sprintf("%d 22 0:%d / %s rw,relatime - %s %s rw,%s", id, id, dst, fstype, fstype, opts))
		os.MkdirAll(filepath.Join(f.root, dst), 0o755)
		id++
	}
	if mode != "v2" {
		ctrls := []string{"memory", "cpu,cpuacct", "cpuset", "pids", "freezer"}
		if mode == "hybrid" {
			ctrls = []string{"memory", "pids"}
		}
		for i, c := range ctrls {
			dir := "/sys/fs/cgroup/" + c
			mount(dir, "cgroup", c)
			path := "/"
			if c == "memory" || c == "pids" {
				path = "/ctr"
			}
			pc = append(pc, fmt.Sprintf("%d:%s:%s", i+1, c, path))
			for _, one := range strings.Split(c, ",") {
				f.fill(filepath.Join(f.root, dir), 1, one)
			}
			f.fill(filepath.Join(f.root, dir), 1, "")
			os.WriteFile(filepath.Join(f.root, dir, "cpuset.cpus"), []byte("0-3"), 0o644)
			os.WriteFile(filepath.Join(f.root, dir, "cpuset.mems"), []byte("0"), 0o644)
			if path != "/" {
				f.mkdir(filepath.Join(f.root, dir, path))
			}
		}
		mount("/sys/fs/cgroup/systemd", "cgroup", "none,name=systemd")
		pc = append(pc, "9:name=systemd:/")
	}
	switch mode {
	case "v2":
		mount("/sys/fs/cgroup", "cgroup2", "nsdelegate")
		root := filepath.Join(f.root, "sys/fs/cgroup")
		f.fill(root, 2, "")
		f.write(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids")
		f.write(root, "cgroup.subtree_control", "memory pids cpu")
		f.mkdir(filepath.Join(root, "user"))
		f.write(filepath.Join(root, "user"), "cgroup.subtree_control", "memory pids cpu")
		f.mkdir(filepath.Join(root, "user/1"))
		pc = append(pc, "0::/user/1")
	case "hybrid":
		mount("/sys/fs/cgroup/unified", "cgroup2", "nsdelegate")
		root := filepath.Join(f.root, "sys/fs/cgroup/unified")
		f.fill(root, 2, "")
		f.write(root, "cgroup.controllers", "hugetlb")
		pc = append(pc, "0::/")
	}
	os.MkdirAll(filepath.Join(f.root, "proc/self"), 0o755)
	os.MkdirAll(filepath.Join(f.root, "sys/kernel/mm/hugepages/hugepages-2048kB"), 0o755)
	os.MkdirAll(filepath.Join(f.root, "sys/devices/system/cpu"), 0o755)
	f.write(filepath.Join(f.root, "sys/devices/system/cpu"), "online", "0-3")
	f.write(filepath.Join(f.root, "proc/self"), "mountinfo", strings.Join(mi, "\n")+"\n")
	f.write(filepath.Join(f.root, "proc/self"), "cgroup", strings.Join(pc, "\n")+"\n")
	f.write(filepath.Join(f.root, "proc/self"), "oom_score_adj", "0")
	f.write(filepath.Join(f.root, "proc"), "vmstat", "nr_free_pages 1\noom_kill 0")
	h, err := DetectAt(f.root, fakePid)
	if err != nil {
		t.Fatal(err)
	}
	h.dirs = f
	f.h = h
	return f
}

func (f *fakeTree) write(dir, file, v string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeTree) read(path string) string {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.root, path))
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// fill writes the files of controller ("" for the core files) into dir.
func (f *fakeTree) fill(dir string, version int, controller string) {
	if controller == "" {
		f.write(dir, "cgroup.procs", "")
		if version == 2 {
			for k, v := range map[string]string{"cgroup.subtree_control": "", "cgroup.controllers": "",
				"cgroup.events": "populated 0\nfrozen 0", "cgroup.freeze": "0", "cgroup.kill": ""} {
				f.write(dir, k, v)
			}
		}
		return
	}
	files := v1Files[controller]
	if version == 2 {
		files = v2Files[controller]
	}
	for k, v := range files {
		f.write(dir, k, v)
	}
}

// Mkdir makes a cgroup the way cgroupfs does: with its files.
func (f *fakeTree) Mkdir(path string) error {
	if err := os.Mkdir(path, 0o755); err != nil {
		return err.(*os.PathError).Err
	}
	f.fillNew(path)
	return nil
}

func (f *fakeTree) mkdir(path string) {
	f.t.Helper()
	if err := os.Mkdir(path, 0o755); err != nil {
		f.t.Fatal(err)
	}
	f.fillNew(path)
}

func (f *fakeTree) fillNew(path string) {
	rel, _ := filepath.Rel(filepath.Join(f.root, "sys/fs/cgroup"), path)
	first := strings.Split(rel, "/")[0]
	if _, ok := v1Files[strings.Split(first, ",")[0]]; ok {
		f.fill(path, 1, "")
		for _, c := range strings.Split(first, ",") {
			f.fill(path, 1, c)
		}
		return
	}
	f.fill(path, 2, "")
	// The kernel adds a controller's files when the parent enables it;
	// the fake adds those of every controller the parent has.
	avail, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "cgroup.controllers"))
	for _, c := range strings.Fields(string(avail)) {
		f.fill(path, 2, c)
	}
	parent, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "cgroup.subtree_control"))
	var on []string
	for _, w := range strings.Fields(string(parent)) {
		if c, ok := strings.CutPrefix(w, "+"); ok || !strings.HasPrefix(w, "-") {
			on = append(on, c)
		}
	}
	f.write(path, "cgroup.controllers", strings.Join(on, " "))
}

// MovePid moves pid into dir: out of every cgroup.procs of the same
// hierarchy, into dir's.
func (f *fakeTree) MovePid(dir string, pid int) error {
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return err.(*os.PathError).Err
	}
	base := filepath.Join(f.root, "sys/fs/cgroup")
	rel, _ := filepath.Rel(base, dir)
	top := filepath.Join(base, strings.Split(rel, "/")[0])
	if f.h != nil && f.h.V2 != nil && strings.HasPrefix(dir, f.h.V2.Mount) {
		top = f.h.V2.Mount
	}
	p := fmt.Sprint(pid)
	filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "cgroup.procs" {
			data, _ := os.ReadFile(path)
			words := slices.DeleteFunc(strings.Fields(string(data)), func(w string) bool { return w == p })
			os.WriteFile(path, []byte(strings.Join(words, "\n")), 0o644)
		}
		return nil
	})
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strings.TrimSpace(string(data)+"\n"+p)), 0o644)
}

// Rmdir removes a cgroup the way cgroupfs does: EBUSY while it has
// processes or children.
func (f *fakeTree) Rmdir(path string) error {
	ents, err := os.ReadDir(path)
	if err != nil {
		return err.(*os.PathError).Err
	}
	for _, e := range ents {
		if e.IsDir() {
			return unix.EBUSY
		}
	}
	if procs, _ := os.ReadFile(filepath.Join(path, "cgroup.procs")); strings.TrimSpace(string(procs)) != "" {
		return unix.EBUSY
	}
	return os.RemoveAll(path)
}

// cgroups lists the directories under /sys/fs/cgroup, relative to it.
func (f *fakeTree) cgroups() []string {
	var out []string
	base := filepath.Join(f.root, "sys/fs/cgroup")
	filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != base {
			rel, _ := filepath.Rel(base, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		v1    []string
		v2    string
		paths []string
	}{
		{"v1", []string{"memory", "cpu,cpuacct", "cpuset", "pids", "freezer"}, "", []string{"/ctr", "/", "/", "/ctr", "/"}},
		{"v2", nil, "cpuset cpu io memory hugetlb pids", nil},
		{"hybrid", []string{"memory", "pids"}, "hugetlb", []string{"/ctr", "/ctr"}},
	} {
		f := newFakeTree(t, tc.mode)
		if f.h.Mode() != tc.mode {
			t.Errorf("%s: Mode() = %s", tc.mode, f.h.Mode())
		}
		var v1, paths []string
		for _, hv := range f.h.V1 {
			v1 = append(v1, strings.Join(hv.Controllers, ","))
			paths = append(paths, hv.Path)
		}
		if !slices.Equal(v1, tc.v1) || !slices.Equal(paths, tc.paths) {
			t.Errorf("%s: v1 %v at %v, want %v at %v", tc.mode, v1, paths, tc.v1, tc.paths)
		}
		v2 := ""
		if f.h.V2 != nil {
			v2 = strings.Join(f.h.V2.Controllers, " ")
		}
		if v2 != tc.v2 {
			t.Errorf("%s: v2 controllers %q, want %q", tc.mode, v2, tc.v2)
		}
	}
}

// TestPlan is the v1/v2 translation table of docs/limit.md.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		mode, in string
		want     string // writes, "; "-separated
	}{
		{"v2", "memory=32M", "memory.max=33554432"},
		{"v1", "memory=32M", "memory.limit_in_bytes=33554432"},
		{"v2", "memory=32M swap=0", "memory.max=33554432; memory.swap.max=0"},
		{"v1", "memory=32M swap=0", "memory.limit_in_bytes=33554432; memory.memsw.limit_in_bytes=33554432"},
		{"v1", "memory=32M swap=16M", "memory.limit_in_bytes=33554432; memory.memsw.limit_in_bytes=50331648"},
		{"v1", "memory=max swap=max", "memory.memsw.limit_in_bytes=-1; memory.limit_in_bytes=-1"},
		{"v2", "memory.high=1G", "memory.high=1073741824"},
		{"v2", "cpu=20%", "cpu.max=20000 100000"},
		{"v1", "cpu=20%", "cpu.cfs_period_us=100000; cpu.cfs_quota_us=20000"},
		{"v2", "cpu=max", "cpu.max=max 100000"},
		{"v1", "cpu=max", "cpu.cfs_period_us=100000; cpu.cfs_quota_us=-1"},
		{"v2", "cpu.weight=100", "cpu.weight=100"},
		{"v1", "cpu.weight=100", "cpu.shares=1024"},
		{"v1", "cpu.weight=10000", "cpu.shares=102400"},
		{"v2", "cpus=0-1 mems=0", "cpuset.cpus=0-1; cpuset.mems=0"},
		{"v1", "cpus=0-1", "cpuset.cpus=0-1"},
		{"v2", "pids=5", "pids.max=5"},
		{"v1", "pids=max", "pids.max=max"},
		{"v2", "io.weight=200", "io.weight=default 200"},
		{"v2", "io.max=8:0:rbps=1M,wiops=max", "io.max=8:0 rbps=1048576 wiops=max"},
		{"v2", "hugetlb.2MB=4M", "hugetlb.2MB.max=4194304"},
		{"hybrid", "hugetlb.2MB=4M", "hugetlb.2MB.max=4194304"},
		{"v2", "nofile=16", ""},
	} {
		f := newFakeTree(t, tc.mode)
		ss, err := Parse(strings.Fields(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.h.Plan(ss, nil)
		if err != nil {
			t.Errorf("%s %s: %v", tc.mode, tc.in, err)
			continue
		}
		var got []string
		for _, w := range p.Writes {
			got = append(got, w.File+"="+w.Value)
		}
		if strings.Join(got, "; ") != tc.want {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.mode, tc.in, strings.Join(got, "; "), tc.want)
		}
	}
}

// TestPlanRefuses checks the keys a host cannot serve: exit status 1,
// not 2.
func TestPlanRefuses(t *testing.T) {
	for _, tc := range []struct{ mode, in, reason string }{
		{"v1", "memory.high=1G", "cgroup v2 only"},
		{"v1", "swap=1G", "give memory= as well"},
		{"v1", "io.weight=100", "no cgroup v1 hierarchy has the blkio controller"},
		{"hybrid", "cpu=50%", "cpu controller is neither"},
		{"v1", "hugetlb.2MB=1M", "hugetlb"},
		{"v2", "hugetlb.1GB=1G", "no 1GB huge pages"},
		{"v2", "cpu=500%", "4 cpu"},
		{"v2", "cpus=0 cpu=150%", "1 cpu"},
	} {
		f := newFakeTree(t, tc.mode)
		ss, err := Parse(strings.Fields(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.h.Plan(ss, nil)
		var ue *UnavailableError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s %s: %v; want UnavailableError with %q", tc.mode, tc.in, err, tc.reason)
		}
	}
}

// TestSetV1 makes the shell's group on a fake v1 tree, changes it, fails a
// line half-way (nothing of it stays), and cleans up.
func TestSetV1(t *testing.T) {
	f := newFakeTree(t, "v1")
	l := NewLimiter(f.h)
	ss, _ := Parse([]string{"memory=32M", "pids=5"})
	if err := l.Set(ss, ""); err != nil {
		t.Fatal(err)
	}
	want := []string{"cpu,cpuacct", "cpu,cpuacct/nsh-4242", "cpu,cpuacct/nsh-4242.shell", "cpuset", "cpuset/nsh-4242", "cpuset/nsh-4242.shell",
		"freezer", "freezer/nsh-4242", "freezer/nsh-4242.shell", "memory", "memory/ctr", "memory/ctr/nsh-4242", "memory/ctr/nsh-4242.shell",
		"pids", "pids/ctr", "pids/ctr/nsh-4242", "pids/ctr/nsh-4242.shell", "systemd"}
	if got := f.cgroups(); !slices.Equal(got, want) {
		t.Errorf("cgroups:\n got %v\nwant %v", got, want)
	}
	for _, c := range []struct{ file, want string }{
		{"sys/fs/cgroup/memory/ctr/nsh-4242/memory.limit_in_bytes", "33554432"},
		{"sys/fs/cgroup/pids/ctr/nsh-4242/pids.max", "5"},
		{"sys/fs/cgroup/pids/ctr/nsh-4242.shell/cgroup.procs", "4242"},
		{"sys/fs/cgroup/cpuset/nsh-4242/cpuset.cpus", "0-3"}, // copied from the parent
		{"sys/fs/cgroup/pids/ctr/nsh-4242/cgroup.procs", ""}, // the shell is beside it
	} {
		if got := f.read(c.file); got != c.want {
			t.Errorf("%s = %q, want %q", c.file, got, c.want)
		}
	}
	// A line that fails at its last write leaves the limits as they were.
	os.Remove(filepath.Join(f.root, "sys/fs/cgroup/cpu,cpuacct/nsh-4242/cpu.cfs_quota_us"))
	os.Mkdir(filepath.Join(f.root, "sys/fs/cgroup/cpu,cpuacct/nsh-4242/cpu.cfs_quota_us"), 0o755)
	ss, _ = Parse([]string{"memory=64M", "pids=9", "cpu=50%"})
	if err := l.Set(ss, ""); err == nil {
		t.Fatal("Set with an unwritable file succeeded")
	}
	if got := f.read("sys/fs/cgroup/memory/ctr/nsh-4242/memory.limit_in_bytes"); got != "33554432" {
		t.Errorf("memory after a failed line: %s", got)
	}
	if got := f.read("sys/fs/cgroup/pids/ctr/nsh-4242/pids.max"); got != "5" {
		t.Errorf("pids after a failed line: %s", got)
	}
	if got := f.read("sys/fs/cgroup/cpu,cpuacct/nsh-4242/cpu.cfs_period_us"); got != "100000" {
		t.Errorf("cpu period after a failed line: %s", got)
	}
	os.Remove(filepath.Join(f.root, "sys/fs/cgroup/cpu,cpuacct/nsh-4242/cpu.cfs_quota_us"))
	f.write(filepath.Join(f.root, "sys/fs/cgroup/cpu,cpuacct/nsh-4242"), "cpu.cfs_quota_us", "-1")

	// Report reads back what Set wrote, in a form Parse takes.
	var line []string
	for _, kv := range l.Report(nil) {
		line = append(line, kv.String())
	}
	for _, w := range []string{"memory=32M", "swap=max", "pids=5", "cpu=max", "cpu.weight=100", "cpus=0-3"} {
		if !slices.Contains(line, w) {
			t.Errorf("Report lacks %s: %v", w, line)
		}
	}
	if _, err := Parse(line); err != nil {
		t.Errorf("Report does not parse back: %v", err)
	}

	if err := l.Cleanup(); err != nil {
		t.Fatal(err)
	}
	want = []string{"cpu,cpuacct", "cpuset", "freezer", "memory", "memory/ctr", "pids", "pids/ctr", "systemd"}
	if got := f.cgroups(); !slices.Equal(got, want) {
		t.Errorf("after Cleanup:\n got %v\nwant %v", got, want)
	}
	if got := f.read("sys/fs/cgroup/pids/ctr/cgroup.procs"); got != "4242" {
		t.Errorf("the shell was not moved back: %q", got)
	}
}

// TestSetV2 makes the shell's group on a fake v2 tree whose cgroup is not
// the root: the shell moves to a leaf beside the group, controllers are
// enabled top-down, and a failing line takes its controller back.
func TestSetV2(t *testing.T) {
	f := newFakeTree(t, "v2")
	l := NewLimiter(f.h)
	ss, _ := Parse([]string{"memory=32M", "swap=0"})
	if err := l.Set(ss, "box"); err != nil {
		t.Fatal(err)
	}
	want := []string{"user", "user/1", "user/1/box", "user/1/box/run", "user/1/box.shell"}
	if got := f.cgroups(); !slices.Equal(got, want) {
		t.Errorf("cgroups:\n got %v\nwant %v", got, want)
	}
	for _, c := range []struct{ file, want string }{
		{"sys/fs/cgroup/user/1/box/memory.max", "33554432"},
		{"sys/fs/cgroup/user/1/box/memory.swap.max", "0"},
		{"sys/fs/cgroup/user/1/box.shell/cgroup.procs", "4242"},
		{"sys/fs/cgroup/user/1/cgroup.subtree_control", "+memory"},
	} {
		if got := f.read(c.file); got != c.want {
			t.Errorf("%s = %q, want %q", c.file, got, c.want)
		}
	}
	// io is not enabled in /user: the line fails, and undoes the
	// controllers it enabled.
	ss, _ = Parse([]string{"pids=5", "io.weight=50"})
	err := l.Set(ss, "")
	var ue *UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "io controller is not available") {
		t.Fatalf("io.weight where io is not delegated: %v", err)
	}
	if got := f.read("sys/fs/cgroup/user/1/cgroup.subtree_control"); got != "-pids" && got != "+memory" {
		t.Errorf("subtree_control after the failed line: %q", got)
	}
	if err := l.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := f.cgroups(); !slices.Equal(got, []string{"user", "user/1"}) {
		t.Errorf("after Cleanup: %v", got)
	}
	if got := f.read("sys/fs/cgroup/user/1/cgroup.procs"); got != "4242" {
		t.Errorf("the shell was not moved back: %q", got)
	}
	if got := f.read("sys/fs/cgroup/user/1/cgroup.subtree_control"); got != "-memory" {
		t.Errorf("memory was not taken back from subtree_control: %q", got)
	}
}

// TestHybridJoinsV2 puts the shell's group in the v2 hierarchy of a hybrid
// host only for a controller that v1 lacks.
func TestHybridJoinsV2(t *testing.T) {
	f := newFakeTree(t, "hybrid")
	l := NewLimiter(f.h)
	ss, _ := Parse([]string{"memory=64M"})
	if err := l.Set(ss, ""); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(f.cgroups(), "unified/nsh-4242") {
		t.Errorf("v2 joined for memory: %v", f.cgroups())
	}
	ss, _ = Parse([]string{"hugetlb.2MB=4M"})
	if err := l.Set(ss, ""); err != nil {
		t.Fatal(err)
	}
	if got := f.read("sys/fs/cgroup/unified/nsh-4242/hugetlb.2MB.max"); got != "4194304" {
		t.Errorf("hugetlb.2MB.max = %q", got)
	}
	if err := l.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := f.cgroups(); !slices.Equal(got, []string{"memory", "memory/ctr", "pids", "pids/ctr", "systemd", "unified"}) {
		t.Errorf("after Cleanup: %v", got)
	}
}

// TestExplain reads an OOM kill from the counters, v1 and v2.
func TestExplain(t *testing.T) {
	for _, mode := range []string{"v1", "v2"} {
		f := newFakeTree(t, mode)
		l := NewLimiter(f.h)
		ss, _ := Parse([]string{"memory=256M"})
		if err := l.Set(ss, ""); err != nil {
			t.Fatal(err)
		}
		before := l.OOMCounters()
		if got := Explain(before); got != "" {
			t.Errorf("%s: Explain with no kill = %q", mode, got)
		}
		g := l.Self()
		dir := g.Dir("memory")
		if mode == "v1" {
			f.write(dir, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1")
		} else {
			f.write(dir, "memory.events", "oom 1\noom_kill 1")
		}
		if got := Explain(before); got != "out of memory (memory=256M)" {
			t.Errorf("%s: Explain = %q", mode, got)
		}
		// A kill for a limit of a cgroup nsh did not make names it.
		before = l.OOMCounters()
		parent := filepath.Dir(dir)
		if mode == "v1" {
			f.write(parent, "memory.limit_in_bytes", "1073741824")
			f.write(parent, "memory.oom_control", "oom_kill 1")
		} else {
			f.write(parent, "memory.max", "1073741824")
			f.write(parent, "memory.events", "oom_kill 1")
		}
		if got := Explain(before); !strings.HasPrefix(got, "out of memory (memory=1G of cgroup /") {
			t.Errorf("%s: Explain for a parent's limit = %q", mode, got)
		}
		before = l.OOMCounters()
		f.write(filepath.Join(f.root, "proc"), "vmstat", "oom_kill 3")
		if got := Explain(before); got != "out of memory (system)" {
			t.Errorf("%s: Explain for a system OOM = %q", mode, got)
		}
		l.Cleanup()
	}
}

// TestSweep removes the groups of a shell that died without cleaning up,
// and leaves those with processes.
func TestSweep(t *testing.T) {
	f := newFakeTree(t, "v1")
	pids := filepath.Join(f.root, "sys/fs/cgroup/pids/ctr")
	for _, d := range []string{"nsh-7", "nsh-7.shell", "nsh-7/nsh-7-1", "nsh-8", "nsh-8.shell"} {
		f.mkdir(filepath.Join(pids, d))
	}
	f.write(filepath.Join(pids, "nsh-8"), "cgroup.procs", "77") // a background job lives on
	l := NewLimiter(f.h)
	ss, _ := Parse([]string{"pids=5"})
	if err := l.Set(ss, ""); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{"nsh-7": false, "nsh-7.shell": false, "nsh-8": true, "nsh-8.shell": true, "nsh-4242": true} {
		if exists(filepath.Join(pids, d)) != want {
			t.Errorf("%s exists: %v, want %v", d, !want, want)
		}
	}
	l.Cleanup()
}

// TestNestedV2: an nsh started by an nsh is in the "run" leaf of the
// other's group; its own group goes beside that leaf, which must stay a
// leaf for the other shell's commands, and it moves back there at the end.
func TestNestedV2(t *testing.T) {
	f := newFakeTree(t, "v2")
	user := filepath.Join(f.root, "sys/fs/cgroup/user/1")
	f.write(user, "cgroup.subtree_control", "memory pids") // the other shell's
	for _, d := range []string{"box", "box.shell", "box/run"} {
		f.mkdir(filepath.Join(user, d))
	}
	f.write(filepath.Join(f.root, "proc/self"), "cgroup", "0::/user/1/box/run\n")
	h, err := DetectAt(f.root, fakePid)
	if err != nil {
		t.Fatal(err)
	}
	h.dirs = f
	f.h = h
	l := NewLimiter(h)
	ss, _ := Parse([]string{"memory=16M"})
	if err := l.Set(ss, ""); err != nil {
		t.Fatal(err)
	}
	if got := f.read("sys/fs/cgroup/user/1/box/nsh-4242/memory.max"); got != "16777216" {
		t.Errorf("nested group's memory.max = %q", got)
	}
	if got := f.read("sys/fs/cgroup/user/1/box/run/cgroup.subtree_control"); got != "" {
		t.Errorf("the other shell's run leaf got controllers: %q", got)
	}
	if err := l.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := f.cgroups(); !slices.Equal(got, []string{"user", "user/1", "user/1/box", "user/1/box/run", "user/1/box.shell"}) {
		t.Errorf("after Cleanup: %v", got)
	}
	if got := f.read("sys/fs/cgroup/user/1/box/run/cgroup.procs"); got != "4242" {
		t.Errorf("not moved back to run: %q", got)
	}
}
