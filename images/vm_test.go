package images

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// vmTools returns nsinit and nsh for the VM tests: built from this
// module's source, or taken from $NSH_TEST_TOOLS (a directory holding both).
func vmTools(t *testing.T) Tools {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("no VM: %v", err)
	}
	if d := os.Getenv("NSH_TEST_TOOLS"); d != "" {
		tools, err := FindTools(d)
		if err != nil {
			t.Fatal(err)
		}
		return tools
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tools, err := BuildTools(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return tools
}

func TestVMRecipe(t *testing.T) {
	tools := vmTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, status, err := RunRecipe(ctx, `
hostname vmtest
echo "host=$(hostname)"
while read -r a b; do [[ $a == nodev && $b == overlay ]] && echo overlay=yes; done </proc/filesystems
while read -r src dst type rest; do echo "mount $dst $type"; done </proc/mounts
`, &RecipeOptions{Tools: tools, Modules: []string{"overlay"}, Console: consoleLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("output:\n%s", out)
	if status != 0 {
		t.Errorf("status %d, want 0", status)
	}
	for _, want := range []string{"host=vmtest\n", "overlay=yes\n", "mount /proc proc\n", "mount /sys/fs/cgroup cgroup2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// testWriter logs the serial console line by line (go test -v).
type testWriter struct {
	t   *testing.T
	buf *[]byte
}

func consoleLog(t *testing.T) testWriter { return testWriter{t, new([]byte)} }

func (w testWriter) Write(b []byte) (int, error) {
	*w.buf = append(*w.buf, b...)
	for {
		i := bytes.IndexByte(*w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.t.Logf("console: %s", strings.TrimRight(string((*w.buf)[:i]), "\r"))
		*w.buf = (*w.buf)[i+1:]
	}
}
