package main

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

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nsh-project/nsh/builtins"
)

// asNsh makes the test binary run as nsh when started by the tests below,
// the way mvdan's gosh tests re-execute themselves.
const asNsh = "NSH_TEST_AS_NSH"

func TestMain(m *testing.M) {
	if os.Getenv(asNsh) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testscript.Main(m, map[string]func(){
		"nsh": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// nshCmd returns a command that runs this test binary as nsh.
func nshCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Args[0] = "nsh"
	cmd.Env = append(os.Environ(), asNsh+"=1")
	return cmd
}

type result struct {
	stdout, stderr string
	status         int
}

// runNsh runs nsh with args and stdin, with a timeout.
func runNsh(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := nshCmd(ctx, args...)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("nsh %q: timed out", args)
	}
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
			status = 128 + int(ws.Signal())
		}
	} else if err != nil {
		t.Fatalf("nsh %q: %v", args, err)
	}
	return result{out.String(), errb.String(), status}
}

// TestExitCodes is the table of the shell's modes, options and statuses.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "notexec")
	os.WriteFile(notExec, []byte("echo hi\n"), 0o644)
	bad := filepath.Join(dir, "bad.nsh")
	os.WriteFile(bad, []byte("echo ok\nif true; then\n  echo x\n"), 0o755)
	noShebang := filepath.Join(dir, "plain")
	os.WriteFile(noShebang, []byte("echo plain $1\n"), 0o755)

	tests := []struct {
		name   string
		stdin  string
		args   []string
		stdout string // regexp; "" means empty
		stderr string // regexp; "" means empty
		status int
	}{
		{"arith", "", []string{"-c", "echo $((6*7))"}, `^42\n$`, "", 0},
		{"stdin script", "echo a\necho b\n", nil, `^a\nb\n$`, "", 0},
		{"stdin -s params", "echo $1 $2\n", []string{"-s", "x", "y"}, `^x y\n$`, "", 0},
		{"-c params", "", []string{"-c", `echo "$0" "$1" "$#"`, "zero", "one"}, `^zero one 1\n$`, "", 0},
		{"-c default $0", "", []string{"-c", `echo "$0"`}, `^nsh\n$`, "", 0},
		{"exit 3", "", []string{"-c", "exit 3"}, "", "", 3},
		{"exit last", "", []string{"-c", "false"}, "", "", 1},
		{"not found", "", []string{"-c", "nosuchcmd"}, "", `^nsh: nosuchcmd: command not found\n$`, 127},
		{"no such file", "", []string{"-c", "./nosuch"}, "", `no such file or directory`, 127},
		{"not executable", "", []string{"-c", notExec}, "", `permission denied`, 126},
		{"directory", "", []string{"-c", "/"}, "", `is a directory`, 126},
		{"killed by TERM", "", []string{"-c", "kill -TERM $$"}, "", "", 143},
		{"child killed", "", []string{"-c", `sh -c 'kill -USR1 $$'; echo $?`}, `^138\n$`, `^nsh: sh: killed by SIGUSR1\n$`, 0},
		{"child SIGINT quiet", "", []string{"-c", `sh -c 'kill -INT $$'; echo $?`}, `^130\n$`, "", 0},
		{"child SIGPIPE quiet", "", []string{"-c", `sh -c 'kill -PIPE $$'; echo $?`}, `^141\n$`, "", 0},
		{"syntax error -c", "", []string{"-c", "echo $(("}, "", `^-c:1:6: `, 2},
		{"syntax error file", "", []string{bad}, "", `^` + regexp.QuoteMeta(bad) + `:2:1: `, 2},
		{"syntax error stdin", "if\n", nil, "", `^stdin:1:1: `, 2},
		{"no script file", "", []string{filepath.Join(dir, "none.nsh")}, "", `no such file`, 127},
		{"script without #!", "", []string{"-c", noShebang + " arg"}, `^plain arg\n$`, "", 0},
		{"-e", "", []string{"-e", "-c", "false; echo no"}, "", "", 1},
		{"-u", "", []string{"-u", "-c", "echo $undefined; echo no"}, "", `undefined: unbound variable`, 1},
		{"-x", "", []string{"-x", "-c", "echo hi"}, `^hi\n$`, `^\+ echo hi\n$`, 0},
		{"-n", "", []string{"-n", "-c", "nosuchcmd"}, "", "", 0},
		{"-n syntax", "", []string{"-n", "-c", "fi"}, "", `^-c:1:1: `, 2},
		{"pipefail off", "", []string{"-c", "false | true"}, "", "", 0},
		{"pipefail", "", []string{"-o", "pipefail", "-c", "false | true"}, "", "", 1},
		{"set +o", "", []string{"-e", "-o", "pipefail", "-c", "set +o | grep -E 'errexit|pipefail'"}, `set -o errexit\nset -o pipefail\n`, "", 0},
		{"version", "", []string{"--version"}, `^nsh \S+\n$`, "", 0},
		{"help", "", []string{"--help"}, `^usage: nsh`, "", 0},
		{"-h", "", []string{"-h"}, `^usage: nsh`, "", 0},
		{"bad option", "", []string{"-Z"}, "", `^nsh: unknown option -Z\nusage: nsh`, 2},
		{"bad long option", "", []string{"--bogus"}, "", `^nsh: unknown option --bogus\n`, 2},
		{"-c without string", "", []string{"-c"}, "", `-c needs a command string`, 2},
		{"failure goes on", "", []string{"-c", "kill -9 999999999; echo next"}, `^next\n$`, `^kill: kill 999999999 with SIGKILL: no such process\n$`, 0},
		{"fd hygiene", "", []string{"-c", "ls /proc/self/fd | wc -l"}, `^\s*4\n$`, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runNsh(t, tt.stdin, tt.args...)
			if r.status != tt.status {
				t.Errorf("status %d, want %d (stderr %q)", r.status, tt.status, r.stderr)
			}
			check(t, "stdout", r.stdout, tt.stdout)
			check(t, "stderr", r.stderr, tt.stderr)
		})
	}
}

