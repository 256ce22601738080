package sig

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestNameParseRoundTrip(t *testing.T) {
	all := All()
	if len(all) != 31+31 {
		t.Fatalf("All() has %d signals, want 62 (1-31 and 34-64)", len(all))
	}
	for _, s := range all {
		for _, in := range []string{Name(s), FullName(s)} {
			got, err := Parse(in)
			if err != nil || got != s {
				t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, s)
			}
		}
		if unix.SignalName(s) != "" && unix.SignalName(s) != FullName(s) {
			t.Errorf("signal %d: FullName %q, x/sys/unix says %q", s, FullName(s), unix.SignalName(s))
		}
	}
}

func TestTable(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want unix.Signal
	}{
		{"TERM", unix.SIGTERM}, {"sigterm", unix.SIGTERM}, {"SIGKILL", unix.SIGKILL},
		{"15", unix.SIGTERM}, {"0", 0}, {"64", 64},
		{"IOT", unix.SIGABRT}, {"SIGCLD", unix.SIGCHLD}, {"POLL", unix.SIGIO},
		{"RTMIN", 34}, {"RTMIN+1", 35}, {"SIGRTMIN+15", 49}, {"RTMAX-14", 50},
		{"RTMAX-1", 63}, {"RTMAX", 64}, {"STKFLT", 16}, {"PWR", 30}, {"SYS", 31},
	} {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "-1", "65", "FOO", "SIG", "RTMIN+31", "RTMAX-31", "RTMIN-1", "RTMIN+x"} {
		if s, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", bad, s)
		}
	}
	// bash's kill -l spelling of the real-time range.
	for s, want := range map[unix.Signal]string{34: "RTMIN", 35: "RTMIN+1", 49: "RTMIN+15", 50: "RTMAX-14", 63: "RTMAX-1", 64: "RTMAX", 32: "32", 0: "0"} {
		if got := Name(s); got != want {
			t.Errorf("Name(%d) = %q, want %q", s, got, want)
		}
	}
	if FullName(32) != "signal 32" {
		t.Errorf("FullName(32) = %q", FullName(32))
	}
	for s, want := range map[unix.Signal]bool{unix.SIGKILL: false, unix.SIGSTOP: false, unix.SIGTERM: true, unix.SIGCHLD: true, 32: false, 34: true} {
		if Catchable(s) != want {
			t.Errorf("Catchable(%d) = %v", s, !want)
		}
	}
}
