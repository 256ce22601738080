package builtins

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRforkEmptyRoot(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	// The programs: /usr and what of /bin, /lib, /lib64 the host has.
	binds, dirs := "bind '#/'/usr /usr", []string{"/usr"}
	for _, d := range []string{"/bin", "/lib", "/lib64"} {
		if _, err := os.Stat(d); err == nil {
			binds += "; bind '#/'" + d + " " + d
			dirs = append(dirs, d)
		}
	}
	withEtc := append([]string{"/etc"}, dirs...)
	sort.Strings(withEtc)
	// The new root is empty; '#/' reaches the old one for bind only.
	nsh(t, 0, "rfork N\necho $PWD /*\nbind '#/'/etc /etc && echo /etc/hostname\n"+binds+"\necho /*").
		want(t, "/ /*\n/etc/hostname\n"+strings.Join(withEtc, " ")+"\n", 0)
	// Commands run in the new tree.
	sort.Strings(dirs)
	nsh(t, 0, "rfork N\n"+binds+"\n/usr/bin/ls /").want(t, strings.ReplaceAll(strings.Join(dirs, "\n"), "/", "")+"\n", 0)
	// The old root is not mounted anywhere in the new tree.
	r := nsh(t, 0, "rfork N\nbind '#p' /proc; n=0; while read l; do n=$((n+1)); done </proc/self/mountinfo; echo $n")
	if n, _ := strconv.Atoi(strings.TrimSpace(r.stdout)); r.code != 0 || n != 2 {
		t.Errorf("mounts after rfork N and a /proc: %+v, want 2 (the tmpfs root and proc)", r)
	}
	// unmount '#/' releases it.
	r = nsh(t, 0, "rfork N\nunmount '#/' && echo released; bind '#/'/etc /etc || echo refused; unmount '#/' || echo gone")
	if r.stdout != "released\nrefused\ngone\n" {
		t.Errorf("unmount '#/': %+v", r)
	}
}

func TestRforkLetters(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	mnt := nsLink(t, "mnt")
	// n: a new, private mount namespace.
	r := nsh(t, 0, "rfork n\nreadlink /proc/self/ns/mnt; mount -t tmpfs rforktest /mnt && echo ok")
	if lines := strings.Fields(r.stdout); r.code != 0 || len(lines) != 2 || lines[0] == mnt || lines[1] != "ok" {
		t.Errorf("rfork n: %+v (host %s)", r, mnt)
	}
	// The default is ens: a new mount namespace, a new session, the
	// environment kept.
	r = nsh(t, 0, "export KEEP=1; rfork\nreadlink /proc/self/ns/mnt; /bin/sh -c 'echo $KEEP; ps -o sid= -p $PPID; ps -o pid= -p $PPID'")
	f := strings.Fields(r.stdout)
	if r.code != 0 || len(f) != 4 || f[0] == mnt || f[1] != "1" || f[2] != f[3] {
		t.Errorf("rfork (ens): %+v", r)
	}
	// E: no exported variables; e keeps them.
	nsh(t, 0, "export GONE=1; KEPT=2; rfork E\necho ${GONE-unset} $KEPT; /bin/sh -c 'echo ${GONE-unset}'").want(t, "unset 2\nunset\n", 0)
	nsh(t, 0, "export KEEP=1; rfork e\n/bin/sh -c 'echo $KEEP'").want(t, "1\n", 0)
	// s: a session of its own, without the original's.
	r = nsh(t, 0, "rfork s\nps -o sid= -p $$; ps -o pid= -p $$")
	if f := strings.Fields(r.stdout); r.code != 0 || len(f) != 2 || f[0] != f[1] {
		t.Errorf("rfork s: %+v", r)
	}
	// f keeps the script's descriptors, F closes them.
	nsh(t, 0, "exec 7</etc/hostname; rfork f\ncat <&7 | wc -l").want(t, "1\n", 0)
	r = nsh(t, 0, "exec 7</etc/hostname; rfork F\nls /proc/self/fd/7 2>/dev/null || echo closed")
	r.want(t, "closed\n", 0)
	// Letters that exclude each other, unknown letters.
	nsh(t, 0, "rfork nN").want(t, "", 2)
	nsh(t, 0, "rfork eE").want(t, "", 2)
	nsh(t, 0, "rfork fF").want(t, "", 2)
	nsh(t, 0, "rfork x").want(t, "", 2)
}

func TestRforkNoMounts(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	r := nsh(t, 0, "rfork nm\nmount -t tmpfs t /mnt; echo $?; /bin/mount -t tmpfs t /mnt 2>/dev/null; echo $?; umount /proc 2>&1; unshare -m -- true; echo $?")
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || len(lines) < 3 || lines[0] != "1" || lines[1] == "0" || lines[2] == "0" {
		t.Errorf("rfork m: %+v", r)
	}
	if !strings.Contains(r.stderr, "operation not permitted") {
		t.Errorf("rfork m: mount's error is not EPERM: %q", r.stderr)
	}
	// As a non-root user the filter comes with no_new_privs.
	nsh(t, 65534, "rfork m\ngrep NoNewPrivs /proc/self/status | tr -d '\\t'").want(t, "NoNewPrivs:1\n", 0)
}

