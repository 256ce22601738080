package initd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// modes are the ways nsinit runs: PID 1 of a pid namespace, a subreaper,
// and a plain parent.
var modes = []struct {
	name  string
	pidns bool
	flags []string
}{
	{"pid1", true, nil},
	{"subreaper", false, []string{"-s"}},
	{"plain", false, nil},
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"--", "sh", "-c", "exit 0"}, 0},
		{[]string{"sh", "-c", "exit 1"}, 1},
		{[]string{"sh", "-c", "exit 255"}, 255},
		{[]string{"--", "/nonexistent"}, 127},
		{[]string{"no-such-command-in-path"}, 127},
		{[]string{noexec}, 126},
		{[]string{dir}, 126},
		{[]string{"sh", "-c", "kill -TERM $$"}, 143},
		{[]string{"sh", "-c", "kill -KILL $$"}, 137},
		{[]string{"sh", "-c", "kill -SEGV $$"}, 139},
		{[]string{"-e", "143", "--", "sh", "-c", "kill -TERM $$"}, 0},
		{[]string{"-e", "3", "-e4", "--", "sh", "-c", "exit 4"}, 0},
		{[]string{"-e3", "sh", "-c", "exit 5"}, 5},
		{[]string{"-e", "127", "/nonexistent"}, 0},
	} {
		for _, m := range modes[:2] {
			r := runNsinit(t, runOpts{pidns: m.pidns}, append(append([]string{}, m.flags...), tt.args...)...)
			if r.code != tt.want {
				t.Errorf("%s: nsinit %q: status %d, want %d; stderr:\n%s", m.name, tt.args, r.code, tt.want, r.stderr)
			}
		}
	}
}

// TestRemap is tini's exit code test over a sample of codes: -e CODE maps
// CODE to 0, and the other -e values leave it alone.
func TestRemap(t *testing.T) {
	for _, code := range []int{0, 1, 2, 42, 126, 128, 200, 255} {
		r := runNsinit(t, runOpts{}, "-s", "-e", strconv.Itoa(code), "--", "sh", "-c", fmt.Sprintf("exit %d", code))
		if r.code != 0 {
			t.Errorf("-e %d: status %d", code, r.code)
		}
		args := []string{"-s"}
		for other := range 256 {
			if other != code {
				args = append(args, "-e", strconv.Itoa(other))
			}
		}
		r = runNsinit(t, runOpts{}, append(args, "sh", "-c", fmt.Sprintf("exit %d", code))...)
		if r.code != code {
			t.Errorf("all -e but %d: status %d", code, r.code)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, "no command"},
		{[]string{"-x", "true"}, 2, "unknown option -x"},
		{[]string{"--frob", "true"}, 2, "unknown option --frob"},
		{[]string{"-e", "256", "true"}, 2, "-e 256"},
		{[]string{"-p", "SIGFOO", "true"}, 2, "-p SIGFOO"},
		{[]string{"-t", "soon", "true"}, 2, "-t soon"},
		{[]string{"-e"}, 2, "needs a value"},
		{[]string{"--version"}, 0, "nsinit version"},
		{[]string{"-h"}, 0, "usage: nsinit"},
		{[]string{"--help"}, 0, "TINI_SUBREAPER"},
		{[]string{"-l"}, 0, "license"},
	} {
		r := runNsinit(t, runOpts{env: []string{"TINI_VERBOSITY=0"}}, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.out) {
			t.Errorf("nsinit %q: status %d, output %q; want %d and %q", tt.args, r.code, r.stdout+r.stderr, tt.code, tt.out)
		}
	}
}

// TestReapOrphans leaves 2000 orphans to nsinit and counts the zombies of
// the namespace in /proc: until none is left while the child runs, then
// once more after the child has exited, from a process nsinit ends with
// SIGTERM.
func TestReapOrphans(t *testing.T) {
	const script = `
zombies() { grep -l '^State:[[:space:]]*Z' /proc/[0-9]*/status 2>/dev/null | wc -l; }
(trap 'echo "after=$(zombies)"; exit 0' TERM; while :; do sleep 0.05; done) &
i=0; while [ $i -lt 2000 ]; do (: &); i=$((i+1)); done
n=0
while z=$(zombies); [ "$z" -ne 0 ] && [ $n -lt 1000 ]; do
	n=$((n+1)); sleep 0.01
done
echo "before=$z"`
	r := runNsinit(t, runOpts{pidns: true, timeout: 120 * time.Second}, "-w", "--", "sh", "-c", script)
	reaped := strings.Count(r.stderr, "Reaped zombie process with pid=")
	t.Logf("2000 orphans: %v, %d reaped as orphans", r.dur, reaped)
	if r.code != 0 || r.stdout != "before=0\nafter=0\n" {
		t.Errorf("status %d, stdout %q, want zombies=0 before and after the child exited", r.code, r.stdout)
	}
	// The 2000, the watcher and the sleep it was running.
	if reaped < 2000 {
		t.Errorf("%d orphans reaped, want 2000", reaped)
	}
}

