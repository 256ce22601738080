package builtins

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// asShell makes the test binary run a script with a Shell, for tests that
// need a process of their own (exec, namespaces, credentials).
const asShell = "NSH_BUILTINS_TEST_SHELL"

func TestMain(m *testing.M) {
	if os.Getenv(asShell) == "1" {
		os.Exit(shellMain(os.Args[1]))
	}
	status := m.Run()
	if nshPath != "" {
		os.RemoveAll(filepath.Dir(nshPath)) // the nsh the namespace tests built
	}
	os.Exit(status)
}

func shellMain(script string) int {
	prog, err := syntax.NewParser().Parse(strings.NewReader(script), "test")
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	sh, err := New(Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	status, _ := sh.Run(context.Background(), prog)
	return status
}

// shellCmd returns a command running script in a new process of the test
// binary.
func shellCmd(ctx context.Context, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], script)
	cmd.Env = append(os.Environ(), asShell+"=1")
	return cmd
}

// runScript runs script in this process with a fresh Shell and a timeout.
func runScript(t *testing.T, script string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prog, err := syntax.NewParser().Parse(strings.NewReader(script), "test")
	if err != nil {
		t.Fatalf("parse %q: %v", script, err)
	}
	var out, errb bytes.Buffer
	sh, err := New(Options{Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	status, _ = sh.Run(ctx, prog)
	if ctx.Err() != nil {
		t.Fatalf("%q timed out", script)
	}
	return out.String(), errb.String(), status
}

type scriptTest struct {
	script string
	stdout string // regexp, or "" for nothing
	stderr string // regexp, or "" for nothing
	status int
}

func runTable(t *testing.T, tests []scriptTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			out, errs, st := runScript(t, tt.script)
			if st != tt.status {
				t.Errorf("status %d, want %d (stderr %q)", st, tt.status, errs)
			}
			match(t, "stdout", out, tt.stdout)
			match(t, "stderr", errs, tt.stderr)
		})
	}
}

func match(t *testing.T, what, got, want string) {
	t.Helper()
	if want == "" {
		if got != "" {
			t.Errorf("%s = %q, want nothing", what, got)
		}
		return
	}
	if !regexp.MustCompile(want).MatchString(got) {
		t.Errorf("%s = %q, want match for %q", what, got, want)
	}
}

// TestContract checks every registered builtin against the contract:
// --help prints the synopsis and exits 0; an unknown option is a usage
// error that exits 2 and prints the synopsis; names the interpreter
// reserves reach nsh's builtin.
func TestContract(t *testing.T) {
	for _, name := range Names() {
		b := Lookup(name)
		t.Run(name, func(t *testing.T) {
			if b.Synopsis == "" || b.Summary == "" || b.Help == "" || b.Run == nil {
				t.Fatalf("%s lacks a synopsis, summary, help text or Run", name)
			}
			if !strings.HasPrefix(b.Synopsis, name) {
				t.Errorf("synopsis %q does not start with the name", b.Synopsis)
			}
			out, errs, st := runScript(t, name+" --help")
			if st != 0 || !strings.HasPrefix(out, "usage: "+name) || errs != "" {
				t.Errorf("%s --help: status %d, stdout %q, stderr %q", name, st, out, errs)
			}
			out, errs, st = runScript(t, name+" --no-such-option")
			if st != 2 || out != "" ||
				!regexp.MustCompile(`^`+regexp.QuoteMeta(name)+`: .*\nusage: `+regexp.QuoteMeta(name)).MatchString(errs) {
				t.Errorf("%s --no-such-option: status %d, stdout %q, stderr %q; want 2 and the synopsis", name, st, out, errs)
			}
		})
	}
}

