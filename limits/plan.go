package limits

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Write is one value written to one file of a cgroup.
type Write struct {
	// Key is the key the write comes from, such as "memory".
	Key string
	// Hier is the hierarchy of the file.
	Hier *Hierarchy
	// File is the file's name, such as "memory.max".
	File string
	// Value is what is written.
	Value string
}

// String prints the write as "v1:memory memory.limit_in_bytes=33554432"
// (the v1 hierarchy by its controllers) or "v2 memory.max=33554432".
func (w Write) String() string {
	if w.Hier.Version == 2 {
		return fmt.Sprintf("v2 %s=%s", w.File, w.Value)
	}
	return fmt.Sprintf("v1:%s %s=%s", strings.Join(w.Hier.Controllers, ","), w.File, w.Value)
}

// Plan is what a limit line does: the cgroup files to write, in order, the
// rlimits to set and the OOM score. It is made by [Host.Plan] before
// anything is changed.
type Plan struct {
	// Writes are the cgroup writes, in the order they are made.
	Writes []Write
	// Enable lists, per hierarchy, the v2 controllers the writes need
	// enabled in the parents' cgroup.subtree_control.
	Enable map[*Hierarchy][]string
	// Rlimits are the rlimit settings.
	Rlimits []Setting
	// OOMScore is the oom_score_adj setting, if given.
	OOMScore *Setting
}

// Current reads the value of a file in the cgroup a plan is for; ok is
// false when the cgroup does not exist yet (its values are the defaults).
type Current func(hv *Hierarchy, file string) (value string, ok bool)

// Plan checks settings against the host and translates them into the
// files of the hierarchy that serves each controller (see docs/limit.md for
// the v1/v2 table). cur reads the cgroup's present values, which v1's
// memory+swap limit and undoing need; it may be nil for a new cgroup.
// Errors are [*UnavailableError] for what the host cannot do.
func (h *Host) Plan(settings []Setting, cur Current) (*Plan, error) {
	if cur == nil {
		cur = func(*Hierarchy, string) (string, bool) { return "", false }
	}
	p := &Plan{Enable: map[*Hierarchy][]string{}}
	var mem []Setting
	for i := range settings {
		s := settings[i]
		switch s.Kind {
		case Stat:
			continue
		case Rlimit:
			p.Rlimits = append(p.Rlimits, s)
			continue
		case OOMScore:
			p.OOMScore = &settings[i]
			continue
		}
		hv := h.serving(s.Controller)
		if hv == nil {
			return nil, &UnavailableError{Key: s.Key, Value: s.Value, Reason: h.notServed(s.Controller)}
		}
		if hv.Version == 2 && !slices.Contains(p.Enable[hv], s.Controller) {
			p.Enable[hv] = append(p.Enable[hv], s.Controller)
		}
		if s.Controller == "memory" {
			// memory, memory.high and swap are translated together,
			// where the first of them is.
			if mem == nil {
				for _, m := range settings {
					if m.Kind == Cgroup && m.Controller == "memory" {
						mem = append(mem, m)
					}
				}
				ws, err := translateMemory(mem, hv, cur)
				if err != nil {
					return nil, err
				}
				p.Writes = append(p.Writes, ws...)
			}
			continue
		}
		ws, err := h.translate(s, hv)
		if err != nil {
			return nil, err
		}
		p.Writes = append(p.Writes, ws...)
	}
	if err := h.checkCPU(settings); err != nil {
		return nil, err
	}
	return p, nil
}

// translateMemory translates the memory controller's keys.
func translateMemory(mem []Setting, hv *Hierarchy, cur Current) ([]Write, error) {
	if hv.Version == 1 {
		return translateV1Memory(mem, hv, cur)
	}
	var ws []Write
	for _, s := range mem {
		file := map[string]string{"memory": "memory.max", "memory.high": "memory.high", "swap": "memory.swap.max"}[s.Key]
		ws = append(ws, Write{s.Key, hv, file, v2Size(s.N)})
	}
	return ws, nil
}

func v2Size(n uint64) string {
	if n == Max {
		return "max"
	}
	return strconv.FormatUint(n, 10)
}

func v1Size(n uint64) string {
	if n == Max || n > math.MaxInt64 {
		return "-1"
	}
	return strconv.FormatUint(n, 10)
}

// v1Unlimited is what v1 memory files read when unlimited: the largest
// page-aligned int64 (PAGE_COUNTER_MAX * PAGE_SIZE).
func parseV1Size(v string) uint64 {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n >= math.MaxInt64-(1<<16) {
		return Max
	}
	return n
}

