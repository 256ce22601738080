package limits

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Max is the value of a limit that is not set: "max" in cgroup v2 files,
// "unlimited" for rlimits.
const Max = math.MaxUint64

// Kind says which mechanism a key is served by.
type Kind int

// The kinds of keys.
const (
	// Cgroup keys are written to the files of a cgroup.
	Cgroup Kind = iota
	// Rlimit keys are set on the process with prlimit(2).
	Rlimit
	// OOMScore is oom_score_adj, set in /proc/self/oom_score_adj.
	OOMScore
	// Stat keys are read-only statistics that `limit` prints; given back
	// to Parse they are accepted and ignored, so that the output of
	// `limit` can be fed to `limit` again.
	Stat
)

// Setting is one parsed KEY=VALUE.
type Setting struct {
	// Key is the key as given, such as "memory" or "hugetlb.2MB".
	Key string
	// Value is the value as given.
	Value string
	// Kind is the mechanism that serves the key.
	Kind Kind
	// Controller is the cgroup controller of a Cgroup key ("memory",
	// "cpu", "cpuset", "pids", "io", "hugetlb").
	Controller string

	// N is the value of a size, count or weight (Max for "max"), the quota
	// of cpu= in microseconds (Max for "max"), the soft rlimit, or the
	// oom_score_adj (as an int64 converted).
	N uint64
	// M is the period of cpu= in microseconds or the hard rlimit.
	M uint64
	// SetN and SetM say which of a soft:hard pair is given.
	SetN, SetM bool
	// Str is a cpuset list or the device (MAJ:MIN) of io.max.
	Str string
	// IO holds the rbps, wbps, riops and wiops of io.max, Max for "max".
	IO map[string]uint64
	// Resource is the RLIMIT_* number of an Rlimit key.
	Resource int
}

// String returns the setting as KEY=VALUE.
func (s Setting) String() string { return s.Key + "=" + s.Value }

// keyDef describes one key.
type keyDef struct {
	kind       Kind
	controller string
	parse      func(s *Setting) error
}

// RlimitDef describes one rlimit key and its bash ulimit option.
type RlimitDef struct {
	// Key is the limit key, such as "nofile".
	Key string
	// Resource is the RLIMIT_* number.
	Resource int
	// Flag is bash's ulimit option letter.
	Flag byte
	// Unit is the factor bash's ulimit applies to values (1024 for
	// "kbytes" and "blocks"), 1 for unscaled values.
	Unit uint64
	// Bytes is set for limits measured in bytes, which accept K M G T.
	Bytes bool
	// Desc and UnitName are what `ulimit -a` prints.
	Desc, UnitName string
}

// Rlimits lists the rlimit keys in the order `ulimit -a` prints them. Units
// follow bash: -c -d -f -l -s -v are in 1024-byte blocks, -t in seconds, the
// rest unscaled.
var Rlimits = []RlimitDef{
	{"core", unix.RLIMIT_CORE, 'c', 1024, true, "core file size", "blocks"},
	{"data", unix.RLIMIT_DATA, 'd', 1024, true, "data seg size", "kbytes"},
	{"nice", unix.RLIMIT_NICE, 'e', 1, false, "scheduling priority", ""},
	{"fsize", unix.RLIMIT_FSIZE, 'f', 1024, true, "file size", "blocks"},
	{"memlock", unix.RLIMIT_MEMLOCK, 'l', 1024, true, "max locked memory", "kbytes"},
	{"nofile", unix.RLIMIT_NOFILE, 'n', 1, false, "open files", ""},
	{"msgqueue", unix.RLIMIT_MSGQUEUE, 'q', 1, true, "POSIX message queues", "bytes"},
	{"rtprio", unix.RLIMIT_RTPRIO, 'r', 1, false, "real-time priority", ""},
	{"stack", unix.RLIMIT_STACK, 's', 1024, true, "stack size", "kbytes"},
	{"cputime", unix.RLIMIT_CPU, 't', 1, false, "cpu time", "seconds"},
	{"nproc", unix.RLIMIT_NPROC, 'u', 1, false, "max user processes", ""},
	{"as", unix.RLIMIT_AS, 'v', 1024, true, "virtual memory", "kbytes"},
}