// TestReservedNames checks that a builtin registered under a name the
// interpreter reserves but does not implement is reached.
func TestReservedNames(t *testing.T) {
	const name = "caller" // a bash builtin the interpreter lists but lacks
	if !interp.IsBuiltin(name) {
		t.Fatalf("%s is no longer reserved by the interpreter: pick another", name)
	}
	registry[name] = &Builtin{
		Name: name, Synopsis: name, Summary: "test", Help: "test",
		Run: func(c *Call) int { c.Printf("nsh's %s %s\n", name, strings.Join(c.Args, " ")); return 3 },
	}
	defer delete(registry, name)
	runTable(t, []scriptTest{
		{"caller a b; echo $?", `^nsh's caller a b\n3\n$`, "", 0},
		{"caller() { echo function; }; caller", `^function\n$`, "", 0},
		{"caller() { echo function; }; builtin caller x", `^nsh's caller x\n$`, "", 3},
		{"caller >/dev/null; echo $?", `^3\n$`, "", 0},
		{"caller | tr a-z A-Z", `^NSH'S CALLER \n$`, "", 0},
		{"x=$(caller y); echo \"[$x]\"", `^\[nsh's caller y\]\n$`, "", 0},
	})
}

func TestFlagSet(t *testing.T) {
	tests := []struct {
		args     []string
		operands []string
		want     string // the options, printed
		status   int    // when parsing stops
	}{
		{nil, nil, "m=false p=false s= o= l=[] v=0", -1},
		{[]string{"-mp", "x"}, []string{"x"}, "m=true p=true s= o= l=[] v=0", -1},
		{[]string{"-m", "cmd", "-p"}, []string{"cmd", "-p"}, "m=true p=false s= o= l=[] v=0", -1},
		{[]string{"-sval", "-s", "v2"}, nil, "m=false p=false s=v2 o= l=[] v=0", -1},
		{[]string{"--str=a", "--str", "b", "--"}, nil, "m=false p=false s=b o= l=[] v=0", -1},
		{[]string{"--opt", "x"}, []string{"x"}, "m=false p=false s= o=/def l=[] v=0", -1},
		{[]string{"--opt=/p"}, nil, "m=false p=false s= o=/p l=[] v=0", -1},
		{[]string{"-l", "a", "--list=b", "-vvv", "-v"}, nil, "m=false p=false s= o= l=[a b] v=4", -1},
		{[]string{"--", "-m"}, []string{"-m"}, "m=false p=false s= o= l=[] v=0", -1},
		{[]string{"-"}, []string{"-"}, "m=false p=false s= o= l=[] v=0", -1},
		{[]string{"-z"}, nil, "", 2},
		{[]string{"--zz"}, nil, "", 2},
		{[]string{"--mount=x"}, nil, "", 2},
		{[]string{"-s"}, nil, "", 2},
		{[]string{"--str"}, nil, "", 2},
		{[]string{"--help"}, nil, "", 0},
	}
	for _, tt := range tests {
		b := &Builtin{Name: "t", Synopsis: "t [-mp]", Flags: func(fs *FlagSet) {
			fs.Bool('m', "mount", "")
			fs.Bool('p', "", "")
			fs.String('s', "str", "S", "", "")
			fs.Optional(0, "opt", "DIR", "/def", "")
			fs.List('l', "list", "L", "")
			fs.Count('v', "", "")
		}}
		var out, errb bytes.Buffer
		c := &Call{Builtin: b, Stdout: &out, Stderr: &errb}
		fs := c.Flags()
		ops, st, ok := fs.Parse(tt.args)
		if !ok {
			if st != tt.status {
				t.Errorf("%q: status %d, want %d", tt.args, st, tt.status)
			}
			continue
		}
		if tt.status != -1 {
			t.Errorf("%q: parsed, want status %d", tt.args, tt.status)
			continue
		}
		got := strings.Join([]string{
			"m=" + map[bool]string{true: "true", false: "false"}[fs.GetBool("mount")],
			"p=" + map[bool]string{true: "true", false: "false"}[fs.GetBool("p")],
			"s=" + fs.GetString("str"), "o=" + fs.GetString("opt"),
			"l=[" + strings.Join(fs.GetList("list"), " ") + "]",
			"v=" + string(rune('0'+fs.GetCount("v"))),
		}, " ")
		if got != tt.want || strings.Join(ops, ",") != strings.Join(tt.operands, ",") {
			t.Errorf("%q: got %s %q, want %s %q", tt.args, got, ops, tt.want, tt.operands)
		}
	}
}

