package images

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
)

// readCPIO returns the records of a gzip newc archive, in order.
func readCPIO(t *testing.T, b []byte) []cpio.Record {
	t.Helper()
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func content(t *testing.T, r cpio.Record) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeTree makes a host tree with a file, a symlink, a subdirectory and a
// fake modules directory for release "9.9.9-test".
func fakeTree(t *testing.T) (tree, modroot string) {
	t.Helper()
	d := t.TempDir()
	tree = filepath.Join(d, "tree")
	must(t, os.MkdirAll(filepath.Join(tree, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(tree, "a.txt"), []byte("hello\n"), 0o640))
	must(t, os.WriteFile(filepath.Join(tree, "sub", "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.Symlink("a.txt", filepath.Join(tree, "link")))

	modroot = filepath.Join(d, "modules")
	rel := filepath.Join(modroot, "9.9.9-test")
	must(t, os.MkdirAll(filepath.Join(rel, "kernel/fs"), 0o755))
	must(t, os.MkdirAll(filepath.Join(rel, "kernel/lib"), 0o755))
	must(t, os.WriteFile(filepath.Join(rel, "modules.dep"), []byte(
		"kernel/fs/overlay.ko:\n"+
			"kernel/fs/fancy-fs.ko.gz: kernel/lib/helper.ko kernel/lib/base.ko\n"+
			"kernel/lib/helper.ko: kernel/lib/base.ko\n"+
			"kernel/lib/base.ko:\n"+
			"kernel/lib/unused.ko:\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(rel, "modules.builtin"), []byte("kernel/fs/ext4/ext4.ko\n"), 0o644))
	for _, m := range []string{"kernel/fs/overlay.ko", "kernel/lib/helper.ko", "kernel/lib/base.ko", "kernel/lib/unused.ko"} {
		must(t, os.WriteFile(filepath.Join(rel, m), []byte("ELF "+m), 0o644))
	}
	var gz bytes.Buffer
	z := gzip.NewWriter(&gz)
	z.Write([]byte("ELF fancy"))
	z.Close()
	must(t, os.WriteFile(filepath.Join(rel, "kernel/fs/fancy-fs.ko.gz"), gz.Bytes(), 0o644))
	return tree, modroot
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testInit is a stand-in for nsinit: any static file will do for a plan.
func testInit(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "init")
	must(t, os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755))
	return p
}

func TestInitramfsContents(t *testing.T) {
	tree, modroot := fakeTree(t)
	init := testInit(t)
	ir := &Initramfs{
		Init:          init,
		Nsh:           init,
		Cmd:           "echo hi",
		Modules:       []string{"fancy-fs", "overlay", "ext4"},
		KernelRelease: "9.9.9-test",
		ModulesRoot:   modroot,
		Trees:         []Tree{{Src: tree, Dst: "/srv/t"}, {Src: filepath.Join(tree, "a.txt"), Dst: "/etc/motd"}},
	}
	var b bytes.Buffer
	must(t, ir.Write(&b))
	recs := readCPIO(t, b.Bytes())
	got := map[string]cpio.Record{}
	seen := map[string]bool{}
	for _, r := range recs {
		// Every directory comes before what it holds.
		if d := filepath.Dir(r.Name); d != "." && !seen[d] {
			t.Errorf("%s comes before its directory %s", r.Name, d)
		}
		seen[r.Name] = true
		got[r.Name] = r
		if r.UID != 0 || r.GID != 0 || r.MTime != 0 {
			t.Errorf("%s: uid %d gid %d mtime %d, want 0 0 0", r.Name, r.UID, r.GID, r.MTime)
		}
	}
	mode := func(name string) uint64 { return got[name].Mode }
	for _, c := range []struct {
		name string
		mode uint64
		data string
	}{
		{"init", cpio.S_IFREG | 0o755, "#!/bin/sh\n"},
		{"bin/nsh", cpio.S_IFREG | 0o755, "#!/bin/sh\n"},
		{"dev/console", cpio.S_IFCHR | 0o600, ""},
		{"dev/null", cpio.S_IFCHR | 0o666, ""},
		{"tmp", cpio.S_IFDIR | cpio.S_ISVTX | 0o777, ""},
		{"etc/nsinit.nsh", cpio.S_IFREG | 0o755, "echo hi\n"},
		{"etc/modules", cpio.S_IFREG | 0o644, "fancy_fs\noverlay\n"},
		{"lib/modules/9.9.9-test/modules.dep", cpio.S_IFREG | 0o644,
			"kernel/lib/base.ko:\nkernel/lib/helper.ko: kernel/lib/base.ko\nkernel/fs/fancy-fs.ko: kernel/lib/helper.ko kernel/lib/base.ko\nkernel/fs/overlay.ko:\n"},
		{"lib/modules/9.9.9-test/kernel/fs/fancy-fs.ko", cpio.S_IFREG | 0o644, "ELF fancy"},
		{"lib/modules/9.9.9-test/kernel/fs/overlay.ko", cpio.S_IFREG | 0o644, "ELF kernel/fs/overlay.ko"},
		{"lib/modules/9.9.9-test/kernel/lib/base.ko", cpio.S_IFREG | 0o644, "ELF kernel/lib/base.ko"},
		{"srv/t", cpio.S_IFDIR | 0o755, ""},
		{"srv/t/a.txt", cpio.S_IFREG | 0o640, "hello\n"},
		{"srv/t/link", cpio.S_IFLNK | 0o777, "a.txt"},
		{"srv/t/sub/run.sh", cpio.S_IFREG | 0o755, "#!/bin/sh\n"},
		{"etc/motd", cpio.S_IFREG | 0o640, "hello\n"},
	} {
		r, ok := got[c.name]
		if !ok {
			t.Errorf("%s: missing", c.name)
			continue
		}
		if mode(c.name) != c.mode {
			t.Errorf("%s: mode %#o, want %#o", c.name, mode(c.name), c.mode)
		}
		if c.mode&cpio.S_IFMT == cpio.S_IFREG || c.mode&cpio.S_IFMT == cpio.S_IFLNK {
			if d := content(t, r); d != c.data {
				t.Errorf("%s: %q, want %q", c.name, d, c.data)
			}
		}
	}
	if r := got["dev/console"]; r.Rmajor != 5 || r.Rminor != 1 {
		t.Errorf("dev/console: %d,%d, want 5,1", r.Rmajor, r.Rminor)
	}
	if _, ok := got["lib/modules/9.9.9-test/kernel/lib/unused.ko"]; ok {
		t.Errorf("a module nobody asked for was shipped")
	}
}

func TestInitramfsReproducible(t *testing.T) {
	tree, modroot := fakeTree(t)
	init := testInit(t)
	build := func() []byte {
		ir := &Initramfs{Init: init, Nsh: init, Modules: []string{"fancy_fs"}, KernelRelease: "9.9.9-test",
			ModulesRoot: modroot, Trees: []Tree{{Src: tree, Dst: "/t"}}}
		out := filepath.Join(t.TempDir(), "i.cpio.gz")
		must(t, ir.WriteFile(out))
		b, err := os.ReadFile(out)
		must(t, err)
		return b
	}
	a := build()
	// Touch everything: new times must not change the archive.
	filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		os.Chtimes(p, testTime, testTime)
		return nil
	})
	if b := build(); !bytes.Equal(a, b) {
		t.Fatalf("two builds differ: %d and %d bytes", len(a), len(b))
	}
}

func TestModuleErrors(t *testing.T) {
	_, modroot := fakeTree(t)
	dir := filepath.Join(modroot, "9.9.9-test")
	for _, c := range []struct {
		names []string
		want  string
	}{
		{[]string{"nosuch"}, "module nosuch: not in modules.dep"},
		{[]string{"overlay"}, ""},
		{[]string{"ext4"}, ""}, // built in: nothing to ship
	} {
		_, err := ResolveModules(dir, c.names)
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.names, err, c.want)
		}
	}
	_, err := ResolveModules(filepath.Join(modroot, "0.0"), []string{"overlay"})
	if err == nil || !strings.Contains(err.Error(), "modules.dep") {
		t.Errorf("missing release: %v", err)
	}
}

func TestStaticCheck(t *testing.T) {
	interp, err := elfInterp("/bin/sh")
	if err != nil || interp == "" {
		t.Skipf("/bin/sh is not a dynamic ELF here (%q, %v)", interp, err)
	}
	ir := &Initramfs{Init: "/bin/sh"}
	_, err = ir.Plan()
	var se *StaticError
	if !errorsAs(err, &se) {
		t.Fatalf("dynamic /init: error %v, want a StaticError", err)
	}
}

func TestParseTree(t *testing.T) {
	for _, c := range []struct{ in, src, dst, str string }{
		{"/usr/share/x", "/usr/share/x", "/usr/share/x", "/usr/share/x"},
		{"examples/vm", "examples/vm", "/examples/vm", "examples/vm"},
		{"out/root:/", "out/root", "/", "out/root:/"},
		{"a:/b/../c", "a", "/c", "a:/c"},
	} {
		tr, err := ParseTree(c.in)
		if err != nil || tr.Src != c.src || tr.Dst != c.dst || tr.String() != c.str {
			t.Errorf("ParseTree(%q) = %+v (%q), %v; want %s:%s (%q)", c.in, tr, tr, err, c.src, c.dst, c.str)
		}
	}
	for _, bad := range []string{"", ":x", "x:"} {
		if _, err := ParseTree(bad); err == nil {
			t.Errorf("ParseTree(%q): no error", bad)
		}
	}
}

var testTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestEntryString(t *testing.T) {
	for _, c := range []struct {
		e    Entry
		want string
	}{
		{Entry{Name: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777}, "drwxrwxrwt /tmp"},
		{Entry{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1}, "crw------- /dev/console 5,1"},
		{Entry{Name: "init", Mode: 0o755, Src: "bin/nsinit", Size: 3}, "-rwxr-xr-x /init 3 from bin/nsinit"},
		{Entry{Name: "bin/su", Mode: fs.ModeSetuid | 0o4755&0o755, Size: 1}, "-rwsr-xr-x /bin/su 1"},
		{Entry{Name: "bin/sh", Mode: fs.ModeSymlink | 0o777, Target: "busybox"}, "lrwxrwxrwx /bin/sh -> busybox"},
	} {
		if got := c.e.String(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}
