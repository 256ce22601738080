package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestAddPrograms(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	if interp, _ := elfInterp(mustEval(t, sh)); interp == "" {
		t.Skip("sh is static here")
	}
	p := &Plan{}
	if err := p.AddPrograms([]string{"sh", "/usr/bin/env"}, exec.LookPath); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range p.Entries() {
		names = append(names, "/"+e.Name)
	}
	all := strings.Join(names, "\n")
	for _, want := range []string{"/usr/bin/env", "libc.so.6", "ld-linux"} {
		if !strings.Contains(all, want) {
			t.Errorf("plan lacks %s:\n%s", want, all)
		}
	}
	dir := t.TempDir()
	if _, err := p.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	// The copied env runs in a chroot-like way only as root; check that the
	// loader and libc it names are there, by path.
	interp, err := elfInterp(filepath.Join(dir, "usr/bin/env"))
	if err != nil || interp == "" {
		t.Fatalf("copied env: interpreter %q, %v", interp, err)
	}
	if _, err := os.Stat(filepath.Join(dir, interp)); err != nil {
		t.Errorf("the interpreter %s is missing in the copy: %v", interp, err)
	}
	if os.Getuid() == 0 {
		out, err := exec.Command("chroot", dir, "/usr/bin/env", "A=1").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "A=1") {
			t.Errorf("env in the copy: %v: %s", err, out)
		}
	}
}

func mustEval(t *testing.T, p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRootResolve: symbolic links in a tree being filled cannot send a
// write out of it.
func TestRootResolve(t *testing.T) {
	dir := t.TempDir()
	r := &root{dir: dir}
	must(t, os.MkdirAll(filepath.Join(dir, "usr/lib"), 0o755))
	must(t, os.Symlink("usr/lib", filepath.Join(dir, "lib")))
	must(t, os.Symlink("/", filepath.Join(dir, "escape")))
	must(t, os.Symlink("../../../../..", filepath.Join(dir, "usr/up")))
	for _, c := range []struct{ in, want string }{
		{"lib/x.so", "usr/lib/x.so"},
		{"/escape/etc/passwd", "etc/passwd"},
		{"usr/up/etc/shadow", "etc/shadow"},
		{"../../etc/x", "etc/x"},
		{"lib", "lib"}, // the last component is not followed
	} {
		got, err := r.resolve(c.in)
		if err != nil || got != filepath.Join(dir, c.want) {
			t.Errorf("resolve(%q) = %q, %v; want %q", c.in, got, err, filepath.Join(dir, c.want))
		}
	}
}