func TestKill(t *testing.T) {
	runTable(t, []scriptTest{
		{"kill -l 9", `^KILL\n$`, "", 0},
		{"kill -l 137", `^KILL\n$`, "", 0},
		{"kill -l TERM sigint 15", `^15\n2\nTERM\n$`, "", 0},
		{"kill -l SIGRTMIN+2 36 RTMAX", `^36\nRTMIN\+2\n64\n$`, "", 0},
		{"kill -l | head -1", `^ 1\) SIGHUP\s+ 2\) SIGINT`, "", 0},
		{"kill -l 99", "", `^kill: 99: invalid signal number\n$`, 1},
		{"kill -l | tail -1", `63\) SIGRTMAX-1\s+64\) SIGRTMAX\n$`, "", 0},
		{"kill -l | tr '\\t' '\\n' | grep -c 'SIG'", `^62\n$`, "", 0},
		{"kill -0 $$", "", "", 0},
		{"kill -s 0 $$", "", "", 0},
		{"kill -n 0 $$", "", "", 0},
		{"kill -SIG0 $$", "", `invalid signal name`, 2},
		{"kill -BOGUS 1", "", `^kill: invalid signal name "BOGUS"\nusage: kill`, 2},
		{"kill -s", "", `needs a signal`, 2},
		{"kill", "", `^kill: no process given\nusage: kill`, 2},
		{"kill -9", "", `no process given`, 2},
		{"kill %1", "", `no job control`, 1},
		{"kill abc", "", `^kill: abc: not a process id\n$`, 1},
		{"kill -0 999999999", "", `^kill: kill 999999999 with signal 0: no such process\n$`, 1},
	})
}

// TestKillGroup checks that a negative PID signals a process group.
func TestKillGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var procs []*exec.Cmd
	leader := exec.CommandContext(ctx, "sleep", "100")
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	procs = append(procs, leader)
	member := exec.CommandContext(ctx, "sleep", "100")
	member.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: leader.Process.Pid}
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	procs = append(procs, member)

	pgid := leader.Process.Pid
	_, errs, st := runScript(t, "kill -TERM -- -"+strconv.Itoa(pgid))
	if st != 0 {
		t.Fatalf("kill -- -%d: status %d: %s", pgid, st, errs)
	}
	for _, p := range procs {
		err := p.Wait()
		ws := p.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("pid %d: %v, want killed by SIGTERM", p.Process.Pid, err)
		}
	}
}

func TestUmask(t *testing.T) {
	old := unix.Umask(0o022)
	t.Cleanup(func() { unix.Umask(old) })
	runTable(t, []scriptTest{
		{"umask", `^0022\n$`, "", 0},
		{"umask -S", `^u=rwx,g=rx,o=rx\n$`, "", 0},
		{"umask -p", `^umask 0022\n$`, "", 0},
		{"umask -p -S", `^umask -S u=rwx,g=rx,o=rx\n$`, "", 0},
		{"umask 027; umask", `^0027\n$`, "", 0},
		{"umask 7; umask", `^0007\n$`, "", 0},
		{"umask u=rwx,g=,o=; umask", `^0077\n$`, "", 0},
		{"umask 022; umask g+w; umask", `^0002\n$`, "", 0},
		{"umask 022; umask a-x; umask", `^0133\n$`, "", 0},
		{"umask 000; umask go-rwx; umask", `^0077\n$`, "", 0},
		{"umask 022; umask u=r,g=w+x; umask", `^0342\n$`, "", 0},
		{"umask -S 077", `^u=rwx,g=,o=\n$`, "", 0},
		{"umask 888", "", `out of range`, 2},
		{"umask 1000", "", `out of range`, 2},
		{"umask u+q", "", `invalid symbolic mode`, 2},
		{"umask gw", "", `invalid symbolic mode`, 2},
		{"umask g", "", `no operator`, 2},
		{"umask 1 2", "", `too many arguments`, 2},
	})
}

