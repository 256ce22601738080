package main

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// median returns the median of xs (the mean of the two middle values when
// len(xs) is even) and NaN for an empty slice. xs is not modified.
func median(xs []float64) float64 {
	return quantile(xs, 0.5)
}

// quantile returns the q-quantile of xs (0 <= q <= 1) by linear
// interpolation between closest ranks, the R-7 / numpy default, so that
// quantile(xs, 0.5) is the usual median. It returns NaN for an empty slice.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// ms converts durations to milliseconds.
func ms(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}

// ratio formats a/b with two decimals, or "-" when either side is missing
// (NaN) or b is zero.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// num formats a measurement with a precision that suits its size: three
// significant figures are plenty on a noisy machine. NaN prints as "-".
func num(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case math.Abs(x) >= 100:
		return fmt.Sprintf("%.0f", x)
	case math.Abs(x) >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// count formats a count (or a median of counts) without decimals beyond
// a half, NaN as "-".
func count(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// table is a plain-text table: the first column and those in left are
// left-aligned (names, notes), the others right-aligned (numbers).
type table struct {
	header []string
	rows   [][]string
	left   map[int]bool
}

// add appends a row.
func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// String renders the table with a dashed rule under the header and two
// spaces between columns; rows shorter than the header are padded.
func (t *table) String() string {
	n := len(t.header)
	for _, r := range t.rows {
		n = max(n, len(r))
	}
	width := make([]int, n)
	all := append([][]string{t.header}, t.rows...)
	for _, r := range all {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(r []string) {
		var cells []string
		for i := 0; i < n; i++ {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 || t.left[i] {
				cells = append(cells, c+pad)
			} else {
				cells = append(cells, pad+c)
			}
		}
		b.WriteString(strings.TrimRight(strings.Join(cells, "  "), " "))
		b.WriteByte('\n')
	}
	line(t.header)
	rule := make([]string, n)
	for i := range rule {
		rule[i] = strings.Repeat("-", width[i])
	}
	b.WriteString(strings.Join(rule, "  "))
	b.WriteByte('\n')
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}

// replaceSection returns doc with the body of the markdown section whose
// heading line is heading replaced by body. The section ends at the next
// heading of the same or a higher level, or at the end of doc. When the
// heading is missing, it is appended with body.
func replaceSection(doc, heading, body string) string {
	level := strings.IndexFunc(heading, func(r rune) bool { return r != '#' })
	lines := strings.SplitAfter(doc, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimRight(l, "\r\n") == heading {
			start = i
			break
		}
	}
	body = strings.TrimRight(body, "\n") + "\n"
	if start < 0 {
		doc = strings.TrimRight(doc, "\n")
		if doc != "" {
			doc += "\n\n"
		}
		return doc + heading + "\n\n" + body
	}
	end := len(lines)
	inFence := false
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(l, "#") {
			continue
		}
		lv := strings.IndexFunc(l, func(r rune) bool { return r != '#' })
		if lv > 0 && lv <= level && strings.HasPrefix(l[lv:], " ") {
			end = i
			break
		}
	}
	rest := strings.Join(lines[end:], "")
	out := strings.Join(lines[:start+1], "") + "\n" + body
	if rest != "" {
		out += "\n" + rest
	}
	return out
}

// timeTable renders subjects as rows: median, first and third quartile
// and number of runs in ms, then one ratio column per reference subject
// (this row's median divided by the reference's). Skipped subjects show
// "-" and are listed with their reason under the table.
func timeTable(subs []*subject, refs ...*subject) (*table, []string) {
	t := &table{header: []string{"subject", "median ms", "q1", "q3", "runs"}}
	for _, r := range refs {
		t.header = append(t.header, "÷"+r.name)
	}
	var notes []string
	for _, s := range subs {
		xs := ms(s.times)
		row := []string{s.name, num(s.median()), num(quantile(xs, 0.25)), num(quantile(xs, 0.75)), fmt.Sprint(len(xs))}
		if s.skip != "" {
			row = []string{s.name, "-", "-", "-", "0"}
			notes = append(notes, s.name+": "+s.skip)
		}
		for _, r := range refs {
			row = append(row, ratio(s.median(), r.median()))
		}
		t.add(row...)
	}
	return t, notes
}
