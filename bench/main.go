// Command bench measures nsh and nsinit against their peers on this
// machine, in one run, interleaved, and prints plain-text tables of medians
// and ratios.
//
// Usage:
//
//	go run ./bench [-n RUNS] [-update] [-build] [SUITE...]
//	go run ./bench root DIR
//
// SUITE is one of shell, ns, spawn, init, vm, size; none means all. A suite
// whose subject does not exist yet, or whose peers are not installed, is
// skipped with the reason. -update writes the output into the "Latest
// figures" section of bench/README.md, which also explains the method.
// "root DIR" only builds the busybox root that the spawn suite uses.
//
// The bench runs as root: it creates namespaces and mounts, always inside
// new private mount namespaces, and checks at the end that the host's mount
// table and hostname are as they were.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nsh-project/nsh/internal/bbroot"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

var nan = math.NaN()

// suite is one named benchmark.
type suite struct {
	name  string
	about string
	run   func(e *env)
	root  bool // creates namespaces and mounts: needs root
}

var suites = []suite{
	{"shell", "nsh vs bash and dash: startup, arithmetic loop, 200 x /bin/true (issue 3)", shellSuite, false},
	{"ns", "unshare into new namespaces: nsh vs util-linux unshare and bwrap (issue 4)", nsSuite, true},
	{"spawn", "full spawn into a busybox root: nsh vs bwrap, unshare+chroot, runc, crun (issue 5)", spawnSuite, true},
	{"init", "PID 1 memory and orphan reaping: nsinit vs tini, tini-static, dumb-init, catatonit (issue 6)", initSuite, true},
	{"vm", "VM boot to power-off: nsinit initramfs vs busybox /init initramfs (issue 6)", vmSuite, false},
	{"size", "binary sizes of bin/nsh and bin/nsinit", sizeSuite, false},
}

// env is what every suite shares: where things are and where output goes.
type env struct {
	root   string // repository root
	nsh    string // absolute path of bin/nsh, "" when missing
	nsinit string // absolute path of bin/nsinit, "" when missing
	why    map[string]string
	runs   int // -n: overrides each suite's run count when > 0
	tmp    string
	out    io.Writer
	log    io.Writer
}

// printf writes to the bench output.
func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.out, format, args...) }

// progress writes a transient status line to stderr.
func (e *env) progress(s string) { fmt.Fprintf(e.log, "  %s\n", s) }

// count returns n, or the -n override.
func (e *env) count(n int) int {
	if e.runs > 0 {
		return e.runs
	}
	return n
}

// skip prints why a suite or part of one was not measured.
func (e *env) skip(what, why string) { e.printf("SKIPPED %s: %s\n", what, why) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("n", 0, "runs per subject, overriding each suite's default (use few while developing)")
	update := fs.Bool("update", false, "write the output into the Latest figures section of bench/README.md")
	build := fs.Bool("build", false, "rebuild bin/nsh and bin/nsinit first (they are built anyway when missing)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [-n RUNS] [-update] [-build] [SUITE...]\n       go run ./bench root DIR\n\nsuites:\n")
		for _, s := range suites {
			fmt.Fprintf(stderr, "  %-6s %s\n", s.name, s.about)
		}
		fmt.Fprintf(stderr, "\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	names := fs.Args()
	if len(names) > 0 && names[0] == "root" {
		if len(names) != 2 {
			fs.Usage()
			return 2
		}
		if err := bbroot.Build(names[1]); err != nil {
			fmt.Fprintf(stderr, "bench: root: %v\n", err)
			return 1
		}
		return 0
	}
	switch {
	case len(names) > 0 && names[0] == "orphans":
		// Helpers of the init suite, run under each init.
		if err := orphansMain(names[1:], stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case len(names) > 0 && names[0] == "orphans-fork":
		if err := orphansFork(names[1:]); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	var chosen []suite
	if len(names) == 0 {
		chosen = suites
	}
	for _, n := range names {
		i := indexSuite(n)
		if i < 0 {
			fmt.Fprintf(stderr, "bench: unknown suite %q\n", n)
			fs.Usage()
			return 2
		}
		chosen = append(chosen, suites[i])
	}

	root, err := repoRoot()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "nsh-bench-")
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	var buf bytes.Buffer
	e := &env{root: root, runs: *runs, tmp: tmp, out: io.MultiWriter(stdout, &buf), log: stderr, why: map[string]string{}}
	e.binaries(*build)

	mountsBefore, _ := os.ReadFile("/proc/self/mountinfo")
	hostBefore, _ := os.Hostname()

	e.header()
	for _, s := range chosen {
		fmt.Fprintf(stderr, "bench: %s\n", s.name)
		e.printf("\n== %s: %s\n(load average at start: %s)\n\n", s.name, s.about, loadavg())
		if s.root && os.Geteuid() != 0 {
			e.skip(s.name, "needs root (it creates namespaces and mounts); run it as root")
			continue
		}
		s.run(e)
	}

	status := 0
	mountsAfter, _ := os.ReadFile("/proc/self/mountinfo")
	if hostAfter, _ := os.Hostname(); hostAfter != hostBefore {
		fmt.Fprintf(stderr, "bench: WARNING: the host's hostname changed from %q to %q\n", hostBefore, hostAfter)
		status = 1
	}
	if !bytes.Equal(mountsBefore, mountsAfter) {
		// Other programs may mount on a shared machine, so this is a
		// warning; the bench itself only mounts in private namespaces.
		fmt.Fprintf(stderr, "bench: WARNING: the host's mount table changed during the run:\n%s", diffLines(string(mountsBefore), string(mountsAfter)))
	}
	if *update {
		if err := writeReadme(filepath.Join(root, "bench", "README.md"), strings.Join(args, " "), buf.String()); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "bench: wrote bench/README.md\n")
	}
	return status
}

func indexSuite(name string) int {
	for i, s := range suites {
		if s.name == name {
			return i
		}
	}
	return -1
}

// repoRoot finds the module root from the working directory upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/nsh-project/nsh\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the nsh repository (no go.mod of github.com/nsh-project/nsh above the working directory)")
		}
		dir = parent
	}
}