// translate handles the keys other than the memory ones.
func (h *Host) translate(s Setting, hv *Hierarchy) ([]Write, error) {
	w := func(file, value string) Write { return Write{s.Key, hv, file, value} }
	unavailable := func(format string, args ...any) error {
		return &UnavailableError{Key: s.Key, Value: s.Value, Reason: fmt.Sprintf(format, args...)}
	}
	v2 := hv.Version == 2
	switch s.Key {
	case "cpu":
		if v2 {
			q := "max"
			if s.N != Max {
				q = strconv.FormatUint(s.N, 10)
			}
			return []Write{w("cpu.max", q+" "+strconv.FormatUint(s.M, 10))}, nil
		}
		q := "-1"
		if s.N != Max {
			q = strconv.FormatUint(s.N, 10)
		}
		if !exists(filepath.Join(hv.Mount, "cpu.cfs_quota_us")) {
			return nil, unavailable("the kernel has no CFS bandwidth control (CONFIG_CFS_BANDWIDTH): %s is missing", filepath.Join(hv.Mount, "cpu.cfs_quota_us"))
		}
		return []Write{w("cpu.cfs_period_us", strconv.FormatUint(s.M, 10)), w("cpu.cfs_quota_us", q)}, nil
	case "cpu.weight":
		if v2 {
			return []Write{w("cpu.weight", strconv.FormatUint(s.N, 10))}, nil
		}
		return []Write{w("cpu.shares", strconv.FormatUint(WeightToShares(s.N), 10))}, nil
	case "cpus":
		return []Write{w("cpuset.cpus", s.Str)}, nil
	case "mems":
		return []Write{w("cpuset.mems", s.Str)}, nil
	case "pids":
		return []Write{w("pids.max", v2Size(s.N))}, nil
	case "io.weight":
		if v2 {
			return []Write{w("io.weight", "default "+strconv.FormatUint(s.N, 10))}, nil
		}
		// CFQ's blkio.weight is in every cgroup, the root's too; BFQ's
		// blkio.bfq.weight only below the root, when bfq is loaded. A
		// missing file fails the write, and the line is undone.
		if exists(filepath.Join(hv.Mount, "blkio.weight")) {
			return []Write{w("blkio.weight", strconv.FormatUint(IOWeightToBlkio(s.N), 10))}, nil
		}
		return []Write{w("blkio.bfq.weight", strconv.FormatUint(IOWeightToBFQ(s.N), 10))}, nil
	case "io.max":
		if v2 {
			var parts []string
			for _, k := range ioKeys {
				if n, ok := s.IO[k]; ok {
					parts = append(parts, k+"="+v2Size(n))
				}
			}
			return []Write{w("io.max", s.Str+" "+strings.Join(parts, " "))}, nil
		}
		files := map[string]string{"rbps": "blkio.throttle.read_bps_device", "wbps": "blkio.throttle.write_bps_device",
			"riops": "blkio.throttle.read_iops_device", "wiops": "blkio.throttle.write_iops_device"}
		var ws []Write
		for _, k := range ioKeys {
			if n, ok := s.IO[k]; ok {
				v := "0" // v1 throttle files take 0 for no limit
				if n != Max {
					v = strconv.FormatUint(n, 10)
				}
				ws = append(ws, w(files[k], s.Str+" "+v))
			}
		}
		return ws, nil
	}
	if size, ok := strings.CutPrefix(s.Key, "hugetlb."); ok {
		bytes, _ := HugePageSize(size)
		dir := filepath.Join(h.Root, fmt.Sprintf("sys/kernel/mm/hugepages/hugepages-%dkB", bytes>>10))
		if !exists(dir) {
			return nil, unavailable("the kernel has no %s huge pages (%s is missing)", size, dir)
		}
		if v2 {
			return []Write{w("hugetlb."+size+".max", v2Size(s.N))}, nil
		}
		return []Write{w("hugetlb."+size+".limit_in_bytes", v1Size(s.N))}, nil
	}
	return nil, &UsageError{Key: s.Key, Value: s.Value, Reason: "unknown key"}
}

