package limits

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KV is one line of `limit`: a key and its value. Stat marks read-only
// statistics, which Parse accepts and ignores.
type KV struct {
	Key, Value string
	Stat       bool
}

// String returns KEY=VALUE.
func (kv KV) String() string { return kv.Key + "=" + kv.Value }

// Report lists the limits and usage of group g (nil: the cgroups the shell
// is under), then the shell's rlimits and oom_score_adj, as KEY=VALUE
// pairs that Parse reads back. Limits are printed as set (sizes with the
// largest exact suffix, cpu as QUOTA/PERIOD); keys whose file is missing
// (the controller is not there) are left out.
func (l *Limiter) Report(g *Group) []KV {
	l.mu.Lock()
	l.adopt()
	if g == nil {
		g = l.self
	}
	dir := func(controller string) (*Hierarchy, string) {
		hv := l.host.serving(controller)
		if hv == nil {
			return nil, ""
		}
		if g != nil {
			return hv, g.dirs[hv]
		}
		return hv, l.limitDir(hv)
	}
	l.mu.Unlock()

	var out []KV
	add := func(k, v string) { out = append(out, KV{Key: k, Value: v}) }
	stat := func(k, v string) { out = append(out, KV{Key: k, Value: v, Stat: true}) }
	read := func(d, f string) (string, bool) {
		if d == "" {
			return "", false
		}
		v, err := readFile(filepath.Join(d, f))
		return v, err == nil
	}
	num := func(d, f string) (uint64, bool) {
		v, ok := read(d, f)
		if !ok {
			return 0, false
		}
		if v == "max" {
			return Max, true
		}
		return parseV1Size(v), true
	}

	if hv, d := dir("memory"); d != "" {
		stat("cgroup", strings.TrimPrefix(d, hv.Mount))
	}
	// memory
	if hv, d := dir("memory"); d != "" {
		if hv.Version == 2 {
			if n, ok := num(d, "memory.max"); ok {
				add("memory", FormatSize(n))
			}
			if n, ok := num(d, "memory.high"); ok {
				add("memory.high", FormatSize(n))
			}
			if n, ok := num(d, "memory.swap.max"); ok {
				add("swap", FormatSize(n))
			}
			if n, ok := num(d, "memory.current"); ok {
				stat("memory.current", FormatSize(n))
			}
			if n, ok := num(d, "memory.peak"); ok {
				stat("memory.peak", FormatSize(n))
			}
			if n, ok := num(d, "memory.swap.current"); ok {
				stat("swap.current", FormatSize(n))
			}
		} else {
			mem, ok := num(d, "memory.limit_in_bytes")
			if ok {
				add("memory", FormatSize(mem))
			}
			if sw, ok2 := num(d, "memory.memsw.limit_in_bytes"); ok && ok2 {
				if sw == Max || mem == Max {
					add("swap", "max")
				} else {
					add("swap", FormatSize(sw-mem))
				}
			}
			cur, ok := num(d, "memory.usage_in_bytes")
			if ok {
				stat("memory.current", FormatSize(cur))
			}
			if n, ok := num(d, "memory.max_usage_in_bytes"); ok {
				stat("memory.peak", FormatSize(n))
			}
			if n, ok2 := num(d, "memory.memsw.usage_in_bytes"); ok && ok2 && n >= cur {
				stat("swap.current", FormatSize(n-cur))
			}
		}
		stat("memory.oom_kills", strconv.FormatUint(oomKills(hv, d), 10))
	}
	// cpu
	if hv, d := dir("cpu"); d != "" {
		if hv.Version == 2 {
			if v, ok := read(d, "cpu.max"); ok {
				q, p, _ := strings.Cut(v, " ")
				if q == "max" {
					add("cpu", "max")
				} else {
					add("cpu", q+"/"+p)
				}
			}
			if v, ok := read(d, "cpu.weight"); ok {
				add("cpu.weight", v)
			}
		} else {
			q, ok1 := read(d, "cpu.cfs_quota_us")
			p, ok2 := read(d, "cpu.cfs_period_us")
			if ok1 && ok2 {
				if strings.HasPrefix(q, "-") {
					add("cpu", "max")
				} else {
					add("cpu", q+"/"+p)
				}
			}
			if n, ok := num(d, "cpu.shares"); ok {
				add("cpu.weight", strconv.FormatUint(SharesToWeight(n), 10))
			}
		}
		if v, ok := read(d, "cpu.stat"); ok {
			if hv.Version == 2 {
				stat("cpu.usage", seconds(field(v, "usage_usec"), 1e6))
				stat("cpu.nr_throttled", strconv.FormatUint(field(v, "nr_throttled"), 10))
				stat("cpu.throttled", seconds(field(v, "throttled_usec"), 1e6))
			} else {
				if _, ad := dir("cpuacct"); ad != "" {
					if n, ok := num(ad, "cpuacct.usage"); ok {
						stat("cpu.usage", seconds(n, 1e9))
					}
				}
				stat("cpu.nr_throttled", strconv.FormatUint(field(v, "nr_throttled"), 10))
				stat("cpu.throttled", seconds(field(v, "throttled_time"), 1e9))
			}
		}
	}
	// cpuset: an empty v2 list means "the parent's", and is left out.
	if _, d := dir("cpuset"); d != "" {
		for _, k := range []string{"cpus", "mems"} {
			if v, ok := read(d, "cpuset."+k); ok && v != "" {
				add(k, v)
			}
		}
	}
	// pids
	if _, d := dir("pids"); d != "" {
		if v, ok := read(d, "pids.max"); ok {
			add("pids", v)
		}
		if v, ok := read(d, "pids.current"); ok {
			stat("pids.current", v)
		}
	}
	// io
	if hv, d := dir("io"); d != "" {
		if hv.Version == 2 {
			if v, ok := read(d, "io.weight"); ok {
				add("io.weight", strings.TrimPrefix(strings.SplitN(v, "\n", 2)[0], "default "))
			}
			if v, ok := read(d, "io.max"); ok && v != "" {
				for _, line := range strings.Split(v, "\n") {
					dev, rest, _ := strings.Cut(line, " ")
					add("io.max", dev+":"+strings.ReplaceAll(rest, " ", ","))
				}
			}
			if v, ok := read(d, "io.stat"); ok {
				var rb, wb uint64
				for _, f := range strings.Fields(v) {
					k, val, _ := strings.Cut(f, "=")
					n, _ := strconv.ParseUint(val, 10, 64)
					switch k {
					case "rbytes":
						rb += n
					case "wbytes":
						wb += n
					}
				}
				stat("io.rbytes", FormatSize(rb))
				stat("io.wbytes", FormatSize(wb))
			}
		} else {
			if n, ok := num(d, "blkio.weight"); ok {
				add("io.weight", strconv.FormatUint(BlkioToIOWeight(n), 10))
			} else if v, ok := read(d, "blkio.bfq.weight"); ok {
				// "100", or "default 100" and a line per device
				f := strings.Fields(strings.SplitN(v, "\n", 2)[0])
				if n, err := strconv.ParseUint(f[len(f)-1], 10, 64); err == nil {
					add("io.weight", strconv.FormatUint(BFQToIOWeight(n), 10))
				}
			}
			for _, io := range v1IOMax(d, read) {
				add("io.max", io)
			}
			if v, ok := read(d, "blkio.throttle.io_service_bytes_recursive"); ok {
				var rb, wb uint64
				for _, line := range strings.Split(v, "\n") {
					f := strings.Fields(line)
					if len(f) == 3 {
						n, _ := strconv.ParseUint(f[2], 10, 64)
						switch f[1] {
						case "Read":
							rb += n
						case "Write":
							wb += n
						}
					}
				}
				stat("io.rbytes", FormatSize(rb))
				stat("io.wbytes", FormatSize(wb))
			}
		}
	}
	// hugetlb
	if hv, d := dir("hugetlb"); d != "" {
		for _, e := range readDir(d) {
			n := e.Name()
			var size string
			if hv.Version == 2 {
				s, ok := strings.CutSuffix(strings.TrimPrefix(n, "hugetlb."), ".max")
				if !ok || !strings.HasPrefix(n, "hugetlb.") || strings.Contains(s, ".") {
					continue
				}
				size = s
			} else {
				s, ok := strings.CutSuffix(strings.TrimPrefix(n, "hugetlb."), ".limit_in_bytes")
				if !ok || !strings.HasPrefix(n, "hugetlb.") || strings.Contains(s, ".") {
					continue
				}
				size = s
			}
			lim := map[int]string{1: ".limit_in_bytes", 2: ".max"}[hv.Version]
			cur := map[int]string{1: ".usage_in_bytes", 2: ".current"}[hv.Version]
			if v, ok := num(d, "hugetlb."+size+lim); ok {
				add("hugetlb."+size, FormatSize(v))
			}
			if v, ok := num(d, "hugetlb."+size+cur); ok {
				stat("hugetlb."+size+".current", FormatSize(v))
			}
		}
	}
	// freezer
	if hv, d := dir("freezer"); d != "" {
		if hv.Version == 2 {
			if v, ok := read(d, "cgroup.freeze"); ok {
				stat("frozen", v)
			}
		} else if v, ok := read(d, "freezer.state"); ok {
			stat("frozen", map[bool]string{true: "1", false: "0"}[v != "THAWED"])
		}
	}
	// rlimits of this process, and its OOM score
	keys := make([]string, 0, len(Rlimits))
	for _, d := range Rlimits {
		keys = append(keys, d.Key)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d, _ := rlimitByKey(k)
		var rl unix.Rlimit
		if unix.Prlimit(0, d.Resource, nil, &rl) == nil {
			add(k, FormatRlimit(rl.Cur, rl.Max))
		}
	}
	if v, err := readFile(filepath.Join(l.host.Root, "proc/self/oom_score_adj")); err == nil {
		add("oom_score_adj", v)
	}
	return out
}

// v1IOMax joins v1's four throttle files into io.max values.
func v1IOMax(d string, read func(d, f string) (string, bool)) []string {
	files := []struct{ file, key string }{
		{"blkio.throttle.read_bps_device", "rbps"}, {"blkio.throttle.write_bps_device", "wbps"},
		{"blkio.throttle.read_iops_device", "riops"}, {"blkio.throttle.write_iops_device", "wiops"},
	}
	byDev := map[string][]string{}
	var devs []string
	for _, f := range files {
		v, ok := read(d, f.file)
		if !ok {
			continue
		}
		for _, line := range strings.Split(v, "\n") {
			dev, n, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			if _, seen := byDev[dev]; !seen {
				devs = append(devs, dev)
			}
			byDev[dev] = append(byDev[dev], f.key+"="+n)
		}
	}
	var out []string
	for _, dev := range devs {
		out = append(out, dev+":"+strings.Join(byDev[dev], ","))
	}
	return out
}

func seconds(n uint64, per float64) string {
	return fmt.Sprintf("%.3fs", float64(n)/per)
}