func check(t *testing.T, what, got, want string) {
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

// TestExecKeepsPID checks that exec replaces the process: the PID is kept.
func TestExecKeepsPID(t *testing.T) {
	r := runNsh(t, "", "-c", `echo $$; exec /bin/sh -c 'echo $$'`)
	lines := strings.Fields(r.stdout)
	if r.status != 0 || len(lines) != 2 || lines[0] != lines[1] {
		t.Fatalf("exec: got %q (status %d, stderr %q), want the same PID twice", r.stdout, r.status, r.stderr)
	}
	if _, err := strconv.Atoi(lines[0]); err != nil {
		t.Fatalf("exec: %q is not a PID", lines[0])
	}
}

// TestFdHygiene checks that descriptors inherited by nsh are not passed on.
func TestFdHygiene(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := nshCmd(ctx, "-c", "ls /proc/self/fd")
	cmd.ExtraFiles = []*os.File{f} // fd 3 in nsh
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if fds := strings.Fields(string(out)); len(fds) != 4 { // 0 1 2 and ls's own directory fd
		t.Fatalf("a command sees fds %q: the inherited fd 3 leaked", fds)
	}
}

// TestScripts runs the command tests in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("EUID", strconv.Itoa(os.Geteuid()))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			}
			return false, nil
		},
	})
}

// TestBuiltinsListed checks that help lists every builtin and that each
// answers --help with its synopsis.
func TestBuiltinsListed(t *testing.T) {
	r := runNsh(t, "", "-c", "help")
	for _, name := range builtins.Names() {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` `).MatchString(r.stdout) {
			t.Errorf("help does not list %s", name)
		}
	}
}

// TestPID1 checks nsh as PID 1 of a pid namespace, as a container's
// entrypoint: it reaps orphans and SIGTERM from inside ends it with 143.
func TestPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a new pid namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Orphans: each (sleep 0 &) is reparented to PID 1 and must be reaped.
	script := `echo $$
mount --make-rprivate /
mount -t proc proc /proc
for i in 1 2 3 4 5 6 7 8 9 10; do sh -c 'sleep 0 & exit 0'; done
sleep 0.3
zombies=0
for s in /proc/[0-9]*/stat; do
	read -r line <"$s" || continue
	case "$line" in *") Z "*) zombies=$((zombies+1));; esac
done
echo zombies=$zombies
sh -c 'kill -TERM 1'
sleep 10
echo not reached`
	cmd := nshCmd(ctx, "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	ee, _ := err.(*exec.ExitError)
	if ee == nil || ee.ExitCode() != 143 {
		t.Errorf("nsh as PID 1 after kill -TERM 1: %v, want status 143 (stderr %q)", err, errb.String())
	}
	if got := out.String(); got != "1\nzombies=0\n" {
		t.Errorf("output %q, want PID 1 and no zombie", got)
	}
}

// TestReservedFds checks, on the real binary, that descriptors 3 to 9 are
// the script's from the start: held on /dev/null, not taken by the Go
// runtime (which, unless told otherwise, keeps cgroup files open there).
func TestReservedFds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "nsh")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "-c", `for fd in 3 4 5 6 7 8 9; do readlink /proc/$$/fd/$fd; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("/dev/null\n", 7); string(out) != want {
		t.Fatalf("descriptors 3 to 9 of nsh:\n%s\nwant /dev/null for each", out)
	}
}
