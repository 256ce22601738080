package builtins

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/syntax"
)

// The namespace builtins start copies of nsh itself, so their tests run
// the real nsh binary, built once per test binary.

var (
	nshOnce sync.Once
	nshPath string
	nshErr  error
)

// nshBinary builds ./cmd/nsh into a directory named after this test
// process; directories left by test processes that are gone are removed.
func nshBinary(t *testing.T) string {
	t.Helper()
	nshOnce.Do(func() {
		old, _ := filepath.Glob(filepath.Join(os.TempDir(), "nsh-nstest-*"))
		for _, d := range old {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "nsh-nstest-"))
			if err == nil && unix.Kill(pid, 0) == unix.ESRCH {
				os.RemoveAll(d)
			}
		}
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("nsh-nstest-%d", os.Getpid()))
		if nshErr = os.MkdirAll(dir, 0o755); nshErr != nil {
			return
		}
		os.Chmod(dir, 0o755) // readable by the unprivileged user of the rootless tests
		nshPath = filepath.Join(dir, "nsh")
		cmd := exec.Command("go", "build", "-o", nshPath, "../cmd/nsh")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			nshErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if nshErr != nil {
		t.Fatal(nshErr)
	}
	return nshPath
}

// needRoot skips tests that create namespaces as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CI runs the namespace tests as root)")
	}
}

// hostUnchanged fails the test if the host's mount table differs after it.
func hostUnchanged(t *testing.T) {
	t.Helper()
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	t.Cleanup(func() {
		after, _ := os.ReadFile("/proc/self/mountinfo")
		if !bytes.Equal(before, after) {
			t.Errorf("the host's mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if h, _ := os.Hostname(); h != host {
			t.Errorf("the host name changed from %q to %q", host, h)
		}
	})
}

type nshRun struct {
	stdout, stderr string
	code           int
}

// nsh runs `nsh -c script` with a timeout; uid, when non-zero, runs it as
// that user (uid and gid), for the rootless paths.
func nsh(t *testing.T, uid int, script string, args ...string) nshRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nshBinary(t), append([]string{"-c", script}, args...)...)
	cmd.Dir = "/"
	cmd.WaitDelay = 2 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		cmd.Env = append(os.Environ(), "HOME=/")
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		t.Fatalf("nsh -c %q: %v", script, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("nsh -c %q: timed out; stderr:\n%s", script, errb.String())
	}
	return nshRun{out.String(), errb.String(), code}
}