func TestHostname(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a new UTS namespace")
	}
	host, _ := os.Hostname()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := shellCmd(ctx, "hostname box.example; hostname; domainname dom; domainname; hostname a b")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if string(out) != "box.example\ndom\n" || !strings.Contains(errb.String(), "hostname: too many arguments") {
		t.Errorf("hostname in a new UTS namespace: %q, %q, %v", out, errb.String(), err)
	}
	if now, _ := os.Hostname(); now != host {
		t.Fatalf("the host's name changed from %q to %q", host, now)
	}
}

// TestHostnameHint checks the hint given to a user who may not rename the
// host.
func TestHostnameHint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop to another user")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := shellCmd(ctx, "hostname other")
	cmd.Path = publicCopy(t, os.Args[0])
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Dir = "/"
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 ||
		!regexp.MustCompile(`(?s)^hostname: sethostname "other": operation not permitted\nhostname: hint: .*unshare -u`).Match(out) {
		t.Fatalf("hostname as nobody: status %d, output %q", cmd.ProcessState.ExitCode(), out)
	}
}

// publicCopy copies an executable to a directory every user may enter, so
// that a test can run it under another uid.
func publicCopy(t *testing.T, path string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nsh-public-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := dir + "/" + "nsh-test"
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestHelp(t *testing.T) {
	runTable(t, []scriptTest{
		{"help | grep -c '^  '", `^[0-9]+\n$`, "", 0},
		{"help kill", `^usage: kill \[-s SIGNAL`, "", 0},
		{"help umask", `(?s)usage: umask.*Options:\n  -S `, "", 0},
		{"help exec kill | grep -c usage:", `^2\n$`, "", 0},
	})
}

// TestDocs checks that every builtin has a page in docs/ that gives its
// synopsis.
func TestDocs(t *testing.T) {
	for _, name := range Names() {
		page, err := os.ReadFile("../docs/" + name + ".md")
		if err != nil {
			t.Errorf("%s: no page: %v", name, err)
			continue
		}
		for _, line := range strings.Split(Lookup(name).Synopsis, "\n") {
			if !strings.Contains(string(page), line) {
				t.Errorf("docs/%s.md does not give the synopsis line %q", name, line)
			}
		}
	}
}

// TestRewriteFdsPrints checks that a rewritten exec prints as a statement
// that parses back to the same call: unshare carries the rest of a script
// to its copy as text.
func TestRewriteFdsPrints(t *testing.T) {
	prog, err := syntax.NewParser().Parse(strings.NewReader("exec 9</etc/hostname 3>>log 2>&1\necho x >&3\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	rewriteFds(prog)
	var b strings.Builder
	syntax.NewPrinter().Print(&b, prog)
	want := "{\n\t__nsh_exec_fds '<' 9 /etc/hostname '>>' 3 log\n\texec 2>&1\n}\necho x >/dev/fd/3\n"
	if b.String() != want {
		t.Fatalf("printed %q, want %q", b.String(), want)
	}
	again, err := syntax.NewParser().Parse(strings.NewReader(b.String()), "")
	if err != nil {
		t.Fatal(err)
	}
	call := again.Stmts[0].Cmd.(*syntax.Block).Stmts[0]
	if len(call.Redirs) != 0 || len(call.Cmd.(*syntax.CallExpr).Args) != 7 {
		t.Fatalf("reparsed as %#v", call)
	}
}