// RlimitByFlag returns the rlimit that bash's ulimit option flag sets.
func RlimitByFlag(flag byte) (RlimitDef, bool) {
	for _, d := range Rlimits {
		if d.Flag == flag {
			return d, true
		}
	}
	return RlimitDef{}, false
}

func rlimitByKey(key string) (RlimitDef, bool) {
	for _, d := range Rlimits {
		if d.Key == key {
			return d, true
		}
	}
	return RlimitDef{}, false
}

// keys is the table of cgroup and other keys; rlimits and hugetlb.SIZE are
// looked up separately.
var keys = map[string]keyDef{
	"memory":        {Cgroup, "memory", parseMemory},
	"memory.high":   {Cgroup, "memory", parseMemory},
	"swap":          {Cgroup, "memory", parseSizeOrMax},
	"cpu":           {Cgroup, "cpu", parseCPU},
	"cpu.weight":    {Cgroup, "cpu", rangeParser(1, 10000)},
	"cpus":          {Cgroup, "cpuset", parseList},
	"mems":          {Cgroup, "cpuset", parseList},
	"pids":          {Cgroup, "pids", parseCountOrMax},
	"io.weight":     {Cgroup, "io", rangeParser(1, 10000)},
	"io.max":        {Cgroup, "io", parseIOMax},
	"oom_score_adj": {OOMScore, "", parseOOMScore},
}

// statKeys are the read-only keys `limit` prints.
var statKeys = map[string]bool{
	"cgroup": true, "memory.current": true, "memory.peak": true, "swap.current": true,
	"memory.oom_kills": true, "cpu.usage": true, "cpu.nr_throttled": true,
	"cpu.throttled": true, "pids.current": true, "io.rbytes": true, "io.wbytes": true,
	"frozen": true,
}

// Parse parses KEY=VALUE words. It checks syntax and ranges only; what the
// host can enforce is checked by [Host.Plan]. A key may not be given twice,
// except io.max for different devices.
func Parse(args []string) ([]Setting, error) {
	var out []Setting
	seen := map[string]bool{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, &UsageError{Reason: fmt.Sprintf("%q: want KEY=VALUE", a)}
		}
		s, err := parseOne(k, v)
		if err != nil {
			return nil, err
		}
		id := k
		if k == "io.max" {
			id += " " + s.Str
		}
		if seen[id] {
			return nil, &UsageError{Key: k, Value: v, Reason: "given twice"}
		}
		seen[id] = true
		out = append(out, s)
	}
	return out, nil
}

func parseOne(k, v string) (Setting, error) {
	s := Setting{Key: k, Value: v}
	bad := func(err error) (Setting, error) {
		return s, &UsageError{Key: k, Value: v, Reason: err.Error()}
	}
	if statKeys[k] || strings.HasPrefix(k, "hugetlb.") && strings.HasSuffix(k, ".current") {
		s.Kind = Stat
		return s, nil
	}
	if d, ok := rlimitByKey(k); ok {
		s.Kind, s.Resource = Rlimit, d.Resource
		if err := parseRlimit(&s, d.Bytes); err != nil {
			return bad(err)
		}
		return s, nil
	}
	if size, ok := strings.CutPrefix(k, "hugetlb."); ok {
		if _, err := HugePageSize(size); err != nil {
			return bad(err)
		}
		s.Kind, s.Controller = Cgroup, "hugetlb"
		if err := parseSizeOrMax(&s); err != nil {
			return bad(err)
		}
		return s, nil
	}
	d, ok := keys[k]
	if !ok {
		return s, &UsageError{Key: k, Value: v, Reason: "unknown key (see limit --help)"}
	}
	s.Kind, s.Controller = d.kind, d.controller
	if err := d.parse(&s); err != nil {
		return bad(err)
	}
	return s, nil
}

// HugePageSize parses a huge page size as the hugetlb controller names it
// ("2MB", "1GB", "64KB") and returns it in bytes.
func HugePageSize(s string) (uint64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"KB", 10}, {"MB", 20}, {"GB", 30}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseUint(num, 10, 32)
			if err == nil && n > 0 {
				return n << u.shift, nil
			}
		}
	}
	return 0, fmt.Errorf("bad huge page size %q (want such as 2MB or 1GB)", s)
}