func TestEnterTarget(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	// An environment that keeps running, with its own host name and a
	// mount of its own; it prints the pid of its shell.
	env := exec.Command(nshBinary(t), "-c", `unshare -mpuinC --mount-proc
hostname target; mount -t tmpfs t /mnt; echo inside > /mnt/marker
echo ready; sleep 30`)
	out, _ := env.StdoutPipe()
	if err := env.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { env.Process.Kill(); env.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	// The copy is the original's only child (forked by one of its
	// threads, whichever it was).
	var pid []string
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(env.Process.Pid) + "/task/*/children")
	for _, task := range tasks {
		kids, _ := os.ReadFile(task)
		pid = append(pid, strings.Fields(string(kids))...)
	}
	if len(pid) != 1 {
		t.Fatalf("children of the original: %q", pid)
	}
	p := pid[0]
	nsh(t, 0, "enter -t "+p+" -- hostname").want(t, "target\n", 0)
	nsh(t, 0, "enter -t "+p+" -- cat /mnt/marker").want(t, "inside\n", 0)
	nsh(t, 0, "enter -t "+p+" -m -- cat /mnt/marker").want(t, "inside\n", 0)
	nsh(t, 0, "enter -t "+p+" -u -- hostname").want(t, "target\n", 0)
	// Each type flag joins that namespace only.
	for _, typ := range []struct{ flag, name string }{{"-u", "uts"}, {"-i", "ipc"}, {"-n", "net"}, {"-p", "pid"}, {"-C", "cgroup"},
		{"--uts", "uts"}, {"--ipc", "ipc"}, {"--net", "net"}, {"--pid", "pid"}, {"--cgroup", "cgroup"}} {
		want, _ := os.Readlink("/proc/" + p + "/ns/" + typ.name)
		r := nsh(t, 0, "enter -t "+p+" "+typ.flag+" -- sh -c 'readlink /proc/self/ns/"+typ.name+"; readlink /proc/self/ns/mnt'")
		mnt := nsLink(t, "mnt")
		if r.code != 0 || r.stdout != want+"\n"+mnt+"\n" {
			t.Errorf("enter %s: %+v, want %s and the host's %s", typ.flag, r, want, mnt)
		}
	}
	nsh(t, 0, "enter --uts=/proc/"+p+"/ns/uts -- hostname").want(t, "target\n", 0)
	nsh(t, 0, "enter /proc/"+p+"/ns/uts /proc/"+p+"/ns/mnt -- cat /mnt/marker").want(t, "inside\n", 0)
	pidns, _ := os.Readlink("/proc/" + p + "/ns/pid")
	nsh(t, 0, "enter -t "+p+" --all -- readlink /proc/self/ns/pid").want(t, pidns+"\n", 0)
	// Without a command, the script goes on inside, with its state.
	nsh(t, 0, "cd /tmp; x=kept; enter -t "+p+"\necho $(hostname) $x $PWD; cat /mnt/marker; echo /proc/1").
		want(t, "target kept /tmp\ninside\n/proc/1\n", 0)
	// The user namespace cannot be joined by a Go program: a clear error.
	r := nsh(t, 0, "enter -t "+p+" -U -- true")
	if r.code != 1 || !strings.Contains(r.stderr, "single-threaded") {
		t.Errorf("enter -U: %+v", r)
	}
	// Usage errors.
	nsh(t, 0, "enter -m -- true").want(t, "", 2)
	nsh(t, 0, "enter -t nope -- true").want(t, "", 2)
	nsh(t, 0, "enter -- true").want(t, "", 2)
}

func TestNsList(t *testing.T) {
	needRoot(t)
	hostUnchanged(t)
	r := nsh(t, 0, "ns -l")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "TYPE") {
		t.Fatalf("ns -l: %+v", r)
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	for _, typ := range []string{"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"} {
		row := rows[typ]
		if row == nil {
			t.Errorf("ns -l: no %s line in\n%s", typ, r.stdout)
			continue
		}
		var want string
		if l, err := os.Readlink("/proc/self/ns/" + typ); err == nil {
			want = strings.TrimSuffix(strings.TrimPrefix(l, typ+":["), "]")
		}
		if row[1] != want {
			t.Errorf("ns -l: %s is %s, want %s", typ, row[1], want)
		}
	}
	// In a pid namespace whose PID 1 is an nsh copy, a further copy with
	// its own uts namespace differs from PID 1 in uts only.
	r = nsh(t, 0, "unshare -mp --mount-proc\nunshare -u\nns -l")
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		f := strings.Fields(l)
		want := "same"
		if f[0] == "uts" {
			want = "differs"
		}
		if f[2] != want {
			t.Errorf("ns -l in a new uts namespace: %q, want %s", l, want)
		}
	}
	// Of another process.
	cmd := exec.Command("sleep", "5")
	cmd.Start()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(10 * time.Millisecond)
	if r := nsh(t, 0, "ns -l "+strconv.Itoa(cmd.Process.Pid)); r.code != 0 || !strings.Contains(r.stdout, "uts") {
		t.Errorf("ns -l PID: %+v", r)
	}
	nsh(t, 0, "ns -l nope").want(t, "", 2)
}
