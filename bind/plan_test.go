package bind

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// recorder is a Sys that records the calls instead of making them, to
// check plans without privileges.
type recorder struct {
	calls   []string
	table   []MountInfo
	kinds   map[string]Kind // what Stat says; missing paths fail with ENOENT
	host    bool            // HostNamespace's answer
	failOn  string          // a call prefix that fails with EPERM
	noAttr  bool            // mount_setattr fails with ENOSYS (before 5.12)
	rootDev bool            // '#/' exists (rfork N)
}

func (r *recorder) log(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	r.calls = append(r.calls, c)
	if r.failOn != "" && strings.HasPrefix(c, r.failOn) {
		return unix.EPERM
	}
	return nil
}

func (r *recorder) sys() *Sys {
	return &Sys{
		Mount: func(src, dst, fstype string, flags uintptr, data string) error {
			names := MountFlagNames(flags)
			if names == "" {
				names = "0"
			}
			return r.log("mount %q %q %q %s %q", src, dst, fstype, names, data)
		},
		Unmount: func(dst string, flags int) error {
			return r.log("umount %q %s", dst, FlagNames(umountFlagNames, uintptr(flags)))
		},
		SetAttr: func(dst string, rec bool, set, clear uint64) error {
			if r.noAttr {
				return unix.ENOSYS
			}
			return r.log("mount_setattr %q rec=%v %s", dst, rec, FlagNames(attrFlagNames, uintptr(set)))
		},
		PivotRoot: func(n, o string) error { return r.log("pivot_root %q %q", n, o) },
		Chroot:    func(d string) error { return r.log("chroot %q", d) },
		Chdir:     func(d string) error { return r.log("chdir %q", d) },
		OpenDir: func(p string) (int, error) {
			return 100 + len(r.calls), r.log("open %q", p)
		},
		Fchdir:    func(fd int) error { return r.log("fchdir") },
		Close:     func(fd int) error { return nil },
		Getwd:     func() (string, error) { return "/", nil },
		Symlink:   func(target, link string) error { return r.log("symlink %q %q", target, link) },
		Mkdir:     func(p string) error { return r.log("mkdir %q", p) },
		CloseDirs: func() error { return r.log("closedirs") },
		Clean:     func(d, skip string) error { return r.log("clean %q %q", d, skip) },
		Stat: func(p string) (Kind, error) {
			if k, ok := r.kinds[p]; ok {
				return k, nil
			}
			return Existing, unix.ENOENT
		},
		Resolve: func(dst string, k Kind) (Target, error) {
			return Target{Name: dst, Path: dst}, r.log("resolve %q %s", dst, k)
		},
		MountInfo:     func() ([]MountInfo, error) { return r.table, nil },
		HostNamespace: func() (bool, error) { return r.host, nil },
		RootDevice: func(p string) (int, string, bool, error) {
			if strings.HasPrefix(p, "#/") {
				if !r.rootDev {
					return -1, "", true, errors.New("no root device")
				}
				return 7, strings.TrimPrefix(p, "#/"), true, nil
			}
			return -1, "", false, nil
		},
		OpenTree: func(dirfd int, p string, flags uint) (int, error) {
			return 8, r.log("open_tree %d %q", dirfd, p)
		},
		MoveMount: func(fd int, dst string) error { return r.log("move_mount %d %q", fd, dst) },
		StatAt:    func(int, string) (Kind, error) { return Dir, nil },
	}
}

func checkCalls(t *testing.T, r *recorder, want ...string) {
	t.Helper()
	got := strings.Join(r.calls, "\n")
	if w := strings.Join(want, "\n"); got != w {
		t.Errorf("calls:\n%s\nwant:\n%s", got, w)
	}
}

func TestBindPlan(t *testing.T) {
	r := &recorder{kinds: map[string]Kind{"/usr": Dir, "/etc/hosts": File}}
	op := Bind{Src: "/usr", Dst: "/srv/r/usr", ReadOnly: true}
	if got := op.String(); got != "bind -r /usr /srv/r/usr" {
		t.Errorf("String() = %q", got)
	}
	if err := op.Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r,
		`resolve "/srv/r/usr" directory`,
		`mount "/usr" "/srv/r/usr" "" MS_BIND|MS_REC ""`,
		`resolve "/srv/r/usr" existing`,
		`mount_setattr "/srv/r/usr" rec=true MOUNT_ATTR_RDONLY`)

	r = &recorder{kinds: map[string]Kind{"/etc/hosts": File}}
	if err := (Bind{Src: "/etc/hosts", Dst: "/srv/r/etc/hosts"}).Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `resolve "/srv/r/etc/hosts" file`, `mount "/etc/hosts" "/srv/r/etc/hosts" "" MS_BIND|MS_REC ""`)

	r = &recorder{rootDev: true}
	op = Bind{Src: "#/usr", Dst: "/usr"}
	if err := op.Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `resolve "/usr" directory`, `open_tree 7 "usr"`, `move_mount 8 "/usr"`)

	// After rfork N, a source missing from the new root comes from '#/'.
	r = &recorder{rootDev: true}
	if err := (Bind{Src: "/dev/null", Dst: "/dev/null"}).Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `resolve "/dev/null" directory`, `open_tree 7 "dev/null"`, `move_mount 8 "/dev/null"`)
}