// TestNoStatusTheft checks the Reaper in a PID 1 (1000 runs while orphans
// die), then nsinit end to end.
func TestNoStatusTheft(t *testing.T) {
	cmd := helperCmd(t, "theft", "1000")
	cmd.SysProcAttr = pidnsAttr()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s(%v)", out, time.Since(start))
	if err != nil {
		t.Fatalf("theft helper: %v", err)
	}
	for i := range 50 {
		want := i * 5 % 256
		script := fmt.Sprintf("for i in 1 2 3 4 5 6 7 8; do (exit 9 &); done; exit %d", want)
		if i%5 == 0 {
			script = "for i in 1 2 3 4 5 6 7 8; do (exit 9 &); done; kill -KILL $$"
			want = 137
		}
		r := runNsinit(t, runOpts{pidns: true}, "--", "sh", "-c", script)
		if r.code != want {
			t.Fatalf("run %d: status %d, want %d; stderr:\n%s", i, r.code, want, r.stderr)
		}
	}
}

// TestSignalsFromInside: the child sends nsinit every signal; nsinit
// forwards every catchable one but SIGCHLD and SIGURG, and survives all.
func TestSignalsFromInside(t *testing.T) {
	for _, m := range modes {
		for _, g := range [][]string{nil, {"-g"}} {
			args := append(append(append([]string{}, m.flags...), g...), "--")
			r := runNsinit(t, runOpts{pidns: m.pidns}, append(args, helperArgv("sigrecv")...)...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "ok ") {
				t.Errorf("%s %v: status %d, stdout:\n%s\nstderr:\n%s", m.name, g, r.code, r.stdout, r.stderr)
			}
		}
	}
}

// TestSignalsFromOutside is tini's signals test: the signal sent to nsinit
// kills the child and nsinit exits 128+N.
func TestSignalsFromOutside(t *testing.T) {
	targets := []struct {
		name  string
		pidns bool
		flags []string
		env   []string
	}{
		{"pid1", true, nil, nil},
		{"-s", false, []string{"-s"}, nil},
		{"TINI_SUBREAPER", false, nil, []string{"TINI_SUBREAPER="}},
	}
	for _, tg := range targets {
		for _, s := range []unix.Signal{unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT} {
			args := append(append([]string{}, tg.flags...), "--", "sh", "-c", "echo ready; exec sleep 1000")
			r := runNsinit(t, runOpts{pidns: tg.pidns, env: tg.env, ready: "ready", started: func(p *os.Process) { p.Signal(s) }}, args...)
			if r.code != 128+int(s) {
				t.Errorf("%s: %v: status %d, want %d; stderr:\n%s", tg.name, s, r.code, 128+int(s), r.stderr)
			}
		}
	}
}

// TestSignalBeforeChild: a signal nsinit gets before its child exists is
// delivered to the child once it does.
func TestSignalBeforeChild(t *testing.T) {
	cmd := helperCmd(t, "queued", "-s", "--", "sleep", "10")
	start := time.Now()
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(unix.SIGUSR1) {
		t.Errorf("status %d (%v), want %d", code, err, 128+int(unix.SIGUSR1))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v: the signal was not delivered at once", d)
	}
}

// TestGrace: what the child leaves gets SIGTERM, and SIGKILL after the
// grace period when it ignores SIGTERM.
func TestGrace(t *testing.T) {
	for _, m := range modes {
		args := append(append([]string{}, m.flags...), "-t", "0.3", "--", "sh", "-c", `trap "" TERM; sleep 100 & echo $!; exit 7`)
		r := runNsinit(t, runOpts{pidns: m.pidns}, args...)
		if r.code != 7 || r.dur < 300*time.Millisecond || r.dur > 8*time.Second {
			t.Errorf("%s: TERM ignored: status %d after %v, want 7 after the 0.3s grace; stderr:\n%s", m.name, r.code, r.dur, r.stderr)
		}
		if !m.pidns {
			assertGone(t, strings.TrimSpace(r.stdout))
		}
		args = append(append([]string{}, m.flags...), "--", "sh", "-c", `sleep 100 & echo $!; exit 5`)
		r = runNsinit(t, runOpts{pidns: m.pidns}, args...)
		if r.code != 5 || r.dur > 5*time.Second {
			t.Errorf("%s: status %d after %v, want 5 well before the 10s grace", m.name, r.code, r.dur)
		}
		if !m.pidns {
			assertGone(t, strings.TrimSpace(r.stdout))
		}
	}
}

