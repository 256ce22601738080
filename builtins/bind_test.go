package builtins

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/nsh-project/nsh/bind"
	"github.com/nsh-project/nsh/internal/bbroot"
)

// These tests mount for real, each in a mount namespace of its own: the
// script runs in a new process of the test binary made with CLONE_NEWNS
// (and CLONE_NEWPID where it pivots), and starts by making / rprivate.
// The host's mount table is compared before and after.

func needMountRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mount tests need root (CI runs them as root)")
	}
}

// mountTable returns the test process's mount table, without the IDs
// that could be reused.
func mountTable(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// inMountNS runs script in a new mount namespace (plus extra clone
// flags) and returns its output and status, checking the host's mount
// table is untouched.
func inMountNS(t *testing.T, flags uintptr, script string, extra ...*os.File) (stdout, stderr string, status int) {
	t.Helper()
	return inMountNSWith(t, func(ctx context.Context, script string) *exec.Cmd { return shellCmd(ctx, script) }, flags, script, extra...)
}

// inMountNSWith is inMountNS with another way to start the shell: the
// built nsh, for scripts that re-execute it (unshare, rfork).
func inMountNSWith(t *testing.T, start func(context.Context, string) *exec.Cmd, flags uintptr, script string, extra ...*os.File) (stdout, stderr string, status int) {
	t.Helper()
	needMountRoot(t)
	before := mountTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := start(ctx, "mount --make-rprivate /\n"+script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | flags}
	cmd.ExtraFiles = extra
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("script timed out:\n%s\nstderr: %s", script, errb.String())
	}
	status = cmd.ProcessState.ExitCode()
	if err != nil && status < 0 {
		t.Fatalf("run: %v", err)
	}
	if after := mountTable(t); after != before {
		t.Errorf("the host's mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	return out.String(), errb.String(), status
}

func mkTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBindUnion is the check: a union of a before and b after
// lists both, a's version of a shared name wins, a -c member takes the
// creates, the members are read back by ns, and unmount takes one out.
func TestBindUnion(t *testing.T) {
	d := t.TempDir()
	mkTree(t, d, map[string]string{"a/same": "a\n", "a/onlya": "", "b/same": "b\n", "b/onlyb": "", "u/orig": "", "w/": ""})
	out, errs, st := inMountNS(t, 0, `D=`+d+`
bind -b $D/a $D/u
bind -a $D/b $D/u
echo $(ls $D/u)
cat $D/u/same
bind -bc $D/w $D/u
touch $D/u/new
echo w: $(ls $D/w)
ns | grep "$D/u"
unmount $D/a $D/u
echo after: $(ls $D/u)
cat $D/u/same
unmount $D/u
echo gone: $(ls $D/u)
`)
	want := `onlya onlyb orig same
a
w: new
bind -b ` + d + `/a ` + d + `/u
bind -a ` + d + `/b ` + d + `/u
bind -bc ` + d + `/w ` + d + `/u
after: new onlyb orig same
b
gone: orig
`
	if st != 0 || out != want {
		t.Errorf("status %d, stderr %q\nstdout:\n%s\nwant:\n%s", st, errs, out, want)
	}
	if _, err := os.Stat(filepath.Join(d, "w", "new")); err != nil {
		t.Errorf("the create did not reach the -c member: %v", err)
	}
}

func TestBindErrors(t *testing.T) {
	d := t.TempDir()
	mkTree(t, d, map[string]string{"a/x": "", "m/": "", "f": "file\n"})
	out, errs, st := inMountNS(t, 0, `D=`+d+`
bind $D/f $D/new/f && cat $D/new/f
bind -r $D/a $D/m && { touch $D/m/y 2>/dev/null && echo writable || echo read-only; }
bind --try $D/missing $D/m; echo try $?
bind -q $D/missing $D/m; echo quiet $?
bind $D/missing $D/m; echo loud $?
bind -bc $D/m $D/u; echo mountpoint-upper $?
bind -b '#c' $D/u; echo dev-union $?
`)
	for _, want := range []string{"file\n", "read-only\n", "try 0\n", "quiet 1\n", "loud 1\n", "mountpoint-upper 1\n", "dev-union 2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s\nstderr:\n%s", want, out, errs)
		}
	}
	for _, re := range []string{
		`(?m)^bind: bind ` + regexp.QuoteMeta(d) + `/missing on ` + regexp.QuoteMeta(d) + `/m: no such file or directory$`,
		`(?m)^bind: hint: overlayfs keeps a work directory`,
	} {
		if !regexp.MustCompile(re).MatchString(errs) {
			t.Errorf("stderr lacks %s:\n%s", re, errs)
		}
	}
	if strings.Count(errs, "/missing on ") != 1 {
		t.Errorf("-q was not quiet:\n%s", errs)
	}
	_ = st
}

