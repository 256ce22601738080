package limits

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"0", 0, ""}, {"100", 100, ""}, {"1k", 1024, ""}, {"1K", 1024, ""},
		{"32M", 32 << 20, ""}, {"32m", 32 << 20, ""}, {"2G", 2 << 30, ""}, {"1T", 1 << 40, ""},
		{"-1", 0, "negative"}, {"", 0, "empty"}, {"1X", 0, "not a size"}, {"1.5G", 0, "not a size"},
		{"18446744073709551615", 1<<64 - 1, ""}, {"18446744073709551616", 0, "too large"},
		{"16777216T", 0, "too large"}, {"M", 0, "not a size"},
	} {
		got, err := ParseSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatSizeRoundTrip(t *testing.T) {
	for _, n := range []uint64{0, 1, 1023, 1024, 1536, 32 << 20, 3 << 30, 5 << 40, Max} {
		s := FormatSize(n)
		if n == Max {
			if s != "max" {
				t.Errorf("FormatSize(Max) = %q", s)
			}
			continue
		}
		back, err := ParseSize(s)
		if err != nil || back != n {
			t.Errorf("FormatSize(%d) = %q, which parses as %d, %v", n, s, back, err)
		}
	}
	if got := FormatSize(32 << 20); got != "32M" {
		t.Errorf("FormatSize(32M) = %q", got)
	}
}

// TestParse is the table of keys: every key parses, and every bad value
// is refused with a UsageError naming the key.
func TestParse(t *testing.T) {
	good := []struct {
		in   string
		kind Kind
		ctrl string
		n, m uint64
	}{
		{"memory=256M", Cgroup, "memory", 256 << 20, 0},
		{"memory=max", Cgroup, "memory", Max, 0},
		{"memory.high=1G", Cgroup, "memory", 1 << 30, 0},
		{"swap=0", Cgroup, "memory", 0, 0},
		{"cpu=50%", Cgroup, "cpu", 50000, 100000},
		{"cpu=12.5%", Cgroup, "cpu", 12500, 100000},
		{"cpu=150%", Cgroup, "cpu", 150000, 100000},
		{"cpu=20000/50000", Cgroup, "cpu", 20000, 50000},
		{"cpu=max", Cgroup, "cpu", Max, 100000},
		{"cpu.weight=1", Cgroup, "cpu", 1, 0},
		{"cpu.weight=10000", Cgroup, "cpu", 10000, 0},
		{"cpus=0-1,3", Cgroup, "cpuset", 0, 0},
		{"mems=0", Cgroup, "cpuset", 0, 0},
		{"pids=5", Cgroup, "pids", 5, 0},
		{"pids=max", Cgroup, "pids", Max, 0},
		{"io.weight=100", Cgroup, "io", 100, 0},
		{"io.max=8:0:rbps=1M,wiops=100", Cgroup, "io", 0, 0},
		{"hugetlb.2MB=4M", Cgroup, "hugetlb", 4 << 20, 0},
		{"nofile=16", Rlimit, "", 16, 16},
		{"nofile=16:32", Rlimit, "", 16, 32},
		{"nofile=unlimited", Rlimit, "", Max, Max},
		{"core=0:unlimited", Rlimit, "", 0, Max},
		{"stack=8M", Rlimit, "", 8 << 20, 8 << 20},
		{"oom_score_adj=-1000", OOMScore, "", 1<<64 - 1000, 0},
		{"memory.current=12M", Stat, "", 0, 0},
		{"hugetlb.2MB.current=0", Stat, "", 0, 0},
	}
	for _, tc := range good {
		ss, err := Parse([]string{tc.in})
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		s := ss[0]
		if s.Kind != tc.kind || s.Controller != tc.ctrl || s.N != tc.n || s.M != tc.m {
			t.Errorf("Parse(%q) = kind %d ctrl %q N %d M %d; want %d %q %d %d", tc.in, s.Kind, s.Controller, s.N, s.M, tc.kind, tc.ctrl, tc.n, tc.m)
		}
	}
	bad := []struct{ in, reason string }{
		{"memory=0", "zero"}, {"memory=-1", "negative"}, {"memory=99999999999999999999", "too large"},
		{"memory=1Q", "not a size"}, {"memory", "KEY=VALUE"}, {"=5", "KEY=VALUE"},
		{"bogus=1", "unknown key"}, {"cpu=0%", "above 0"}, {"cpu=-5%", "above 0"}, {"cpu=abc", "percentage"},
		{"cpu=500/100", "period"}, {"cpu=500/100000", "minimum"}, {"cpu=-1/100000", "negative"},
		{"cpu.weight=0", "1 to 10000"}, {"cpu.weight=10001", "1 to 10000"}, {"cpus=3-1", "bad list"},
		{"cpus=", "empty"}, {"pids=0", "zero"}, {"pids=-3", "negative"}, {"pids=x", "number"},
		{"io.weight=0", "1 to 10000"}, {"io.max=8:0", "DEVICE"}, {"io.max=8:0:rbps=0", "stop all io"},
		{"io.max=8:0:xbps=1", "unknown io.max field"}, {"io.max=sda:rbps=1", "bad device"},
		{"hugetlb.3XB=1M", "huge page size"}, {"nofile=32:16", "above the hard"}, {"nofile=-1", "negative"},
		{"nofile=:", "SOFT"}, {"nofile=abc", "number"}, {"oom_score_adj=1001", "-1000 to 1000"},
	}
	for _, tc := range bad {
		_, err := Parse([]string{tc.in})
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("Parse(%q) = %v; want a UsageError with %q", tc.in, err, tc.reason)
			continue
		}
		if k, _, _ := strings.Cut(tc.in, "="); ue.Key != "" && ue.Key != k {
			t.Errorf("Parse(%q) names key %q", tc.in, ue.Key)
		}
	}
	if _, err := Parse([]string{"pids=5", "pids=6"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a key given twice: %v", err)
	}
	if _, err := Parse([]string{"io.max=8:0:rbps=1M", "io.max=8:16:rbps=1M"}); err != nil {
		t.Errorf("io.max for two devices: %v", err)
	}
}

// TestWeights checks the v1/v2 translations: cpu.weight survives a trip
// through cpu.shares for every weight, and the defaults match.
func TestWeights(t *testing.T) {
	for w := uint64(1); w <= 10000; w++ {
		if back := SharesToWeight(WeightToShares(w)); back != w {
			t.Fatalf("cpu.weight %d -> shares %d -> weight %d", w, WeightToShares(w), back)
		}
	}
	if WeightToShares(100) != 1024 || SharesToWeight(1024) != 100 {
		t.Errorf("defaults: weight 100 -> %d shares, 1024 shares -> weight %d", WeightToShares(100), SharesToWeight(1024))
	}
	if WeightToShares(1) < 2 || WeightToShares(10000) > 262144 {
		t.Errorf("shares out of the kernel's range 2..262144")
	}
	if IOWeightToBlkio(100) != 500 || BlkioToIOWeight(500) != 100 || IOWeightToBlkio(1) != 10 || IOWeightToBlkio(10000) != 1000 {
		t.Errorf("blkio.weight: 100->%d, 500->%d, 1->%d, 10000->%d", IOWeightToBlkio(100), BlkioToIOWeight(500), IOWeightToBlkio(1), IOWeightToBlkio(10000))
	}
	for _, tc := range [][2]uint64{{1, 1}, {50, 50}, {100, 100}, {10000, 1000}, {5050, 550}} {
		if got := IOWeightToBFQ(tc[0]); got != tc[1] {
			t.Errorf("IOWeightToBFQ(%d) = %d, want %d", tc[0], got, tc[1])
		}
		if back := BFQToIOWeight(tc[1]); back != tc[0] {
			t.Errorf("BFQToIOWeight(%d) = %d, want %d", tc[1], back, tc[0])
		}
	}
}