// translateV1Memory turns memory= and swap= into v1's memory.limit_in_bytes
// and memory.memsw.limit_in_bytes (memory plus swap), in an order the
// kernel accepts: limit_in_bytes may never exceed memsw.limit_in_bytes. A
// memory= without swap= keeps the amount of swap allowed so far.
func translateV1Memory(mem []Setting, hv *Hierarchy, cur Current) ([]Write, error) {
	var memory, swap *Setting
	for i := range mem {
		switch mem[i].Key {
		case "memory":
			memory = &mem[i]
		case "swap":
			swap = &mem[i]
		case "memory.high":
			return nil, &UnavailableError{Key: "memory.high", Value: mem[i].Value,
				Reason: "cgroup v1 has no throttling memory limit (memory.high is cgroup v2 only); use memory="}
		}
	}
	hasMemsw := exists(filepath.Join(hv.Mount, "memory.memsw.limit_in_bytes"))
	curMem, curMemsw := uint64(Max), uint64(Max)
	if v, ok := cur(hv, "memory.limit_in_bytes"); ok {
		curMem = parseV1Size(v)
	}
	if v, ok := cur(hv, "memory.memsw.limit_in_bytes"); ok {
		curMemsw = parseV1Size(v)
	}
	newMem := curMem
	if memory != nil {
		newMem = memory.N
	}
	newMemsw, writeMemsw := curMemsw, false
	switch {
	case swap != nil && !hasMemsw:
		return nil, &UnavailableError{Key: "swap", Value: swap.Value,
			Reason: "the kernel does not account swap (memory.memsw.limit_in_bytes is missing: boot with swapaccount=1)"}
	case swap != nil && swap.N == Max:
		newMemsw, writeMemsw = Max, true
	case swap != nil && newMem == Max:
		return nil, &UnavailableError{Key: "swap", Value: swap.Value,
			Reason: "cgroup v1 limits memory+swap together (memory.memsw.limit_in_bytes): give memory= as well"}
	case swap != nil:
		newMemsw, writeMemsw = newMem+swap.N, true
		if newMemsw < newMem {
			newMemsw = Max
		}
	case memory != nil && hasMemsw && curMemsw != Max:
		// Keep the swap allowance: memsw moves with memory.
		newMemsw, writeMemsw = Max, true
		if newMem != Max && curMem != Max {
			newMemsw = newMem + (curMemsw - curMem)
		}
	}
	var ws []Write
	memW := Write{"memory", hv, "memory.limit_in_bytes", v1Size(newMem)}
	if !writeMemsw {
		return []Write{memW}, nil
	}
	swW := Write{"swap", hv, "memory.memsw.limit_in_bytes", v1Size(newMemsw)}
	if newMemsw >= curMem {
		ws = append(ws, swW)
		if memory != nil {
			ws = append(ws, memW)
		}
	} else {
		if memory != nil {
			ws = append(ws, memW)
		}
		ws = append(ws, swW)
	}
	return ws, nil
}

// WeightToShares translates a cgroup v2 cpu.weight (1..10000, default 100)
// to v1 cpu.shares (2..262144, default 1024) as systemd does: linearly, so
// that the defaults match. SharesToWeight inverts it exactly for every
// weight.
func WeightToShares(w uint64) uint64 {
	return min(max((w*1024+50)/100, 2), 262144)
}

// SharesToWeight translates v1 cpu.shares to a v2 cpu.weight.
func SharesToWeight(s uint64) uint64 {
	return min(max((s*100+512)/1024, 1), 10000)
}

// IOWeightToBlkio translates a v2 io.weight (1..10000, default 100) to
// CFQ's v1 blkio.weight (10..1000, default 500) as systemd does: 5×W,
// clamped, so that the defaults match.
func IOWeightToBlkio(w uint64) uint64 {
	return min(max(w*5, 10), 1000)
}

// BlkioToIOWeight translates CFQ's v1 blkio.weight to a v2 io.weight.
func BlkioToIOWeight(b uint64) uint64 {
	return min(max(b/5, 1), 10000)
}

// IOWeightToBFQ translates a v2 io.weight (1..10000, default 100) to BFQ's
// weight (1..1000, default 100) as systemd does: unchanged up to the
// default, linear from there to the maximum.
func IOWeightToBFQ(w uint64) uint64 {
	if w <= 100 {
		return max(w, 1)
	}
	return 100 + (900*(w-100)+4950)/9900
}

// BFQToIOWeight translates BFQ's weight to a v2 io.weight.
func BFQToIOWeight(b uint64) uint64 {
	if b <= 100 {
		return max(b, 1)
	}
	return 100 + (9900*(b-100)+450)/900
}

// checkCPU refuses a quota above what the cpus allow: cpu=150% with one
// cpu, or with cpus=0 given on the same line.
func (h *Host) checkCPU(settings []Setting) error {
	var cpu *Setting
	ncpu := runtime.NumCPU()
	if h.Root != "/" {
		ncpu = countCPUs(filepath.Join(h.Root, "sys/devices/system/cpu/online"), ncpu)
	}
	for i := range settings {
		switch settings[i].Key {
		case "cpu":
			cpu = &settings[i]
		case "cpus":
			l, _ := ParseList(settings[i].Str)
			ncpu = len(l)
		}
	}
	if cpu == nil || cpu.N == Max {
		return nil
	}
	if cpu.N > uint64(ncpu)*cpu.M {
		return &UnavailableError{Key: "cpu", Value: cpu.Value,
			Reason: fmt.Sprintf("more than the %d cpu(s) there are (%d%% at most)", ncpu, ncpu*100)}
	}
	return nil
}

func countCPUs(file string, def int) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return def
	}
	l, err := ParseList(strings.TrimSpace(string(data)))
	if err != nil {
		return def
	}
	return len(l)
}