// want checks the output and status of a run.
func (r nshRun) want(t *testing.T, stdout string, code int) {
	t.Helper()
	if r.stdout != stdout || r.code != code {
		t.Errorf("got status %d, stdout:\n%s\nwant status %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, code, stdout, r.stderr)
	}
}

func TestUnshareIssueCheck(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	r := nsh(t, 0, "unshare -mpu --mount-proc\nhostname box; echo $(hostname) $$; ls /proc | grep -c \"^[0-9]\"")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 || lines[0] != "box 1" {
		t.Fatalf("status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if n, err := strconv.Atoi(lines[1]); err != nil || n > 5 {
		t.Errorf("processes in the new /proc: %q, want a small count", lines[1])
	}
}

// TestUnshareState runs each script with and without an `unshare -m`
// line in it: the output and status must be the same.
func TestUnshareState(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	tests := []struct{ name, before, after string }{
		{"strings", "s='a  b'; t=", `echo "$s" "[$t]"`},
		{"indexed", "a=(1 'two 2' 3); a[5]=x", `echo "${a[@]}" "${#a[@]}" "${!a[@]}"`},
		{"assoc", `declare -A m=([k]=v ["x y"]=z)`, `echo "${m[k]}" "${m["x y"]}" "${#m[@]}"`},
		{"exported", "export E=x; N=y", `sh -c 'echo "$E" "${N-unset}"'`},
		{"readonly", "readonly R=r", `echo $R; R=q; echo after`},
		{"functions", "f() { echo \"f:$1\" $(g); }; g() { echo g; }", `f one`},
		{"errexit", "set -e", "false; echo not reached"},
		{"nounset", "set -u", "echo $nope; echo not reached"},
		{"xtrace", "set -x", "echo traced 2>&1"},
		{"pipefail", "set -o pipefail", "false | true; echo $?"},
		{"params", "set -- p1 'p 2' p3; shift", `echo $# "$1" "$2"`},
		{"arg0", "", `echo $0`},
		{"cwd", "cd /tmp", "pwd; echo $PWD"},
		{"umask", "umask 027", "umask; sh -c umask"},
		{"aliases", "alias ll='ls -l' la='ls -a'", "alias ll la"},
		{"shopt", "shopt -s nullglob globstar", "echo /nonexistent*; shopt globstar nullglob dotglob"},
		{"ifs", "IFS=:", `x=a:b; set -- $x; echo $#`},
		{"status", "", "exit 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := nsh(t, 0, tt.before+"\n"+tt.after, "arg0")
			copied := nsh(t, 0, tt.before+"\nunshare -m\n"+tt.after, "arg0")
			// -x traces the unshare line itself, in the original.
			copied.stderr = strings.Replace(copied.stderr, "+ unshare -m\n", "", 1)
			if plain.stdout != copied.stdout || plain.code != copied.code || plain.stderr != copied.stderr {
				t.Errorf("without unshare: status %d, stdout %q, stderr %q\nwith unshare:    status %d, stdout %q, stderr %q",
					plain.code, plain.stdout, plain.stderr, copied.code, copied.stdout, copied.stderr)
			}
		})
	}
}

func TestUnshareIssueStateScript(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	script := `a=(1 2 3)
declare -A m=([k]=v)
export E=x
readonly R=r
f() { echo "f $1"; }
alias hi='echo hi'
set -u -o pipefail
cd /tmp
umask 077
%s
echo "${a[@]} ${m[k]} $E $R $PWD $(umask)"; f x; alias hi
sh -c 'echo $E'
false | true || echo pipefail
R=1 || echo readonly
echo $undefined`
	plain := nsh(t, 0, fmt.Sprintf(script, ""))
	copied := nsh(t, 0, fmt.Sprintf(script, "unshare -m"))
	if plain != copied {
		t.Errorf("without unshare: %+v\nwith unshare:    %+v", plain, copied)
	}
}

func TestUnshareNested(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	r := nsh(t, 0, `unshare -mu
hostname one; x=1
unshare -mu
hostname two; x=$((x+1))
unshare -mpu --mount-proc
hostname three; x=$((x+1))
echo $x $NSH_DEPTH $$ $(hostname)
exit 5`)
	r.want(t, "3 4 1 three\n", 5)
}

func TestUnshareContinuationRule(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	lib := filepath.Join(t.TempDir(), "lib.nsh")
	if err := os.WriteFile(lib, []byte("unshare -m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ script, why string }{
		{"f() { unshare -m; }; f", "inside a function (f)"},
		{"f() {\nunshare -m\n}\nf", "inside a function (f)"},
		{"for i in 1; do unshare -m; done", "inside a loop"},
		{"while true; do unshare -m; break; done", "inside a loop"},
		{"( unshare -m )", "in a subshell"},
		{"unshare -m | cat", "in a pipeline"},
		{"true && unshare -m", "in an && or || list"},
		{"unshare -m || true", "in an && or || list"},
		{"if true; then unshare -m; fi", "inside an if"},
		{"echo $(unshare -m)", "in a command substitution"},
		{"unshare -m & wait", "in the background"},
		{"rfork n | cat", "in a pipeline"},
		{"f() { enter -t $$; }; f", "inside a function"},
		{"source " + lib, "in a sourced file"},
	} {
		r := nsh(t, 0, tt.script+"\necho after $?")
		if !strings.Contains(r.stderr, tt.why) || !strings.Contains(r.stderr, "FLAGS -- CMD") {
			t.Errorf("%q: stderr %q, want it to say %q and what to write instead", tt.script, r.stderr, tt.why)
		}
		if !strings.Contains(r.stdout, "after 2") && !strings.Contains(r.stdout, "after 0") {
			t.Errorf("%q: stdout %q, want the script to go on after the usage error", tt.script, r.stdout)
		}
	}
	// In a function the statement itself fails with 2.
	nsh(t, 0, "f() { unshare -m; }; f").want(t, "", 2)
}

func TestUnshareCommand(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	nsh(t, 0, "unshare -u -- sh -c 'hostname inner; hostname; exit 3'; echo $?").want(t, "inner\n3\n", 0)
	nsh(t, 0, "unshare -m -- sh -c 'kill -9 $$'; echo $?").want(t, "137\n", 0)
	// With -p, CMD runs under nsh as PID 1, unless --no-init.
	nsh(t, 0, "unshare -pf --mount-proc -- cat /proc/1/comm").want(t, "nsh\n", 0)
	nsh(t, 0, "unshare -p --mount-proc --no-init -- sh -c 'echo $$ $(cat /proc/1/comm)'").want(t, "1 sh\n", 0)
	nsh(t, 0, "unshare -m -- no-such-command-here").want(t, "", 127)
	nsh(t, 0, "cd /tmp; unshare -m -- pwd").want(t, "/tmp\n", 0)
	// A builtin or a function runs in a copy of the shell, with its state.
	host, _ := os.Hostname()
	nsh(t, 0, "x=state; f() { hostname \"$1\"; echo $(hostname) $x $$; return 4; }; unshare -up -- f 'in ner'; echo $? $(hostname)").
		want(t, "in ner state 1\n4 "+host+"\n", 0)
}

// nsLink returns readlink /proc/self/ns/TYPE of this process.
func nsLink(t *testing.T, typ string) string {
	l, err := os.Readlink("/proc/self/ns/" + typ)
	if err != nil {
		t.Skip(err)
	}
	return l
}

func TestUnshareFlags(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	for _, tt := range []struct{ flag, typ string }{
		{"-m", "mnt"}, {"--mount", "mnt"}, {"-u", "uts"}, {"--uts", "uts"},
		{"-i", "ipc"}, {"--ipc", "ipc"}, {"-n", "net"}, {"--net", "net"},
		{"-p", "pid"}, {"--pid", "pid"}, {"-U", "user"}, {"--user", "user"},
		{"-C", "cgroup"}, {"--cgroup", "cgroup"}, {"-T", "time"}, {"--time", "time"},
		{"-r", "user"}, {"--map-root-user", "user"}, {"--mount-proc", "mnt"},
	} {
		host := nsLink(t, tt.typ)
		r := nsh(t, 0, fmt.Sprintf("unshare %s\nreadlink /proc/self/ns/%s", tt.flag, tt.typ))
		if got := strings.TrimSpace(r.stdout); r.code != 0 || got == host || !strings.HasPrefix(got, tt.typ+":") {
			t.Errorf("unshare %s: %s namespace %q (host %q), status %d, stderr %q", tt.flag, tt.typ, got, host, r.code, r.stderr)
		}
	}
	// The user namespace maps.
	nsh(t, 0, "unshare -r\nid -u; id -g; cat /proc/self/setgroups").want(t, "0\n0\ndeny\n", 0)
	nsh(t, 0, "unshare --map-user=1000 --map-group=100\nid -u; id -g").want(t, "1000\n100\n", 0)
	nsh(t, 0, "unshare --map-users=0:100000:1000 --map-groups=0:100000:1000 --setgroups=allow\ncat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups | tr -s ' '").
		want(t, " 0 100000 1000\n 0 100000 1000\nallow\n", 0)
	nsh(t, 0, "unshare -U --setgroups=deny --map-group=0\ncat /proc/self/setgroups").want(t, "deny\n", 0)
	// --kill-child and -f are accepted; usage errors exit 2.
	nsh(t, 0, "unshare -f --kill-child=TERM -m -- true").want(t, "", 0)
	nsh(t, 0, "unshare --kill-child=NOPE -m -- true").want(t, "", 2)
	nsh(t, 0, "unshare --propagation=sideways -m -- true").want(t, "", 2)
	nsh(t, 0, "unshare --map-users=1:2 -- true").want(t, "", 2)
	nsh(t, 0, "unshare --bogus -- true").want(t, "", 2)
}

// TestUnsharePropagation checks the propagation of / in a new mount
// namespace, read from the optional fields of its mountinfo line.
func TestUnsharePropagation(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	root := func(script string) string {
		r := nsh(t, 0, script+"\nawk '$5 == \"/\" { for (i = 7; $i != \"-\"; i++) printf \"%s \", $i; print \"\" }' /proc/self/mountinfo")
		if r.code != 0 {
			t.Fatalf("%s: %+v", script, r)
		}
		return r.stdout
	}
	hostShared := strings.Contains(root(""), "shared:")
	if got := root("unshare -m"); strings.Contains(got, "shared:") || strings.Contains(got, "master:") {
		t.Errorf("unshare -m: / has %q, want private", got)
	}
	if got := root("unshare -m --propagation=private"); strings.Contains(got, "shared:") {
		t.Errorf("--propagation=private: / has %q", got)
	}
	if !hostShared {
		t.Log("the host's / is not shared: slave and unchanged not checked")
		return
	}
	if got := root("unshare -m --propagation=slave"); !strings.Contains(got, "master:") || strings.Contains(got, "shared:") {
		t.Errorf("--propagation=slave: / has %q", got)
	}
	if got := root("unshare -m --propagation=shared"); !strings.Contains(got, "shared:") {
		t.Errorf("--propagation=shared: / has %q", got)
	}
	if got := root("unshare -m --propagation=unchanged"); !strings.Contains(got, "shared:") {
		t.Errorf("--propagation=unchanged: / has %q", got)
	}
	// Nothing mounted in a new mount namespace reaches the host (the
	// cleanup compares the host's table).
	nsh(t, 0, "unshare -m\nmount -t tmpfs nshtest /mnt && echo ok").want(t, "ok\n", 0)
}

func TestUnsharePid1(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	// Orphans are reaped: no zombie is left once the double fork's
	// middle process has gone.
	nsh(t, 0, `unshare -mp --mount-proc
echo $$
sh -c 'sleep 0.2 & exit 0'
sleep 0.5
grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l`).want(t, "1\n0\n", 0)
}

// TestUnshareNetFile keeps a network namespace on a file, checks from
// this process that lo is up in it, and releases it.
func TestUnshareNetFile(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	dir := t.TempDir()
	// A private mount for the namespace file (as /run/netns is).
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "box")
	nsh(t, 0, "unshare --net="+file+" --uts="+file+".uts -- hostname persisted").want(t, "", 0)
	defer unix.Unmount(file+".uts", unix.MNT_DETACH)
	defer unix.Unmount(file, unix.MNT_DETACH)

	var st unix.Statfs_t
	if err := unix.Statfs(file, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		t.Fatalf("%s is not a namespace file after unshare (statfs type %#x, %v)", file, st.Type, err)
	}
	flags, err := loFlagsIn(file)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.IFF_UP == 0 {
		t.Errorf("lo is not up in the new network namespace (flags %#x)", flags)
	}
	nsh(t, 0, "enter --uts="+file+".uts -- hostname").want(t, "persisted\n", 0)
	nsh(t, 0, "enter "+file+" -- cat /proc/net/dev | grep -c :").want(t, "1\n", 0)

	// A mount namespace on a file (the directory is a private mount).
	nsh(t, 0, "unshare --mount="+file+".mnt\nmount -t tmpfs nshmarker /mnt").want(t, "", 0)
	defer unix.Unmount(file+".mnt", unix.MNT_DETACH)
	nsh(t, 0, "enter "+file+".mnt -- grep -c nshmarker /proc/self/mountinfo").want(t, "1\n", 0)

	// umount FILE releases it.
	if err := unix.Unmount(file, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Statfs(file, &st); err != nil || st.Type == unix.NSFS_MAGIC {
		t.Errorf("%s is still a namespace file after umount", file)
	}
}

// loFlagsIn reads lo's flags in the network namespace bound on file,
// from a locked thread that joins it and is then thrown away.
func loFlagsIn(file string) (uint16, error) {
	type result struct {
		flags uint16
		err   error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{0, err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{0, err}
			return
		}
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			ch <- result{0, err}
			return
		}
		defer unix.Close(s)
		ifr, _ := unix.NewIfreq("lo")
		err = unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr)
		ch <- result{ifr.Uint16(), err}
	}()
	r := <-ch
	return r.flags, r.err
}