// ParseSize parses a size in bytes with an optional binary suffix K, M, G
// or T (case-insensitive): "256M" is 268435456. It refuses negative values
// and overflow.
func ParseSize(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("negative")
	}
	shift := uint(0)
	num := s
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	}
	if shift > 0 {
		num = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("too large")
		}
		return 0, fmt.Errorf("not a size (want bytes, or a number with K, M, G or T)")
	}
	if shift > 0 && bits.LeadingZeros64(n) < int(shift) {
		return 0, fmt.Errorf("too large")
	}
	return n << shift, nil
}

// FormatSize prints bytes with the largest binary suffix that divides them
// exactly ("32M", "1536K", "100"), and Max as "max". ParseSize reads it back.
func FormatSize(n uint64) string {
	if n == Max {
		return "max"
	}
	for _, u := range []struct {
		s     string
		shift uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if n != 0 && n&(1<<u.shift-1) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.s
		}
	}
	return strconv.FormatUint(n, 10)
}

func isMax(v string) bool {
	switch v {
	case "max", "unlimited", "infinity":
		return true
	}
	return false
}

func parseSizeOrMax(s *Setting) error {
	if isMax(s.Value) {
		s.N = Max
		return nil
	}
	n, err := ParseSize(s.Value)
	s.N = n
	return err
}

func parseMemory(s *Setting) error {
	if err := parseSizeOrMax(s); err != nil {
		return err
	}
	if s.N == 0 {
		return fmt.Errorf("zero would leave no memory at all (use a size, or max)")
	}
	return nil
}

func parseCountOrMax(s *Setting) error {
	if isMax(s.Value) {
		s.N = Max
		return nil
	}
	if strings.HasPrefix(s.Value, "-") {
		return fmt.Errorf("negative")
	}
	n, err := strconv.ParseUint(s.Value, 10, 63)
	if err != nil {
		return fmt.Errorf("not a number or max")
	}
	if n == 0 {
		return fmt.Errorf("zero would forbid every fork (use 1 or more, or max)")
	}
	s.N = n
	return nil
}

func rangeParser(lo, hi uint64) func(*Setting) error {
	return func(s *Setting) error {
		n, err := strconv.ParseUint(s.Value, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want a number from %d to %d", lo, hi)
		}
		s.N = n
		return nil
	}
}

// Default and bounds of the CFS bandwidth period, in microseconds
// (kernel/sched/core.c: max_cfs_quota_period is 1s, min 1ms).
const (
	defaultPeriod = 100000
	minPeriod     = 1000
	maxPeriod     = 1000000
	minQuota      = 1000
)

// parseCPU reads "50%", "12.5%", "QUOTA/PERIOD" (microseconds) or "max".
func parseCPU(s *Setting) error {
	v := s.Value
	switch {
	case isMax(v):
		s.N, s.M = Max, defaultPeriod
		return nil
	case strings.HasSuffix(v, "%"):
		pct, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil || math.IsNaN(pct) || math.IsInf(pct, 0) {
			return fmt.Errorf("want a percentage such as 50%%, QUOTA/PERIOD in microseconds, or max")
		}
		if pct <= 0 {
			return fmt.Errorf("must be above 0%%")
		}
		if pct > 1e6 {
			return fmt.Errorf("too large")
		}
		s.N, s.M = uint64(math.Round(pct*defaultPeriod/100)), defaultPeriod
	default:
		q, p, ok := strings.Cut(v, "/")
		quota, err1 := strconv.ParseUint(q, 10, 63)
		period, err2 := strconv.ParseUint(p, 10, 63)
		if !ok || err1 != nil || err2 != nil {
			if strings.HasPrefix(v, "-") {
				return fmt.Errorf("negative")
			}
			return fmt.Errorf("want a percentage such as 50%%, QUOTA/PERIOD in microseconds, or max")
		}
		if period < minPeriod || period > maxPeriod {
			return fmt.Errorf("period must be from %d to %d microseconds", minPeriod, maxPeriod)
		}
		s.N, s.M = quota, period
	}
	if s.N < minQuota {
		return fmt.Errorf("quota below the kernel's minimum of %dus", minQuota)
	}
	return nil
}

// parseList checks a cpu or node list such as "0-3,6".
func parseList(s *Setting) error {
	if _, err := ParseList(s.Value); err != nil {
		return err
	}
	s.Str = s.Value
	return nil
}