// binaries finds bin/nsh and bin/nsinit, building each one that is missing
// (or both with -build) as make does (static, stripped), and copies them
// into the bench's temporary directory. The build goes to
// a temporary name first: a tree that does not build right now leaves an
// existing binary in place, which is then used with a warning. A binary
// that is missing and does not build is recorded with the reason, and its
// rows are skipped.
func (e *env) binaries(rebuild bool) {
	for _, name := range []string{"nsh", "nsinit"} {
		path := filepath.Join(e.root, "bin", name)
		_, statErr := os.Stat(path)
		if statErr != nil || rebuild {
			tmp := path + ".bench-new"
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, "./cmd/"+name)
			cmd.Dir = e.root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			out, err := cmd.CombinedOutput()
			if err == nil {
				err = os.Rename(tmp, path)
			}
			if err != nil {
				os.Remove(tmp)
				msg := fmt.Sprintf("./cmd/%s does not build (make build): %s", name, lastLine(string(out)))
				if statErr != nil {
					e.why[name] = "bin/" + name + " is missing and " + msg
					continue
				}
				fmt.Fprintf(e.log, "bench: WARNING: %s; using the bin/%s there is\n", msg, name)
			}
		}
		// Other builds may replace bin/ during a run: every suite uses a
		// snapshot taken now.
		snap := filepath.Join(e.tmp, "bin", name)
		if err := copyExecutable(path, snap); err != nil {
			e.why[name] = "cannot copy bin/" + name + ": " + err.Error()
			continue
		}
		switch name {
		case "nsh":
			e.nsh = snap
		case "nsinit":
			e.nsinit = snap
		}
	}
}

// copyExecutable copies the file src to dst (mode 0755), making dst's
// directory.
func copyExecutable(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// header prints what the figures depend on: when, where, which versions.
func (e *env) header() {
	e.printf("nsh bench, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	e.printf("host: %s, %d CPUs (%s), load average %s\n", kernel(), runtime.NumCPU(), cpuModel(), loadavg())
	e.printf("go: %s\n", goVersion())
	for _, name := range []string{"nsh", "nsinit"} {
		path := map[string]string{"nsh": e.nsh, "nsinit": e.nsinit}[name]
		if path == "" {
			e.printf("%s: missing: %s\n", name, e.why[name])
			continue
		}
		note := ""
		if static, err := bbroot.IsStatic(path); err == nil && !static {
			note = " (dynamically linked: not as make builds it; use make build or -build)"
		}
		e.printf("%s: bin/%s %s%s\n", name, name, version(path, "--version"), note)
	}
	e.printf("peers:\n")
	for _, p := range peerNames {
		path := look(p)
		if path == "" {
			e.printf("  %-18s not installed (Debian package %s)\n", p, peerPackage[p])
			continue
		}
		e.printf("  %-18s %s (%s %s)\n", p, path, peerPackage[p], debVersion(peerPackage[p]))
	}
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "linux"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version() + " (bench)"
	}
	return strings.TrimSpace(string(out))
}

// version runs path with a version flag and returns the first line.
func version(path string, flag string) string {
	out, _ := exec.Command(path, flag).CombinedOutput()
	l := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if l == "" {
		return "(no version)"
	}
	return l
}

// peerNames are the programs the suites compare against, in print order.
var peerNames = []string{"bash", "dash", "unshare", "chroot", "bwrap", "runc", "crun", "tini", "tini-static", "dumb-init", "catatonit", "busybox", "qemu-system-x86_64"}

// peerPackage is the Debian package that ships each peer.
var peerPackage = map[string]string{
	"bash":               "bash",
	"dash":               "dash",
	"unshare":            "util-linux",
	"chroot":             "coreutils",
	"bwrap":              "bubblewrap",
	"runc":               "runc",
	"crun":               "crun",
	"tini":               "tini",
	"tini-static":        "tini",
	"dumb-init":          "dumb-init",
	"catatonit":          "catatonit",
	"busybox":            "busybox-static",
	"qemu-system-x86_64": "qemu-system-x86",
}

// look finds a peer on PATH or in the sbin directories, or returns "".
func look(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/libexec/podman"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// debVersion returns the installed version of a Debian package, or "".
func debVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// notInstalled is the skip reason for a missing peer.
func notInstalled(name string) string {
	return fmt.Sprintf("%s is not installed (apt-get install %s)", name, peerPackage[name])
}

// diffLines lists the lines only in a ("-") or only in b ("+").
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			fmt.Fprintf(&out, "  - %s\n", l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			fmt.Fprintf(&out, "  + %s\n", l)
		}
	}
	return out.String()
}

// writeReadme puts output, as a code block, into the "Latest figures"
// section of the README at path, saying which arguments made it.
func writeReadme(path, args, output string) error {
	doc, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	body := "Written by `go run ./bench " + args + "`; the method is above.\n\n```\n" + strings.TrimRight(output, "\n") + "\n```\n"
	return os.WriteFile(path, []byte(replaceSection(string(doc), "## Latest figures", body)), 0o644)
}
