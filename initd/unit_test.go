package initd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseArgs(t *testing.T) {
	def := config{Verbosity: 1, Grace: DefaultGrace}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want func(c *config)
	}{
		{[]string{"cmd"}, nil, func(c *config) { c.Argv = []string{"cmd"} }},
		{[]string{"--", "cmd", "-v"}, nil, func(c *config) { c.Argv = []string{"cmd", "-v"} }},
		{[]string{"sh", "-c", "x"}, nil, func(c *config) { c.Argv = []string{"sh", "-c", "x"} }},
		{[]string{"-sgw", "-vvv", "cmd"}, nil, func(c *config) {
			c.Subreaper, c.Group, c.WarnReap, c.Verbosity, c.Argv = true, true, true, 4, []string{"cmd"}
		}},
		{[]string{"-e143", "-e", "0", "--", "x"}, nil, func(c *config) { c.Remap[143], c.Remap[0], c.Argv = true, true, []string{"x"} }},
		{[]string{"-p", "SIGKILL", "x"}, nil, func(c *config) { c.PdeathSig, c.Argv = unix.SIGKILL, []string{"x"} }},
		{[]string{"-pUSR1", "x"}, nil, func(c *config) { c.PdeathSig, c.Argv = unix.SIGUSR1, []string{"x"} }},
		{[]string{"-t", "2.5", "x"}, nil, func(c *config) { c.Grace, c.Argv = 2500*time.Millisecond, []string{"x"} }},
		{[]string{"-t500ms", "x"}, nil, func(c *config) { c.Grace, c.Argv = 500*time.Millisecond, []string{"x"} }},
		{[]string{"-t", "0", "x"}, nil, func(c *config) { c.Grace, c.Argv = 0, []string{"x"} }},
		{[]string{"x"}, map[string]string{"TINI_SUBREAPER": "", "TINI_KILL_PROCESS_GROUP": "0", "TINI_VERBOSITY": "0"},
			func(c *config) { c.Subreaper, c.Group, c.Verbosity, c.Argv = true, true, 0, []string{"x"} }},
		{[]string{"-v", "x"}, map[string]string{"TINI_VERBOSITY": "3"}, func(c *config) { c.Verbosity, c.Argv = 4, []string{"x"} }},
		{nil, nil, func(c *config) {}},
	} {
		getenv := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
		var out, errb bytes.Buffer
		cfg, code, done := parseArgs(tt.args, getenv, &out, &errb)
		want := def
		tt.want(&want)
		if done || cfg == nil {
			t.Errorf("%q: done with %d: %s", tt.args, code, errb.String())
			continue
		}
		if !reflect.DeepEqual(*cfg, want) {
			t.Errorf("%q %v:\n got %+v\nwant %+v", tt.args, tt.env, *cfg, want)
		}
	}
}

func TestCmdline(t *testing.T) {
	m, err := parseCmdline(`BOOT_IMAGE=/vmlinuz console=ttyS0 quiet nsinit.cmd="sh -c 'echo a  b; exit 3'" nsinit.shutdown=reboot -- -v x`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"BOOT_IMAGE": "/vmlinuz", "console": "ttyS0", "quiet": "", ParamCmd: "sh -c 'echo a  b; exit 3'", ParamShutdown: "reboot"}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %q\nwant %q", m, want)
	}
	root := t.TempDir()
	s := &sysCalls{cfgRoot: root}
	for _, tt := range []struct {
		params map[string]string
		script bool
		want   []string
		err    bool
	}{
		{map[string]string{ParamCmd: m[ParamCmd]}, true, []string{"sh", "-c", "echo a  b; exit 3"}, false},
		{map[string]string{ParamScript: "/x.nsh"}, true, []string{NshPath, "/x.nsh"}, false},
		{nil, true, []string{NshPath, ScriptPath}, false},
		{nil, false, []string{NshPath}, false},
		{map[string]string{ParamCmd: ""}, false, []string{NshPath}, true},
		{map[string]string{ParamCmd: `"unterminated`}, false, []string{NshPath}, true},
	} {
		os.RemoveAll(filepath.Join(root, "etc"))
		if tt.script {
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.WriteFile(filepath.Join(root, ScriptPath), nil, 0o644)
		}
		got, err := defaultCommand(s, tt.params)
		if !reflect.DeepEqual(got, tt.want) || (err != nil) != tt.err {
			t.Errorf("%q script=%v: got %q, %v; want %q", tt.params, tt.script, got, err, tt.want)
		}
	}
}

