package main

import (
	"strings"
)

// nsSuite times entering new mount, uts, ipc, net and pid namespaces with a
// fresh /proc and running /bin/true there (issue 4): nsh's unshare with a
// command, nsh's unshare carrying the rest of a script on, util-linux
// unshare, and bwrap.
func nsSuite(e *env) {
	subs := []*subject{
		{name: "nsh -c unshare -- cmd", argv: []string{e.nsh, "-c", "unshare -muinp --mount-proc -- /bin/true"}},
		{name: "nsh unshare; script", argv: []string{e.nsh, "-c", "unshare -muinp --mount-proc\n/bin/true"}},
		{name: "unshare(1)", argv: []string{look("unshare"), "-muinpf", "--mount-proc", "/bin/true"}},
		{name: "bwrap", argv: []string{look("bwrap"), "--unshare-all", "--bind", "/", "/", "--proc", "/proc", "/bin/true"}},
		// Baselines, no namespaces: nsh's own start-up plus one command,
		// and the floor of any row (fork, exec, wait of a C program).
		{name: "nsh -c /bin/true", argv: []string{e.nsh, "-c", "/bin/true"}},
		{name: "/bin/true", argv: []string{"/bin/true"}},
	}
	if e.nsh == "" {
		subs[0].skip, subs[1].skip, subs[4].skip = e.why["nsh"], e.why["nsh"], e.why["nsh"]
	}
	if subs[2].argv[0] == "" {
		subs[2].skip = notInstalled("unshare")
	}
	if subs[3].argv[0] == "" {
		subs[3].skip = notInstalled("bwrap")
	}
	runs := e.count(50)
	measure(subs, runs, nil)
	t, notes := timeTable(subs, subs[2], subs[3])
	e.printf("Wall time of one command, %d interleaved runs each.\n\n%s\n", runs, t)
	printCommands(e, subs)
	printSkips(e, notes)
}

// printCommands lists each subject's exact command line.
func printCommands(e *env, subs []*subject) {
	for _, s := range subs {
		e.printf("  %-22s %s\n", s.name+":", e.shellQuote(s.argv))
	}
}

// shellQuote renders argv as a shell command line a reader can paste:
// programs on PATH by base name, the repository's files relative to its
// root, and the bench's temporary directory as $TMP.
func (e *env) shellQuote(argv []string) string {
	var out []string
	for i, a := range argv {
		if i == 0 && a == "" {
			a = "(not-installed)"
		}
		if i == 0 && a != "" && look(baseName(a)) == a {
			a = baseName(a)
		}
		a = strings.ReplaceAll(a, e.tmp+"/bin/", "bin/") // the snapshot of bin/
		a = strings.ReplaceAll(a, e.root+"/", "")
		q := quote(strings.ReplaceAll(a, e.tmp, "TMPDIR"))
		out = append(out, strings.ReplaceAll(q, "TMPDIR", "$TMP"))
	}
	return strings.Join(out, " ")
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// quote single-quotes a word when the shell would otherwise split or
// expand it; a newline is written as $'\n' so the line stays one line.
func quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	if strings.Contains(s, "\n") {
		r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
		return "$'" + r.Replace(s) + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