// ParseList parses a cpu or memory node list ("0-3,6") into its members.
func ParseList(v string) ([]int, error) {
	if v == "" {
		return nil, fmt.Errorf("empty list")
	}
	var out []int
	for _, part := range strings.Split(v, ",") {
		a, b, rng := strings.Cut(part, "-")
		lo, err1 := strconv.ParseUint(a, 10, 16)
		hi := lo
		var err2 error
		if rng {
			hi, err2 = strconv.ParseUint(b, 10, 16)
		}
		if err1 != nil || err2 != nil || hi < lo {
			return nil, fmt.Errorf("bad list %q (want such as 0-3,6)", v)
		}
		for i := lo; i <= hi; i++ {
			out = append(out, int(i))
		}
	}
	return out, nil
}

var ioKeys = []string{"rbps", "wbps", "riops", "wiops"}

// parseIOMax reads "MAJ:MIN:rbps=N,wbps=N,riops=N,wiops=N" or the same with
// a device path ("/dev/sda:wbps=1M"). Bytes per second take K M G T.
func parseIOMax(s *Setting) error {
	v := s.Value
	eq := strings.IndexByte(v, '=')
	if eq < 0 {
		return fmt.Errorf("want DEVICE:rbps=N,wbps=N,riops=N,wiops=N")
	}
	colon := strings.LastIndexByte(v[:eq], ':')
	if colon <= 0 {
		return fmt.Errorf("want DEVICE:rbps=N,... where DEVICE is MAJ:MIN or a path")
	}
	dev, pairs := v[:colon], v[colon+1:]
	if strings.HasPrefix(dev, "/") {
		var st unix.Stat_t
		if err := unix.Stat(dev, &st); err != nil {
			return fmt.Errorf("stat %s: %v", dev, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFBLK {
			return fmt.Errorf("%s is not a block device", dev)
		}
		dev = fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
	} else {
		ma, mi, ok := strings.Cut(dev, ":")
		_, err1 := strconv.ParseUint(ma, 10, 32)
		_, err2 := strconv.ParseUint(mi, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("bad device %q (want MAJ:MIN or a path)", dev)
		}
	}
	s.Str = dev
	s.IO = map[string]uint64{}
	for _, p := range strings.Split(pairs, ",") {
		k, val, _ := strings.Cut(p, "=")
		known := false
		for _, ik := range ioKeys {
			known = known || k == ik
		}
		if !known {
			return fmt.Errorf("unknown io.max field %q (want rbps, wbps, riops, wiops)", k)
		}
		if isMax(val) {
			s.IO[k] = Max
			continue
		}
		n, err := ParseSize(val)
		if err == nil && strings.HasSuffix(k, "iops") {
			n, err = strconv.ParseUint(val, 10, 64)
		}
		if err != nil {
			return fmt.Errorf("%s=%s: %v", k, val, err)
		}
		if n == 0 {
			return fmt.Errorf("%s=0 would stop all io (use max to lift the limit)", k)
		}
		s.IO[k] = n
	}
	return nil
}

// parseRlimit reads SOFT[:HARD], "SOFT:" (soft only), ":HARD" (hard only)
// or "unlimited". A single value sets both, as prlimit(1) does.
func parseRlimit(s *Setting, bytes bool) error {
	one := func(v string) (uint64, error) {
		if isMax(v) {
			return unix.RLIM_INFINITY, nil
		}
		if bytes {
			return ParseSize(v)
		}
		if strings.HasPrefix(v, "-") {
			return 0, fmt.Errorf("negative")
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("not a number or unlimited")
		}
		return n, nil
	}
	soft, hard, pair := strings.Cut(s.Value, ":")
	var err error
	if soft != "" {
		if s.N, err = one(soft); err != nil {
			return err
		}
		s.SetN = true
	}
	if pair && hard != "" {
		if s.M, err = one(hard); err != nil {
			return err
		}
		s.SetM = true
	}
	if !pair {
		s.M, s.SetM = s.N, true
	}
	if !s.SetN && !s.SetM {
		return fmt.Errorf("want SOFT[:HARD] or unlimited")
	}
	if s.SetN && s.SetM && s.N > s.M {
		return fmt.Errorf("soft limit above the hard limit")
	}
	return nil
}

func parseOOMScore(s *Setting) error {
	n, err := strconv.ParseInt(s.Value, 10, 32)
	if err != nil || n < -1000 || n > 1000 {
		return fmt.Errorf("want a number from -1000 to 1000")
	}
	s.N = uint64(n)
	return nil
}