func TestLoadModules(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, ModulesDir, "6.1.0-test")
	for _, f := range []string{"kernel/fs/overlayfs/overlay.ko", "kernel/lib/crc.ko.xz", "kernel/lib/dep-a.ko", "kernel/drivers/x_y.ko"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(
		"kernel/fs/overlayfs/overlay.ko:\n"+
			"kernel/drivers/x_y.ko: kernel/lib/dep-a.ko kernel/lib/crc.ko.xz\n"+
			"kernel/lib/dep-a.ko: kernel/lib/crc.ko.xz\n"+
			"kernel/lib/crc.ko.xz:\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, ModulesFile), []byte("# modules\noverlay\n\nx-y  opt=1 b=2 # comment\nmissing\noverlay\n"), 0o644)
	var calls []string
	s := &sysCalls{cfgRoot: root, finitModule: func(fd int, params string, flags int) error {
		b := make([]byte, 100)
		n, _ := unix.Read(fd, b)
		calls = append(calls, fmt.Sprintf("%s[%s]%d", b[:n], params, flags))
		if strings.Contains(string(b[:n]), "overlay") {
			return unix.EEXIST // loaded already: fine
		}
		return nil
	}}
	res := loadModules(s, "6.1.0-test")
	want := []string{
		"kernel/fs/overlayfs/overlay.ko[]0",
		"kernel/lib/crc.ko.xz[]4", // dependencies first, compressed: MODULE_INIT_COMPRESSED_FILE
		"kernel/lib/dep-a.ko[]0",
		"kernel/drivers/x_y.ko[opt=1 b=2]0",
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("finit_module calls:\n%q\nwant\n%q", calls, want)
	}
	var failed []string
	for _, r := range res {
		if r.err != nil {
			failed = append(failed, r.name)
		}
	}
	if !reflect.DeepEqual(failed, []string{"missing"}) {
		t.Errorf("failed: %q (%v)", failed, res)
	}
	// No modules.dep: the files are found by name.
	os.Remove(filepath.Join(dir, "modules.dep"))
	calls = nil
	os.WriteFile(filepath.Join(root, ModulesFile), []byte("crc\n"), 0o644)
	loadModules(s, "6.1.0-test")
	if !reflect.DeepEqual(calls, []string{"kernel/lib/crc.ko.xz[]4"}) {
		t.Errorf("without modules.dep: %q", calls)
	}
}

// fakeMounts records mount calls and fails those listed.
type fakeMounts struct {
	calls []string
	fail  map[string]error // by type or "umount DST"
}

func (f *fakeMounts) sys(root, procRoot string) *sysCalls {
	return &sysCalls{
		root:     root,
		procRoot: procRoot,
		mount: func(src, dst, fstype string, flags uintptr, data string) error {
			c := fmt.Sprintf("mount %s %s %s %#x %s", src, dst, fstype, flags, data)
			f.calls = append(f.calls, c)
			if err := f.fail[fstype]; err != nil {
				return err
			}
			return nil
		},
		unmount: func(dst string, flags int) error {
			f.calls = append(f.calls, fmt.Sprintf("umount %s %d", dst, flags))
			if flags == 0 {
				return f.fail["umount "+dst]
			}
			return nil
		},
		mknod: func(path string, mode uint32, dev int) error {
			f.calls = append(f.calls, fmt.Sprintf("mknod %s %o %d:%d", path, mode&0o777, unix.Major(uint64(dev)), unix.Minor(uint64(dev))))
			return nil
		},
	}
}

func TestMountEssentials(t *testing.T) {
	root := t.TempDir()
	// A root where /sys is mounted already, /run holds something and
	// the kernel refuses devtmpfs (a user namespace).
	os.MkdirAll(root+"/proc/self", 0o755)
	os.MkdirAll(root+"/run/secrets", 0o755)
	os.WriteFile(root+"/proc/self/mountinfo", []byte(
		"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"+
			"2 1 0:5 / "+root+"/sys rw,nosuid - sysfs sysfs rw\n"), 0o644)
	os.WriteFile(root+"/proc/filesystems", []byte("nodev\tsysfs\nnodev\ttmpfs\nnodev\tcgroup2\n\text4\n"), 0o644)
	f := &fakeMounts{fail: map[string]error{"devtmpfs": unix.EPERM, "devpts": unix.EINVAL}}
	r := mountEssentials(f.sys(root, "/proc"))
	wantMounted := []string{
		"mount -t proc -o nosuid,nodev,noexec proc /proc",
		"mount -t tmpfs -o nosuid,mode=0755 dev /dev",
		"mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm",
		"mount -t tmpfs -o nosuid,nodev,mode=1777 tmp /tmp",
		"mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 /sys/fs/cgroup",
	}
	if !reflect.DeepEqual(r.Mounted, wantMounted) {
		t.Errorf("mounted:\n%s\nwant:\n%s", strings.Join(r.Mounted, "\n"), strings.Join(wantMounted, "\n"))
	}
	skipped := strings.Join(r.Skipped, "\n")
	for _, w := range []string{"/dev: mount -t devtmpfs", "operation not permitted", "/dev/pts:", "/run: not empty"} {
		if !strings.Contains(skipped, w) {
			t.Errorf("skipped lacks %q:\n%s", w, skipped)
		}
	}
	if len(r.Warn) != 0 {
		t.Errorf("warnings: %q", r.Warn)
	}
	calls := strings.Join(f.calls, "\n")
	for _, w := range []string{"mknod " + root + "/dev/null 666 1:3", "mknod " + root + "/dev/console 600 5:1"} {
		if !strings.Contains(calls, w) {
			t.Errorf("calls lack %q:\n%s", w, calls)
		}
	}
	if l, _ := os.Readlink(root + "/dev/fd"); l != "/proc/self/fd" {
		t.Errorf("/dev/fd -> %q", l)
	}
	// Without cgroup2 in the kernel, that mount is skipped, not tried.
	os.WriteFile(root+"/proc/filesystems", []byte("nodev\tsysfs\n"), 0o644)
	f = &fakeMounts{}
	r = mountEssentials(f.sys(root, "/proc"))
	if strings.Contains(strings.Join(f.calls, "\n"), "cgroup2") || !strings.Contains(strings.Join(r.Skipped, "\n"), "no cgroup2") {
		t.Errorf("cgroup2 mounted without kernel support: %q %q", f.calls, r.Skipped)
	}
}

func TestUnmountAll(t *testing.T) {
	proc := t.TempDir()
	os.MkdirAll(proc+"/self", 0o755)
	os.WriteFile(proc+"/self/mountinfo", []byte(
		"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"+
			"2 1 0:5 / /proc rw - proc proc rw\n"+
			"3 1 0:6 / /dev rw - devtmpfs devtmpfs rw\n"+
			"4 3 0:7 / /dev/pts rw - devpts devpts rw\n"+
			"5 1 8:2 / /mnt/data\\040disk rw - ext4 /dev/sdb rw\n"), 0o644)
	f := &fakeMounts{fail: map[string]error{"umount /dev": unix.EBUSY, "umount /dev/pts": unix.EINVAL}}
	unmountAll(f.sys("", proc))
	want := []string{
		"umount /mnt/data disk 0",
		"umount /dev/pts 0",
		"umount /dev 0",
		fmt.Sprintf("mount  /dev  %#x ", unix.MS_REMOUNT|unix.MS_RDONLY),
		"umount /dev 2",
		"umount /proc 0",
	}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestOOMCounter(t *testing.T) {
	proc, cg := t.TempDir(), t.TempDir()
	me := strconv.Itoa(os.Getpid())
	os.MkdirAll(proc+"/"+me, 0o755)
	os.Symlink(me, proc+"/self") // a /proc of our pid namespace
	os.MkdirAll(proc+"/42", 0o755)
	os.MkdirAll(cg+"/memory/box", 0o755)
	os.MkdirAll(cg+"/unified/box", 0o755)
	os.WriteFile(proc+"/self/mountinfo", []byte(
		"30 1 0:27 / "+cg+"/memory rw - cgroup cgroup rw,memory\n"+
			"31 1 0:28 / "+cg+"/unified rw - cgroup2 cgroup2 rw\n"), 0o644)
	s := &sysCalls{procRoot: proc}
	for _, tt := range []struct{ cgroup, file, before, after string }{
		{"9:memory:/box\n0::/box\n", cg + "/memory/box/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"},
		{"0::/box\n", cg + "/unified/box/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n"},
	} {
		os.WriteFile(proc+"/42/cgroup", []byte(tt.cgroup), 0o644)
		os.WriteFile(tt.file, []byte(tt.before), 0o644)
		o := oomBefore(s, 42)
		if o.file != tt.file || o.fired(s) {
			t.Errorf("%q: counter %+v fired before the kill", tt.cgroup, o)
		}
		os.WriteFile(tt.file, []byte(tt.after), 0o644)
		if !o.fired(s) {
			t.Errorf("%q: counter %+v did not fire", tt.cgroup, o)
		}
	}
}

func TestStatus(t *testing.T) {
	for _, tt := range []struct {
		ws   unix.WaitStatus
		code int
		desc string
	}{
		{0, 0, "exited with status 0"},
		{3 << 8, 3, "exited with status 3"},
		{9, 137, "killed by signal SIGKILL (9)"},
		{11 | 0x80, 139, "killed by signal SIGSEGV (11), core dumped"},
		{15, 143, "killed by signal SIGTERM (15)"},
	} {
		if c, d := ExitCode(tt.ws), Describe(tt.ws); c != tt.code || d != tt.desc {
			t.Errorf("%#x: %d %q, want %d %q", uint32(tt.ws), c, d, tt.code, tt.desc)
		}
	}
	for _, tt := range []struct {
		err  error
		code int
	}{
		{&exec.Error{Name: "x", Err: exec.ErrNotFound}, 127},
		{&os.PathError{Op: "fork/exec", Path: "/x", Err: unix.ENOENT}, 127},
		{&os.PathError{Op: "fork/exec", Path: "/x/y", Err: unix.ENOTDIR}, 127},
		{&os.PathError{Op: "fork/exec", Path: "/x", Err: unix.EACCES}, 126},
		{&os.PathError{Op: "fork/exec", Path: "/x", Err: unix.ENOEXEC}, 126},
		{errors.New("other"), 126},
	} {
		if c := StartErrorCode(tt.err); c != tt.code {
			t.Errorf("%v: %d, want %d", tt.err, c, tt.code)
		}
	}
}

func TestMountinfoEscapes(t *testing.T) {
	if got := unescapeOctal(`/a\040b\011c\\d\134`); got != "/a b\tc\\\\d\\" {
		t.Errorf("got %q", got)
	}
}

func TestLoadModulesNoDir(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, ModulesFile), []byte("overlay\n"), 0o644)
	res := loadModules(&sysCalls{cfgRoot: root}, "6.1.0-none")
	if len(res) != 1 || !errors.Is(res[0].err, os.ErrNotExist) || res[0].name != "overlay" {
		t.Errorf("got %v", res)
	}
}