func TestBindError(t *testing.T) {
	r := &recorder{kinds: map[string]Kind{"/a": Dir}, failOn: "mount"}
	err := Bind{Src: "/a", Dst: "/b"}.Apply(r.sys())
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, unix.EPERM) {
		t.Fatalf("err = %v, want a *bind.Error wrapping EPERM", err)
	}
	if got, want := err.Error(), "mount /a on /b (MS_BIND|MS_REC): operation not permitted"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if e.Hint() == "" {
		t.Error("EPERM from mount has no hint")
	}
	err = Bind{Src: "/missing", Dst: "/b"}.Apply(r.sys())
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "/missing") {
		t.Errorf("missing source: %v", err)
	}
}

func TestErrorHints(t *testing.T) {
	for _, tt := range []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "mount", Src: "tmpfs", Dst: "/x", Err: unix.ENOSPC}, "mount-max"},
		{&Error{Op: "pivot_root", Dst: "/x", Err: unix.EINVAL}, "mount point"},
		{&Error{Op: "umount", Dst: "/x", Flags: unix.MNT_DETACH, Err: unix.EBUSY, Why: "busy"}, "busy"},
	} {
		if h := tt.err.Hint(); !strings.Contains(h, tt.want) {
			t.Errorf("%v: hint %q, want it to mention %q", tt.err, h, tt.want)
		}
	}
	e := &Error{Op: "umount", Dst: "/x", Flags: unix.MNT_DETACH, Err: unix.EBUSY}
	if got := e.Error(); got != "umount /x (MNT_DETACH): device or resource busy" {
		t.Errorf("Error() = %q", got)
	}
}

func TestMountPlans(t *testing.T) {
	for _, tt := range []struct {
		op    Mount
		line  string
		calls []string
	}{
		{Mount{Src: "proc", Dst: "/proc", FSType: "proc", Flags: unix.MS_NOSUID},
			"mount -t proc -o nosuid proc /proc",
			[]string{`resolve "/proc" directory`, `mount "proc" "/proc" "proc" MS_NOSUID ""`}},
		{Mount{Src: "tmpfs", Dst: "/tmp", FSType: "tmpfs", Data: "size=10m"},
			"mount -t tmpfs -o 'size=10m' tmpfs /tmp",
			[]string{`resolve "/tmp" directory`, `mount "tmpfs" "/tmp" "tmpfs" 0 "size=10m"`}},
		{Mount{Dst: "/", Flags: unix.MS_PRIVATE | unix.MS_REC},
			"mount --make-rprivate /",
			[]string{`resolve "/" existing`, `mount "" "/" "" MS_REC|MS_PRIVATE ""`}},
		{Mount{Dst: "/x", Flags: unix.MS_REMOUNT | unix.MS_RDONLY},
			"mount -o ro,remount /x",
			[]string{`resolve "/x" existing`, `mount "" "/x" "" MS_RDONLY|MS_REMOUNT ""`}},
		{Mount{Src: "/a", Dst: "/b", Flags: unix.MS_MOVE},
			"mount --move /a /b",
			[]string{`resolve "/b" directory`, `mount "/a" "/b" "" MS_MOVE ""`}},
		{Mount{Src: "/a", Dst: "/b", Flags: unix.MS_BIND},
			"mount --bind /a /b",
			[]string{`resolve "/b" directory`, `mount "/a" "/b" "" MS_BIND ""`}},
		{Mount{Src: "/a", Dst: "/b", Flags: unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID},
			"mount --bind -o ro /a /b",
			[]string{`resolve "/b" directory`, `mount "/a" "/b" "" MS_BIND ""`,
				`resolve "/b" existing`, `mount "" "/b" "" MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND ""`}},
	} {
		if got := tt.op.String(); got != tt.line {
			t.Errorf("String() = %q, want %q", got, tt.line)
		}
		r := &recorder{kinds: map[string]Kind{"/a": Dir}}
		if err := tt.op.Apply(r.sys()); err != nil {
			t.Errorf("%s: %v", tt.line, err)
		}
		checkCalls(t, r, tt.calls...)
	}
}