// assertGone checks that process pid has ended (it may still be a zombie
// of the host's init for a moment).
func assertGone(t *testing.T, pid string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return
	}
	if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] != "Z" && f[0] != "X" {
		t.Errorf("process %s left running (state %s)", pid, f[0])
	}
}

// TestSubreaper is tini's reaping test: as a subreaper (-s or
// TINI_SUBREAPER) nsinit reaps the orphans of its child's children.
func TestSubreaper(t *testing.T) {
	const script = `sh -c 'for i in 1 2 3 4 5; do sleep 0.$i & done'
while [ "$(grep -l "^PPid:[[:space:]]*$PPID\$" /proc/[0-9]*/status 2>/dev/null | wc -l)" -gt 1 ]; do sleep 0.05; done
echo done`
	for _, tt := range []struct {
		flags []string
		env   []string
		warn  bool
	}{
		{[]string{"-s", "-w"}, nil, true},
		{[]string{"-w"}, []string{"TINI_SUBREAPER="}, true},
		{nil, []string{"TINI_SUBREAPER="}, false},
	} {
		r := runNsinit(t, runOpts{env: tt.env}, append(tt.flags, "sh", "-c", script)...)
		if r.code != 0 || r.stdout != "done\n" {
			t.Errorf("%v %v: status %d, stdout %q, stderr:\n%s", tt.flags, tt.env, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "zombie reaping won't work") {
			t.Errorf("%v %v: warned about reaping", tt.flags, tt.env)
		}
		if n := strings.Count(r.stderr, "Reaped zombie process with pid="); (n >= 5) != tt.warn {
			t.Errorf("%v %v: %d reaping warnings", tt.flags, tt.env, n)
		}
	}
	// Neither PID 1 nor a subreaper: tini's warning.
	r := runNsinit(t, runOpts{env: []string{"TINI_VERBOSITY=1"}}, "true")
	if r.code != 0 || !strings.Contains(r.stderr, "zombie reaping won't work") {
		t.Errorf("no warning: status %d, stderr %q", r.code, r.stderr)
	}
	r = runNsinit(t, runOpts{env: []string{"TINI_VERBOSITY=0"}}, "true")
	if r.stderr != "" {
		t.Errorf("TINI_VERBOSITY=0: stderr %q", r.stderr)
	}
}

// TestProcessGroup is tini's pgroup test: with -g (or
// TINI_KILL_PROCESS_GROUP) a signal reaches the grandchild too.
func TestProcessGroup(t *testing.T) {
	for _, tt := range []struct {
		flags []string
		env   []string
	}{
		{[]string{"-g"}, nil},
		{nil, []string{"TINI_KILL_PROCESS_GROUP=1"}},
	} {
		args := append(append([]string{}, tt.flags...), helperArgv("pgroup")...)
		r := runNsinit(t, runOpts{env: tt.env, ready: "ready", timeout: 20 * time.Second,
			started: func(p *os.Process) { p.Signal(unix.SIGUSR1) }}, args...)
		if r.code != 0 {
			t.Errorf("%v %v: status %d; stderr:\n%s", tt.flags, tt.env, r.code, r.stderr)
		}
	}
}

// TestParentDeathSignal is tini's pdeathsignal test: nsinit -p SIGUSR1 gets
// SIGUSR1 when its parent dies and forwards it to the child.
func TestParentDeathSignal(t *testing.T) {
	const script = `"$0" -p SIGUSR1 -- sh -c 'trap "echo ok; exit 0" USR1; kill -KILL "$1"; sleep 100 & wait' inner $$; echo not reached`
	cmd := testCmd(t, "sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=main", "TINI_VERBOSITY=0")
	cmd.WaitDelay = 20 * time.Second
	out, _ := cmd.Output() // read until every writer (nsinit, its child) is gone
	if string(out) != "ok\n" {
		t.Errorf("stdout %q, want ok", out)
	}
}

// TestChildSignalsAndFds: the child starts with no blocked and no ignored
// signal and only fds 0-2, whatever nsinit inherited (tini's sigconf test,
// with nsinit resetting to defaults instead of restoring).
func TestChildSignalsAndFds(t *testing.T) {
	f, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.LockOSThread()
	var block, old unix.Sigset_t
	for _, s := range []unix.Signal{unix.SIGUSR2, unix.SIGTTIN, unix.SIGILL, unix.SIGTERM} {
		block.Val[(s-1)/64] |= 1 << ((uint(s) - 1) % 64)
	}
	unix.PthreadSigmask(unix.SIG_BLOCK, &block, &old)
	r := runNsinit(t, runOpts{extra: []*os.File{f, f, f}},
		"-s", "sh", "-c", `trap "" INT HUP USR1 TTOU; exec "$0" -s -- sh -c 'grep -E "^Sig(Blk|Ign)" /proc/$$/status; ls /proc/$$/fd'`, os.Args[0])
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	runtime.UnlockOSThread()
	want := "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n0\n1\n2\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("status %d, child's view:\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
	}
}

