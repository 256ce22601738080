package bind

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolveCreates checks, without privileges, that resolve creates
// missing mount points (directories, or an empty file last), returns a
// descriptor path for the real place, and refuses a dangling link.
func TestResolveCreates(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc")
	}
	d := t.TempDir()
	tg, err := resolve(filepath.Join(d, "a/b/c"), Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tg.Path, "/proc/self/fd/") || tg.Real != filepath.Join(d, "a/b/c") {
		t.Errorf("target %+v", tg)
	}
	tg.Close()
	if fi, err := os.Stat(filepath.Join(d, "a/b/c")); err != nil || !fi.IsDir() {
		t.Errorf("directory not created: %v", err)
	}
	tg, err = resolve(filepath.Join(d, "f/file"), File)
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
	if fi, err := os.Stat(filepath.Join(d, "f/file")); err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
		t.Errorf("file not created: %v", err)
	}
	if err := os.Symlink(filepath.Join(d, "nowhere/x"), filepath.Join(d, "dangling")); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve(filepath.Join(d, "dangling"), Dir); err == nil || !strings.Contains(err.Error(), "dangling") {
		t.Errorf("dangling link: %v", err)
	}
	if _, err := resolve(filepath.Join(d, "missing"), Existing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing, Existing: %v", err)
	}
	if _, err := resolve("relative", Dir); err == nil {
		t.Error("a relative path was resolved")
	}
	// A link of the host, above any mount point, is followed.
	if err := os.Symlink(filepath.Join(d, "a"), filepath.Join(d, "link")); err != nil {
		t.Fatal(err)
	}
	tg, err = resolve(filepath.Join(d, "link/b"), Existing)
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
	if tg.Real != filepath.Join(d, "a/b") {
		t.Errorf("through a host link: %q", tg.Real)
	}
	// Below an existing link target, missing mount points are created.
	tg, err = resolve(filepath.Join(d, "link/new"), Dir)
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
	if tg.Real != filepath.Join(d, "a/new") {
		t.Errorf("below a host link: %q", tg.Real)
	}
}