// TestBindInRoot plants symbolic links in a root being built and checks
// that mounts and mount points stay inside it.
func TestBindInRoot(t *testing.T) {
	d := t.TempDir()
	mkTree(t, d, map[string]string{"r/": ""})
	out, errs, st := inMountNS(t, 0, `D=`+d+`
bind '#t' $D/r
ln -s / $D/r/abs
ln -s ../../../../../../.. $D/r/up
ln -s /nonexistent-nsh-test/x $D/r/dangling
bind '#t' $D/r/abs/nsh-escape-a && echo abs ok
bind '#t' $D/r/up/nsh-escape-b && echo up ok
bind '#t' $D/r/dangling; echo dangling $?
ls $D/r
mkdir -p $D/r/usr/bin $D/a && touch $D/a/mine && ln -s /usr/bin $D/r/bin
bind -b $D/a $D/r/bin && echo union: $(ls $D/r/usr/bin)
ns | grep -c "^bind -b $D/a $D/r/usr/bin$"
`)
	if st != 0 || !strings.Contains(out, "abs ok\nup ok\ndangling 1\n") || !strings.Contains(out, "nsh-escape-a\nnsh-escape-b\n") ||
		!strings.Contains(out, "union: mine\n1\n") {
		t.Errorf("status %d\nstdout:\n%s\nstderr:\n%s", st, out, errs)
	}
	for _, p := range []string{"/nsh-escape-a", "/nsh-escape-b", "/nonexistent-nsh-test"} {
		if _, err := os.Lstat(p); err == nil {
			os.RemoveAll(p)
			t.Errorf("%s was created on the host", p)
		}
	}
}