// openPty returns a pseudo-terminal's master and slave.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

var statRE = regexp.MustCompile(`stat: (\d+) \(.*\) \S+ (\d+) (\d+) (\d+) (\d+) (-?\d+)`)

// TestTerminal: with a terminal on stdin, the child gets its own session
// and the terminal as controlling tty, or (when nsinit shares its
// session's terminal and may not take it) its own foreground group.
func TestTerminal(t *testing.T) {
	const child = `echo "stat: $(cat /proc/$$/stat)"`
	for _, tt := range []struct {
		name string
		attr func() *syscall.SysProcAttr
		argv func() []string
		// leader: the child leads its session; else it leads a group
		// in the session of nsinit's parent.
		leader bool
	}{
		{"free tty", func() *syscall.SysProcAttr { a := pidnsAttr(); a.Setsid = true; return a },
			func() []string { return []string{"sh", "-c", child} }, true},
		{"own ctty, leader", func() *syscall.SysProcAttr {
			a := pidnsAttr()
			a.Setsid, a.Setctty, a.Ctty = true, true, 0
			return a
		}, func() []string { return []string{"sh", "-c", child} }, true},
		{"own ctty, leader, no CAP_SYS_ADMIN", func() *syscall.SysProcAttr {
			// No pid namespace: without CAP_SYS_ADMIN nsinit cannot mount
			// a /proc for one.
			return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: unix.SIGKILL}
		}, func() []string { return []string{"-s", "--", "sh", "-c", child} }, false},
		{"parent's ctty", nil, nil, false},
	} {
		master, slave := openPty(t)
		var cmd *exec.Cmd
		if strings.Contains(tt.name, "no CAP_SYS_ADMIN") {
			if _, err := exec.LookPath("setpriv"); err != nil {
				t.Logf("%s: skipped: no setpriv", tt.name)
				continue
			}
			// As docker runs an init: session leader with the tty, without
			// CAP_SYS_ADMIN to hand it over.
			cmd = testCmd(t, "setpriv", append([]string{"--bounding-set", "-sys_admin", os.Args[0]}, tt.argv()...)...)
			cmd.Env = append(os.Environ(), helperEnv+"=main")
			cmd.SysProcAttr = tt.attr()
		} else if tt.attr != nil {
			cmd = testCmd(t, os.Args[0], tt.argv()...)
			cmd.Env = append(os.Environ(), helperEnv+"=main")
			cmd.SysProcAttr = tt.attr()
		} else {
			// A shell leading a session with the tty runs nsinit, as from a terminal.
			cmd = testCmd(t, "sh", "-c", `"$0" -s -- sh -c '`+child+`'; echo "shell: $$"`, os.Args[0])
			cmd.Env = append(os.Environ(), helperEnv+"=main")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		slave.Close()
		var out []byte
		buf := make([]byte, 4096)
		master.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			n, err := master.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break // EIO: every slave fd is closed
			}
		}
		master.Close()
		cmd.Wait()
		m := statRE.FindStringSubmatch(string(out))
		if m == nil {
			t.Errorf("%s: no stat line in %q", tt.name, out)
			continue
		}
		pid, pgrp, sid, ttyNr, tpgid := m[1], m[3], m[4], m[5], m[6]
		if ttyNr == "0" || tpgid != pgrp || pgrp != pid {
			t.Errorf("%s: child pid %s pgrp %s tty %s tpgid %s: want the foreground group of a tty (%q)", tt.name, pid, pgrp, ttyNr, tpgid, out)
		}
		if tt.leader && sid != pid {
			t.Errorf("%s: child pid %s in session %s, want its own", tt.name, pid, sid)
		}
		if !tt.leader {
			shell := regexp.MustCompile(`shell: (\d+)`).FindStringSubmatch(string(out))
			if sid == pid || (shell != nil && sid != shell[1]) {
				t.Errorf("%s: child session %s, want nsinit's or its parent's (%q)", tt.name, sid, out)
			}
		}
	}
}