func TestUnshareSignals(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	for _, flags := range []string{"-m", "-mp"} {
		t.Run(flags, func(t *testing.T) {
			// Without a pid namespace the copy's commands outlive it, as
			// a killed bash's do: the test kills its sleep itself.
			cmd := exec.Command(nshBinary(t), "-c", "unshare "+flags+"\nsh -c 'echo ready $$; exec sleep 20' &\nwait")
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			f := strings.Fields(line)
			if err != nil || len(f) != 2 || f[0] != "ready" {
				t.Fatalf("read %q, %v", line, err)
			}
			if flags == "-m" {
				sleep, err := strconv.Atoi(f[1])
				if err != nil {
					t.Fatalf("read %q", line)
				}
				defer unix.Kill(sleep, unix.SIGKILL)
			}
			cmd.Process.Signal(unix.SIGTERM)
			done := make(chan error)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the original did not end after SIGTERM")
			}
			if code := cmd.ProcessState.ExitCode(); code != 143 {
				t.Errorf("status %d, want 143", code)
			}
		})
	}
}

// TestUnshareKillOriginal kills the original with SIGKILL: nothing of the
// environment may stay alive.
func TestUnshareKillOriginal(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	for _, flags := range []string{"-mp --mount-proc", "-mp --mount-proc --kill-child=TERM"} {
		t.Run(flags, func(t *testing.T) { killOriginal(t, flags) })
	}
}