// TestPivot builds a busybox root with '#c' and a fresh /proc, pivots into
// it in new mount and pid namespaces, and checks from inside that the
// host cannot be reached: not through "..", /proc/1/root, a directory
// descriptor inherited from before, or a link planted in the root.
func TestPivot(t *testing.T) {
	needMountRoot(t)
	if _, err := bbroot.Busybox(); err != nil {
		t.Skip(err)
	}
	d := t.TempDir()
	root := filepath.Join(d, "root")
	if err := bbroot.Build(root); err != nil {
		t.Fatal(err)
	}
	mkTree(t, d, map[string]string{"host-marker": "", "r/": ""})
	if err := os.Symlink("/", filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../..", filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	hostDir, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer hostDir.Close()
	out, errs, st := inMountNS(t, syscall.CLONE_NEWPID, `D=`+d+`
bind -r $D/root $D/r
bind '#c' $D/r/dev
mount -t proc proc $D/r/proc
pivot $D/r
echo pwd $PWD
exec /bin/sh -c '
echo root: $(ls /)
echo init: $(tr "\0" "\n" </proc/1/cmdline | head -n1)
echo dev: $(ls /dev)
[ "$(ls /..)" = "$(ls /)" ] && echo dotdot-contained
[ "$(ls /escape/)" = "$(ls /)" ] && [ "$(ls /up/)" = "$(ls /)" ] && echo links-contained
[ -e /proc/1/root`+d+`/host-marker ] || [ -e `+d+`/host-marker ] || echo proc1-contained
[ -e /proc/$$/fd/3 ] && echo fd3-inherited || echo fd3-closed
echo hello >/dev/null && head -c4 /dev/zero | wc -c
'
`, hostDir)
	for _, want := range []string{
		"pwd /\n", "root: bin dev escape etc ", "dotdot-contained\n", "init: /bin/sh\n",
		"links-contained\n", "proc1-contained\n", "fd3-closed\n", "4\n",
		"dev: console fd full null ptmx pts random shm stderr stdin stdout tty urandom zero\n",
	} {
		if want == "dev: console fd full null ptmx pts random shm stderr stdin stdout tty urandom zero\n" && !strings.Contains(out, "console") {
			want = strings.Replace(want, "console ", "", 1) // no terminal on stdin
		}
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if strings.Contains(out, " work ") || strings.Contains(out, " home ") {
		t.Errorf("the host's root shows through")
	}
	if st != 0 || t.Failed() {
		t.Errorf("status %d\nstdout:\n%s\nstderr:\n%s", st, out, errs)
	}
}

// TestPivotHostNamespace checks that pivot refuses in the host's mount
// namespace, with the hint. It runs in the test process, in the host's
// namespace, so it first makes sure that the check itself sees the host
// namespace, and gives a NEWROOT that does not exist: a broken check
// fails on it before pivot_root.
func TestPivotHostNamespace(t *testing.T) {
	needMountRoot(t)
	host, err := bind.Host().HostNamespace()
	if err != nil || !host {
		t.Skipf("not in the host's mount namespace (%v, %v): nothing to check", host, err)
	}
	before := mountTable(t)
	_, errs, st := runScript(t, "pivot /nonexistent-nsh-pivot-test")
	if st != 1 || !strings.Contains(errs, "pivot: pivot /nonexistent-nsh-pivot-test: refused in the host's mount namespace\n") ||
		!strings.Contains(errs, "pivot: hint: ") || !strings.Contains(errs, "unshare -m") {
		t.Errorf("status %d, stderr %q", st, errs)
	}
	// bind too; a missing SRC makes a broken check fail before mount(2).
	_, errs, st = runScript(t, "bind /nonexistent-nsh-bind-test /nonexistent-nsh-bind-dst")
	if st != 1 || !strings.Contains(errs, "bind: bind /nonexistent-nsh-bind-test on /nonexistent-nsh-bind-dst: refused in the host's mount namespace\n") ||
		!strings.Contains(errs, "unshare -m") {
		t.Errorf("bind in the host namespace: status %d, stderr %q", st, errs)
	}
	if mountTable(t) != before {
		t.Error("the host's mount table changed")
	}
}

// TestNsRoundTrip prints a namespace with ns, replays the lines for the
// test's directory in a fresh namespace, and compares the two trees.
func TestNsRoundTrip(t *testing.T) {
	d := t.TempDir()
	mkTree(t, d, map[string]string{"src/f": "", "src/sub/": "", "a/x": "", "u/y": "", "w/": "", "dev/": "", "t/": ""})
	// table prints the mounts below $D, normalized.
	const table = `grep " $D" /proc/self/mountinfo | while read id parent dev root point opts rest; do echo "$root $point ${opts%%,*} ${rest#*- }"; done | sed -e 's/,uuid=on//' -e 's/0:[0-9]*//g'`
	out, errs, st := inMountNS(t, 0, `D=`+d+`
mount -t tmpfs -o size=1m,mode=700 tmpfs $D/t
bind -r $D/src $D/dst
mount -t tmpfs tmpfs $D/src/sub
bind $D/src $D/dst2
bind -b $D/a $D/u
bind -bc $D/w $D/u
bind '#c' $D/dev
cd $D/src
ns | grep "$D" >$D/script
`+table+` >$D/before
`)
	if st != 0 {
		t.Fatalf("status %d: %s", st, errs)
	}
	script, _ := os.ReadFile(filepath.Join(d, "script"))
	before, _ := os.ReadFile(filepath.Join(d, "before"))
	_, errs, st = inMountNS(t, 0, `D=`+d+`
. $D/script
[ "$PWD" = $D/src ] || echo "cd missing: $PWD"
`+table+` >$D/after
`)
	after, _ := os.ReadFile(filepath.Join(d, "after"))
	if st != 0 || string(before) != string(after) || len(before) == 0 {
		t.Errorf("status %d, stderr %s\nscript:\n%s\nbefore:\n%s\nafter:\n%s", st, errs, script, before, after)
	}
	_ = out
}

// TestMountForms runs each form of mount, umount and chroot in a mount
// namespace of its own.
func TestMountForms(t *testing.T) {
	d := t.TempDir()
	mkTree(t, d, map[string]string{"a/f": "a\n", "b/": "", "m/": "", "r/": ""})
	out, errs, st := inMountNS(t, 0, `D=`+d+`
mount -t tmpfs -o size=1m,mode=700 tmpfs $D/t && mount | grep -c " $D/t type tmpfs (rw,relatime,size=1024k,mode=700"
mount proc $D/p && test -e $D/p/self/mountinfo && echo proc
mount --bind -o ro $D/a $D/m && { touch $D/m/x 2>/dev/null || echo bind-ro; }
mount -o remount,rw,bind $D/m && touch $D/m/x && echo remount-rw
mount --move $D/t $D/moved && grep -c " $D/moved " /proc/self/mountinfo
mount --make-rshared $D/moved && grep " $D/moved " /proc/self/mountinfo | grep -c shared:
mount -t tmpfs tmpfs $D/r && mount -t tmpfs tmpfs $D/r/sub && bind -r $D/r $D/ro
touch $D/ro/sub/x 2>/dev/null || echo recursive-ro
umount -R $D/ro && grep -c " $D/ro" /proc/self/mountinfo
umount $D/b; echo not-mounted $?
mount $D/a $D/b; echo no-type $?
mount -t tmpfs tmpfs $D/busy && mount -t tmpfs tmpfs $D/busy/sub && umount $D/busy; echo busy $?
umount -l $D/busy; echo lazy $?
cd /
ns $$ | tail -n1
chroot $D/a; echo chroot $? $PWD
chroot /; echo chroot-again $?
`)
	for _, want := range []string{"1\nproc\nbind-ro\nremount-rw\n1\n1\nrecursive-ro\n0\nnot-mounted 1\nno-type 2\nbusy 1\nlazy 0\ncd /\nchroot 0 /\nchroot-again 0\n"} {
		if out != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
		}
	}
	for _, re := range []string{
		`(?m)^umount: umount ` + regexp.QuoteMeta(d) + `/b: invalid argument\numount: hint: .* is not a mount point$`,
		`(?m)^mount: -t TYPE is needed: nsh does not probe filesystems\nusage: mount `,
		`(?m)^umount: umount ` + regexp.QuoteMeta(d) + `/busy: device or resource busy\numount: hint: a process has its working directory or an open file there, or a mount sits below it`,
	} {
		if !regexp.MustCompile(re).MatchString(errs) {
			t.Errorf("stderr lacks %s:\n%s", re, errs)
		}
	}
	if n := strings.Count(errs, "chroot: warning:"); n != 1 {
		t.Errorf("%d chroot warnings, want 1:\n%s", n, errs)
	}
	_ = st
}

// TestNsRoundTripRfork replays the output of ns in a namespace made by
// rfork N, whose root is empty: sources missing there come from '#/'.
func TestNsRoundTripRfork(t *testing.T) {
	if Lookup("rfork") == nil {
		t.Skip("no rfork builtin")
	}
	d := t.TempDir()
	mkTree(t, d, map[string]string{"src/f": "", "dev/": "", "t/": ""})
	// table prints the mounts below $D with builtins only: after rfork N
	// there are no programs.
	const table = `while read -r id parent dev root point opts rest; do case $point in "$D"*) echo "$point ${opts%%,*} ${rest#*- }";; esac; done </proc/self/mountinfo`
	before, errs, st := inMountNS(t, 0, `D=`+d+`
mount -t tmpfs -o size=1m,mode=700 tmpfs $D/t
bind -r $D/src $D/dst
bind '#c' $D/dev
ns | grep "$D" >$D/script
`+table+`
`)
	if st != 0 {
		t.Fatalf("status %d: %s", st, errs)
	}
	script, _ := os.ReadFile(filepath.Join(d, "script"))
	nshCmd := func(ctx context.Context, script string) *exec.Cmd {
		return exec.CommandContext(ctx, nshBinary(t), "-c", script)
	}
	after, errs, st := inMountNSWith(t, nshCmd, 0, `D=`+d+`
S=$(cat $D/script)
rfork N
mount -t proc proc /proc
eval "$S"
`+table+`
`)
	// The tmpfs sources and devpts instances differ in name only.
	if st != 0 || before != after || before == "" {
		t.Errorf("status %d, stderr %s\nscript:\n%s\nbefore:\n%s\nafter:\n%s", st, errs, script, before, after)
	}
}

// TestDevConsole: '#c' binds the terminal on standard input as console.
func TestDevConsole(t *testing.T) {
	needMountRoot(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	d := t.TempDir()
	before := mountTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := shellCmd(ctx, "mount --make-rprivate /\nbind '#c' "+d+"/dev\n[ -c "+d+"/dev/console ] && echo console >"+d+"/out")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if out, _ := os.ReadFile(filepath.Join(d, "out")); string(out) != "console\n" {
		t.Errorf("no console in '#c' with a terminal on stdin")
	}
	if mountTable(t) != before {
		t.Error("the host's mount table changed")
	}
}