// TestVMMode runs nsinit's VM code path as PID 1 of a pid namespace: the
// command from the kernel command line, its status on the console, the
// shutdown by reboot(2), which in a pid namespace ends init with SIGINT
// (power-off, halt) or SIGHUP (reboot).
func TestVMMode(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cmdline string
		script  string
		argv    []string
		signal  unix.Signal
		out     []string
	}{
		{"cmd", `console=ttyS0 quiet nsinit.cmd="sh -c 'echo hello from the vm; exit 3'"`, "", nil, unix.SIGINT,
			[]string{"hello from the vm", "nsinit: sh -c echo hello from the vm; exit 3 exited with status 3"}},
		{"reboot", `nsinit.shutdown=reboot nsinit.cmd=true`, "", nil, unix.SIGHUP,
			[]string{"nsinit: true exited with status 0"}},
		{"halt", `nsinit.shutdown=halt`, "", []string{"sh", "-c", "exit 4"}, unix.SIGINT,
			[]string{"nsinit: sh -c exit 4 exited with status 4"}},
		{"sigterm", `nsinit.cmd="sh -c 'kill -TERM 1; sleep 100 & wait'"`, "", nil, unix.SIGINT,
			[]string{"SIGTERM: shutting down", "exited with status 143"}},
		{"no nsh", ``, "", nil, unix.SIGINT,
			[]string{"exec /bin/nsh failed", "nsinit: /bin/nsh exited with status 127"}},
	} {
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "cmdline"), []byte(tt.cmdline+"\n"), 0o644)
		cmd := helperCmd(t, "vm", tt.argv...)
		cmd.Env = append(cmd.Env, "NSINIT_TEST_VMROOT="+root)
		cmd.SysProcAttr = pidnsAttr()
		cmd.WaitDelay = 20 * time.Second
		out, _ := cmd.CombinedOutput()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != tt.signal {
			t.Errorf("%s: ended %v, want killed by %v (reboot in a pid namespace); output:\n%s", tt.name, Describe(unix.WaitStatus(ws)), tt.signal, out)
		}
		for _, o := range tt.out {
			if !strings.Contains(string(out), o) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, o, out)
			}
		}
	}
}

// TestHostMountsUntouched: nsinit as PID 1 of a new pid namespace that
// shares the host's mount namespace (unshare -p without -m) sees the host's
// /proc and must mount nothing (TestMain checks the host's mount table).
func TestHostMountsUntouched(t *testing.T) {
	r := runNsinit(t, runOpts{attr: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID, Pdeathsig: unix.SIGKILL}}, "-v", "--", "true")
	if r.code != 0 || !strings.Contains(r.stderr, "this is the host's mount namespace") {
		t.Errorf("status %d, stderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "mount -t") {
		t.Errorf("mounted in the host's namespace:\n%s", r.stderr)
	}
}

// TestNoPropagation: when nsinit mounts a fresh /proc in a mount namespace
// whose root is shared with the one it was copied from, it makes its
// namespace private first, so the mount does not appear outside.
func TestNoPropagation(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	const script = `b=$(grep -c . /proc/self/mountinfo)
unshare -pmf --propagation unchanged "$0" -vv -- true
echo "$b $(grep -c . /proc/self/mountinfo)"`
	cmd := testCmd(t, "unshare", "-m", "--propagation", "shared", "sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=main")
	cmd.WaitDelay = 30 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) != 2 || f[0] != f[1] {
		t.Errorf("mount count before and after nsinit: %q (%v); stderr:\n%s", out, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "mount --make-rprivate /") || !strings.Contains(stderr.String(), "mount -t proc") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// TestJobControl: an interactive shell under nsinit, on a terminal, has job
// control (a background job brought to the foreground with fg).
func TestJobControl(t *testing.T) {
	master, slave := openPty(t)
	defer master.Close()
	cmd := testCmd(t, os.Args[0], "--", "sh", "-i")
	cmd.Env = append(os.Environ(), helperEnv+"=main", "PS1=$ ")
	cmd.SysProcAttr = pidnsAttr()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	master.Write([]byte("sleep 0.2 &\nfg\necho fg-done $?\nexit 4\n"))
	var out []byte
	buf := make([]byte, 4096)
	master.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		n, err := master.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 4 || !strings.Contains(string(out), "fg-done 0") || strings.Contains(string(out), "job control turned off") {
		t.Errorf("status %d, terminal:\n%s", code, out)
	}
}