func killOriginal(t *testing.T, flags string) {
	cmd := exec.Command(nshBinary(t), "-c", "unshare "+flags+"\nsleep 30 & echo $(readlink /proc/self/ns/pid); sleep 31")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pidns := strings.TrimSpace(line)
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := processesIn(pidns)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the environment (%s) still alive: %v", pidns, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesIn lists the pids of the host whose pid namespace is ns.
func processesIn(ns string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && l == ns {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestUnshareRootless(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	// The issue's check: as uid 65534, unshare -m then mount works.
	nsh(t, 65534, "unshare -m\nmount -t tmpfs t /mnt; id -u").want(t, "0\n", 0)
	nsh(t, 65534, "unshare -u\nhostname rootless; hostname; cat /proc/self/uid_map | tr -s ' '").want(t, "rootless\n 0 65534 1\n", 0)
	nsh(t, 65534, "unshare --map-user=7 -u -- id -u").want(t, "7\n", 0)
	// Without newuidmap on $PATH, mapping a range fails with a hint.
	r0 := nsh(t, 65534, "PATH=/nonexistent; unshare --map-users=0:100000:65536 -m -- true")
	if r0.code != 1 || !strings.Contains(r0.stderr, "newuidmap not found") || !strings.Contains(r0.stderr, "hint: install the uidmap package") {
		t.Errorf("--map-users without newuidmap: %+v", r0)
	}
	r := nsh(t, 65534, "unshare --setgroups=allow -m -- true")
	if r.code != 2 {
		t.Errorf("--setgroups=allow rootless: %+v", r)
	}
}

func TestUnshareMemfd(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	// The copy runs from a sealed memfd, not from the binary on disk.
	r := nsh(t, 0, "unshare -m\nreadlink /proc/$$/exe")
	r.want(t, "/memfd:nsh (deleted)\n", 0)
	// It cannot be opened for writing.
	r = nsh(t, 0, "unshare -m\necho x >> /proc/$$/exe && echo written")
	if r.stdout != "" || r.code == 0 {
		t.Errorf("the copy's binary was writable: %+v", r)
	}
}

// TestUnshareInteractive opens a nested session on a pseudo-terminal:
// the prompt shows the depth, the session runs in the new namespaces, and
// exit returns to the outer one.
func TestUnshareInteractive(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	home := t.TempDir()
	cmd := exec.Command(nshBinary(t))
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_STATE_HOME="+home, "TERM=dumb")
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
		return strings.HasPrefix(kv, "PS1=") || strings.HasPrefix(kv, "NSH_DEPTH=")
	})
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait(); ptm.Close() }()
	var mu sync.Mutex
	var buf []byte
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			mu.Lock()
			buf = append(buf, b[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := 0
	expect := func(s string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			rest := string(buf[seen:])
			mu.Unlock()
			if i := strings.Index(rest, s); i >= 0 {
				seen += i + len(s)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("terminal: no %q in %q", s, rest)
			}
		}
	}
	host, _ := os.Hostname()
	expect("nsh# ")
	ptm.WriteString("x=kept; unshare -u\n")
	expect("nsh[2]# ")
	ptm.WriteString("hostname inner; echo \"[$(hostname) $x $NSH_DEPTH]\"\n")
	expect("[inner kept 2]")
	expect("nsh[2]# ")
	ptm.WriteString("exit\n")
	expect("nsh# ")
	ptm.WriteString("echo \"[$(hostname)]\"\n")
	expect("[" + host + "]")
	ptm.WriteString("exit\n")
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("nsh did not exit")
	}
}