func TestUmountPlan(t *testing.T) {
	r := &recorder{table: []MountInfo{
		{ID: 1, Point: "/"}, {ID: 2, Parent: 1, Point: "/srv"}, {ID: 3, Parent: 2, Point: "/srv/a"},
		{ID: 4, Parent: 3, Point: "/srv/a/b"}, {ID: 5, Parent: 1, Point: "/srvx"},
	}}
	u := Umount{Dst: "/srv", Recursive: true, Flags: unix.MNT_DETACH}
	if got := u.String(); got != "umount -l -R /srv" {
		t.Errorf("String() = %q", got)
	}
	if err := u.Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `umount "/srv/a/b" MNT_DETACH`, `umount "/srv/a" MNT_DETACH`, `umount "/srv" MNT_DETACH`)
}

func TestDevPlan(t *testing.T) {
	r := &recorder{kinds: map[string]Kind{"/dev/null": File, "/dev/zero": File, "/dev/full": File,
		"/dev/random": File, "/dev/urandom": File, "/dev/tty": File, "/dev/pts/3": File}}
	d := Dev{Name: "#c", Dst: "/r/dev", Console: "/dev/pts/3"}
	if got := d.String(); got != "bind '#c' /r/dev" {
		t.Errorf("String() = %q", got)
	}
	if err := d.Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(r.calls, "\n")
	for _, want := range []string{
		`mount "tmpfs" "/r/dev" "tmpfs" MS_NOSUID|MS_NODEV "mode=755,size=1m"`,
		`resolve "/r/dev/null" file`, `mount "/dev/null" "/r/dev/null" "" MS_BIND ""`,
		`mount "/dev/urandom" "/r/dev/urandom" "" MS_BIND ""`,
		`symlink "/proc/self/fd" "/r/dev/fd"`, `symlink "/proc/self/fd/2" "/r/dev/stderr"`,
		`mount "devpts" "/r/dev/pts" "devpts" MS_NOSUID|MS_NOEXEC "newinstance,ptmxmode=0666,mode=620"`,
		`symlink "pts/ptmx" "/r/dev/ptmx"`,
		`mount "tmpfs" "/r/dev/shm" "tmpfs" MS_NOSUID|MS_NODEV "mode=1777"`,
		`mount "/dev/pts/3" "/r/dev/console" "" MS_BIND ""`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("'#c' plan lacks %s:\n%s", want, got)
		}
	}
	for name, fstype := range map[string]string{"#p": "proc", "#s": "sysfs", "#t": "tmpfs", "#|": "mqueue"} {
		r := &recorder{}
		if err := (Dev{Name: name, Dst: "/x"}).Apply(r.sys()); err != nil {
			t.Fatal(err)
		}
		if len(r.calls) != 2 || !strings.Contains(r.calls[1], fmt.Sprintf(`"%s" "/x" "%s"`, fstype, fstype)) {
			t.Errorf("%s: %q", name, r.calls)
		}
	}
	if err := (Dev{Name: "#z", Dst: "/x"}).Apply((&recorder{}).sys()); err == nil {
		t.Error("'#z' accepted")
	}
}

func overlay(id, parent int, dst, super string) MountInfo {
	return MountInfo{ID: id, Parent: parent, Point: dst, FSType: "overlay", Source: UnionSource, Super: "rw," + super}
}

