package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedianAndQuantile(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{[]float64{3}, 0.5, 3},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{4, 1, 3, 2}, 0.5, 2.5},
		{[]float64{1, 2, 3, 4, 5}, 0, 1},
		{[]float64{1, 2, 3, 4, 5}, 1, 5},
		{[]float64{1, 2, 3, 4, 5}, 0.25, 2},
		{[]float64{1, 2, 3, 4}, 0.25, 1.75},
		{[]float64{10, 10, 10, 1000}, 0.5, 10}, // one outlier does not move it
	} {
		in := append([]float64(nil), tc.xs...)
		if got := quantile(tc.xs, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.xs, tc.q, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.xs[i] {
				t.Fatalf("quantile sorted its argument: %v", tc.xs)
			}
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
	if got := median(ms([]time.Duration{time.Millisecond, 3 * time.Millisecond})); got != 2 {
		t.Errorf("median of 1 ms and 3 ms = %v, want 2", got)
	}
}

func TestRatioAndFormat(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{ratio(3, 2), "1.50"},
		{ratio(1, 3), "0.33"},
		{ratio(1, 0), "-"},
		{ratio(math.NaN(), 2), "-"},
		{ratio(2, math.NaN()), "-"},
		{num(351.4), "351"},
		{num(12.345), "12.3"},
		{num(2.345), "2.35"},
		{num(math.NaN()), "-"},
		{count(0), "0"},
		{count(2.5), "2.5"},
		{count(math.NaN()), "-"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestTable(t *testing.T) {
	tb := &table{header: []string{"test", "nsh", "note"}, left: map[int]bool{2: true}}
	tb.add("startup", "7.80", "a")
	tb.add("arith loop", "443", "longer")
	tb.add("short")
	want := "" +
		"test         nsh  note\n" +
		"----------  ----  ------\n" +
		"startup     7.80  a\n" +
		"arith loop   443  longer\n" +
		"short\n"
	if got := tb.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestTimeTable(t *testing.T) {
	a := &subject{name: "nsh", times: []time.Duration{10 * time.Millisecond, 12 * time.Millisecond, 11 * time.Millisecond}}
	b := &subject{name: "bwrap", times: []time.Duration{5 * time.Millisecond, 6 * time.Millisecond, 4 * time.Millisecond}}
	c := &subject{name: "crun", skip: "refuses hybrid cgroups"}
	tb, notes := timeTable([]*subject{a, b, c}, b)
	got := tb.String()
	for _, want := range []string{"÷bwrap", "nsh           11.0  10.5  11.5     3    2.20\n", "crun             -     -     -     0       -\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if len(notes) != 1 || notes[0] != "crun: refuses hybrid cgroups" {
		t.Errorf("notes = %q", notes)
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "# Bench\n\nIntro.\n\n## Latest figures\n\nold\n```\n## not a heading\n```\n\n## After\n\nkept\n"
	got := replaceSection(doc, "## Latest figures", "new\n")
	want := "# Bench\n\nIntro.\n\n## Latest figures\n\nnew\n\n## After\n\nkept\n"
	if got != want {
		t.Errorf("replace:\n%q\nwant\n%q", got, want)
	}
	// A second replacement changes nothing more: the update is idempotent.
	if again := replaceSection(got, "## Latest figures", "new\n"); again != want {
		t.Errorf("second replace:\n%q", again)
	}
	// At the end of the document, and missing altogether.
	if got := replaceSection("# B\n\n## Latest figures\n\nold\n", "## Latest figures", "x"); got != "# B\n\n## Latest figures\n\nx\n" {
		t.Errorf("at end: %q", got)
	}
	if got := replaceSection("# B\n", "## Latest figures", "x"); got != "# B\n\n## Latest figures\n\nx\n" {
		t.Errorf("missing: %q", got)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/bin/true":             "/bin/true",
		"--mount-proc=/x/proc":  "--mount-proc=/x/proc",
		"a b":                   "'a b'",
		"it's":                  `'it'\''s'`,
		"unshare -m\n/bin/true": `$'unshare -m\n/bin/true'`,
		"":                      "''",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestOrphanCount(t *testing.T) {
	if n, err := orphanCount([]string{"2000"}); n != 2000 || err != nil {
		t.Errorf("orphanCount(2000) = %d, %v", n, err)
	}
	for _, bad := range [][]string{nil, {"x"}, {"-1"}, {"1", "2"}} {
		if _, err := orphanCount(bad); err == nil {
			t.Errorf("orphanCount(%q) accepted", bad)
		}
	}
}