// TestUnshareNewuidmap maps a range of ids as a non-root user through
// newuidmap(1) and newgidmap(1), with /etc/subuid and /etc/subgid granting
// it (bound over the host's in a private mount namespace).
func TestUnshareNewuidmap(t *testing.T) {
	needRoot(t)
	for _, p := range []string{"newuidmap", "newgidmap", "setpriv"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (package uidmap, util-linux)", p)
		}
	}
	hostUnchanged(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	for _, f := range []string{"subuid", "subgid"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("nobody:100000:65536\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inner := `unshare --map-users=0:65534:1 --map-users=1:100000:1000 --map-groups=0:65534:1 --map-groups=1:100000:1000 -m
id -u; cat /proc/self/uid_map /proc/self/gid_map | tr -s ' '; mount -t tmpfs t /mnt && echo mounted`
	quoted, err := syntax.Quote(inner, syntax.LangBash)
	if err != nil {
		t.Fatal(err)
	}
	r := nsh(t, 0, fmt.Sprintf(`unshare -m
bind %[1]s/subuid /etc/subuid; bind %[1]s/subgid /etc/subgid
setpriv --reuid 65534 --regid 65534 --clear-groups %[2]s -c %[3]s`, dir, nshBinary(t), quoted))
	r.want(t, "0\n 0 65534 1\n 1 100000 1000\n 0 65534 1\n 1 100000 1000\nmounted\n", 0)
	// A range the files do not grant is refused, with the helper's error.
	r = nsh(t, 65534, "unshare --map-users=1:200000:10 -m -- true")
	if r.code != 1 || !strings.Contains(r.stderr, "newuidmap") {
		t.Errorf("an ungranted range: %+v", r)
	}
}

// TestUnshareScripts runs the command tests in testdata/script with the
// built nsh first on $PATH.
func TestUnshareScripts(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	bin := filepath.Dir(nshBinary(t))
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", bin+string(os.PathListSeparator)+e.Getenv("PATH"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}
