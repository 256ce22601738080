package main

import "fmt"

// shellTests are the shell-engine workloads of issue 3. Each runs as
// `SHELL -c SCRIPT`, the same script text for every shell.
// Start-up is short and cheap, so it gets more runs.
var shellTests = []struct {
	name, script string
	runs         int
}{
	{"startup (-c true)", "true", 30},
	{"arith loop x100000", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done", 10},
	{"/bin/true x200", "i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done", 10},
}

// shellSuite compares nsh's interpreter with bash and dash.
func shellSuite(e *env) {
	shells := []struct{ name, path, why string }{
		{"nsh", e.nsh, e.why["nsh"]},
		{"bash", look("bash"), notInstalled("bash")},
		{"dash", look("dash"), notInstalled("dash")},
	}
	t := &table{header: []string{"test", "runs", "nsh", "bash", "dash", "nsh/bash", "nsh/dash"}}
	var notes []string
	for _, test := range shellTests {
		var subs []*subject
		for _, sh := range shells {
			s := &subject{name: sh.name, argv: []string{sh.path, "-c", test.script}}
			if sh.path == "" {
				s.skip = sh.why
			}
			subs = append(subs, s)
		}
		e.progress(test.name)
		runs := e.count(test.runs)
		measure(subs, runs, nil)
		m := make([]float64, len(subs))
		row := []string{test.name, fmt.Sprint(runs)}
		for i, s := range subs {
			m[i] = s.median()
			row = append(row, num(m[i]))
			if s.skip != "" {
				notes = append(notes, s.name+": "+s.skip)
			}
		}
		t.add(append(row, ratio(m[0], m[1]), ratio(m[0], m[2]))...)
	}
	e.printf("Each cell: median wall time in ms of interleaved runs of `SHELL -c SCRIPT`.\n\n%s\n", t)
	for _, s := range shellTests {
		e.printf("  %-20s %s\n", s.name+":", s.script)
	}
	printSkips(e, notes)
}

// printSkips prints the reasons for rows that were not measured, once each.
func printSkips(e *env, notes []string) {
	seen := map[string]bool{}
	for _, n := range notes {
		if !seen[n] {
			seen[n] = true
			e.printf("SKIPPED %s\n", n)
		}
	}
}