func TestUnionPlan(t *testing.T) {
	root := MountInfo{ID: 1, Point: "/", FSType: "ext4"}
	dirs := map[string]Kind{"/a": Dir, "/b": Dir, "/w": Dir, "/u": Dir}
	for _, tt := range []struct {
		name  string
		table []MountInfo
		op    Union
		calls []string
	}{
		{"first -b", []MountInfo{root}, Union{Src: "/a", Dst: "/u", Before: true},
			[]string{`resolve "/u" directory`, `resolve "/u" directory`, `mount "union" "/u" "overlay" 0 "lowerdir=/a:/u"`}},
		{"then -a", []MountInfo{root, overlay(2, 1, "/u", "lowerdir=/a:/u")}, Union{Src: "/b", Dst: "/u"},
			[]string{`resolve "/u" directory`, `umount "/u" MNT_DETACH`, `resolve "/u" directory`, `mount "union" "/u" "overlay" 0 "lowerdir=/a:/u:/b"`}},
		{"then -bc", []MountInfo{root, overlay(2, 1, "/u", "lowerdir=/a:/u:/b")}, Union{Src: "/w", Dst: "/u", Before: true, Create: true},
			[]string{`resolve "/u" directory`, `mkdir "/.w.nsh-work"`, `umount "/u" MNT_DETACH`, `resolve "/u" directory`,
				`mount "union" "/u" "overlay" 0 "lowerdir=/a:/u:/b,upperdir=/w,workdir=/.w.nsh-work"`}},
		{"-ac with a create member is -a", []MountInfo{root, overlay(2, 1, "/u", "lowerdir=/u,upperdir=/w,workdir=/.w.nsh-work")},
			Union{Src: "/a", Dst: "/u", Create: true},
			[]string{`resolve "/u" directory`, `mkdir "/.w.nsh-work"`, `umount "/u" MNT_DETACH`, `resolve "/u" directory`,
				`mount "union" "/u" "overlay" 0 "lowerdir=/u:/a,upperdir=/w,workdir=/.w.nsh-work"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{table: tt.table, kinds: dirs}
			if err := tt.op.Apply(r.sys()); err != nil {
				t.Fatal(err)
			}
			checkCalls(t, r, tt.calls...)
		})
	}

	// Members are read back from the table, and a member cannot join twice.
	table := []MountInfo{root, overlay(2, 1, "/u", `lowerdir=/a\:1:/u,upperdir=/w,workdir=/.w.nsh-work`)}
	m, ok := ReadUnion(table, "/u")
	if !ok || m.Upper != "/w" || strings.Join(m.Lower, " ") != "/a:1 /u" || !m.IsUnion() {
		t.Errorf("ReadUnion = %+v, %v", m, ok)
	}
	r := &recorder{table: table, kinds: map[string]Kind{"/a:1": Dir}}
	if err := (Union{Src: "/a:1", Dst: "/u"}).Apply(r.sys()); err == nil || !strings.Contains(err.Error(), "already a member") {
		t.Errorf("second join: %v", err)
	}

	// A mount point cannot take creates, and the error says why.
	r = &recorder{table: []MountInfo{root, {ID: 3, Parent: 1, Point: "/w", FSType: "tmpfs"}}, kinds: dirs}
	err := Union{Src: "/w", Dst: "/u", Before: true, Create: true}.Apply(r.sys())
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Hint(), "work directory") {
		t.Errorf("mount point as upper: %v", err)
	}
}

func TestUnbindPlan(t *testing.T) {
	root := MountInfo{ID: 1, Point: "/", FSType: "ext4"}
	table := []MountInfo{root, overlay(2, 1, "/u", "lowerdir=/a:/u:/b,upperdir=/w,workdir=/.w.nsh-work")}
	r := &recorder{table: table}
	if err := (Unbind{Src: "/a", Dst: "/u"}).Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `resolve "/u" existing`, `umount "/u" MNT_DETACH`, `resolve "/u" directory`,
		`mount "union" "/u" "overlay" 0 "lowerdir=/u:/b,upperdir=/w,workdir=/.w.nsh-work"`)

	table = []MountInfo{root, overlay(2, 1, "/u", "lowerdir=/a:/u")}
	r = &recorder{table: table}
	if err := (Unbind{Src: "/a", Dst: "/u"}).Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `resolve "/u" existing`, `umount "/u" MNT_DETACH`)

	r = &recorder{table: table}
	if err := (Unbind{Src: "/zz", Dst: "/u"}).Apply(r.sys()); err == nil {
		t.Error("unmount of a non-member succeeded")
	}
}

func TestPivotPlan(t *testing.T) {
	table := []MountInfo{{ID: 1, Point: "/", FSType: "ext4"}}
	r := &recorder{table: table, kinds: map[string]Kind{"/srv/r": Dir}}
	p := Pivot{NewRoot: "/srv/r"}
	if err := p.Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r,
		`mount "/srv/r" "/srv/r" "" MS_BIND|MS_REC ""`,
		`closedirs`,
		`open "/"`, `open "/srv/r"`, `fchdir`,
		`pivot_root "." "."`,
		`fchdir`, `mount "" "." "" MS_REC|MS_SLAVE ""`, `umount "." MNT_DETACH`,
		`chdir "/"`)

	// Already a mount point, and the old root kept.
	table = append(table, MountInfo{ID: 2, Parent: 1, Point: "/srv/r"})
	r = &recorder{table: table, kinds: map[string]Kind{"/srv/r": Dir}}
	p = Pivot{NewRoot: "/srv/r", PutOld: "/old"}
	if p.String() != "pivot --put-old /old /srv/r" {
		t.Errorf("String() = %q", p.String())
	}
	if err := p.Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `closedirs`, `open "/"`, `open "/srv/r"`, `fchdir`, `mkdir "./old"`,
		`pivot_root "." "./old"`, `mount "" "/old" "" MS_REC|MS_SLAVE ""`, `chdir "/"`)

	// The host's namespace: refused before any call, with the hint.
	r = &recorder{table: table, host: true, kinds: map[string]Kind{"/srv/r": Dir}}
	err := Pivot{NewRoot: "/srv/r"}.Apply(r.sys())
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrHostNamespace) || !strings.Contains(e.Hint(), "unshare -m") {
		t.Errorf("pivot in the host namespace: %v", err)
	}
	checkCalls(t, r)

	// An initramfs: switch_root.
	table = []MountInfo{{ID: 1, Point: "/", FSType: "rootfs"}, {ID: 2, Parent: 1, Point: "/proc"},
		{ID: 3, Parent: 1, Point: "/new"}}
	r = &recorder{table: table, kinds: map[string]Kind{"/new": Dir, "/new/proc": Dir}}
	if err := (Pivot{NewRoot: "/new", Clean: true}).Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `closedirs`, `chdir "/new"`, `mount "/proc" "/new/proc" "" MS_MOVE ""`, `clean "/" "/new"`,
		`mount "." "/" "" MS_MOVE ""`, `chroot "."`, `chdir "/"`)
}

func TestChrootPlan(t *testing.T) {
	r := &recorder{}
	if err := (Chroot{Dir: "/r"}).Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `chroot "/r"`, `chdir "/"`)
}

// TestReadOnlyFallback: without mount_setattr, every mount below DST is
// remounted read-only, keeping the flags it has (a user namespace locks
// nosuid and nodev).
func TestReadOnlyFallback(t *testing.T) {
	r := &recorder{noAttr: true, kinds: map[string]Kind{"/usr": Dir}, table: []MountInfo{
		{ID: 1, Point: "/"}, {ID: 2, Parent: 1, Point: "/r/usr", Options: "rw,relatime"},
		{ID: 3, Parent: 2, Point: "/r/usr/x", Options: "rw,nosuid,nodev"}, {ID: 4, Parent: 1, Point: "/r/usrx"},
	}}
	if err := (Bind{Src: "/usr", Dst: "/r/usr", ReadOnly: true}).Apply(r.sys()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r, `resolve "/r/usr" directory`, `mount "/usr" "/r/usr" "" MS_BIND|MS_REC ""`, `resolve "/r/usr" existing`,
		`mount "" "/r/usr" "" MS_RDONLY|MS_REMOUNT|MS_BIND|MS_RELATIME ""`,
		`mount "" "/r/usr/x" "" MS_RDONLY|MS_NOSUID|MS_NODEV|MS_REMOUNT|MS_BIND ""`)
}

// TestGuard: in the host's initial mount namespace, every operation that
// adds or changes a mount is refused before any call, with the hint; an
// initramfs root is no host.
func TestGuard(t *testing.T) {
	dirs := map[string]Kind{"/a": Dir, "/u": Dir}
	for _, op := range []Op{
		Bind{Src: "/a", Dst: "/b"},
		Union{Src: "/a", Dst: "/u", Before: true},
		Dev{Name: "#c", Dst: "/dev"},
		Mount{Src: "tmpfs", Dst: "/tmp", FSType: "tmpfs"},
		Mount{Dst: "/", Flags: unix.MS_REMOUNT | unix.MS_RDONLY},
	} {
		r := &recorder{host: true, kinds: dirs, table: []MountInfo{{ID: 1, Point: "/", FSType: "ext4"}}}
		err := op.Apply(r.sys())
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrHostNamespace) || !strings.Contains(e.Hint(), "unshare -m") {
			t.Errorf("%s: %v", op, err)
		}
		checkCalls(t, r)
	}
	r := &recorder{host: true, kinds: dirs, table: []MountInfo{{ID: 1, Parent: 1, Point: "/", FSType: "rootfs"}}}
	if err := (Bind{Src: "/a", Dst: "/b"}).Apply(r.sys()); err != nil {
		t.Errorf("bind in an initramfs: %v", err)
	}
}
