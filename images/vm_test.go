package images

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	testTools    Tools
	testToolsErr error
	testToolsDir string
	testToolsOne sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testToolsDir != "" {
		os.RemoveAll(testToolsDir)
	}
	os.Exit(code)
}

// vmTools returns nsinit and nsh for the VM tests, built once from this
// module's source (or taken from $NSH_TEST_TOOLS, a directory holding
// both). It skips the test when qemu or the kernel is missing.
func vmTools(t *testing.T) Tools {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("no VM: %v", err)
	}
	testToolsOne.Do(func() {
		if d := os.Getenv("NSH_TEST_TOOLS"); d != "" {
			testTools, testToolsErr = FindTools(d)
			return
		}
		testToolsDir, testToolsErr = os.MkdirTemp("", "nsh-images-test-")
		if testToolsErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		testTools, testToolsErr = BuildTools(ctx, testToolsDir)
	})
	if testToolsErr != nil {
		t.Fatal(testToolsErr)
	}
	return testTools
}

func vmContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestVMRecipe boots a recipe that uses what nsinit sets up: the modules
// it loaded with their dependencies, its mounts, a hostname.
func TestVMRecipe(t *testing.T) {
	tools := vmTools(t)
	out, status, err := RunRecipe(vmContext(t), `
hostname vmtest
echo "host=$(hostname)"
while read -r a b; do [[ $a == nodev && $b == overlay ]] && echo overlay=yes; done </proc/filesystems
while read -r src dst type rest; do echo "mount $dst $type"; done </proc/mounts
while read -r name rest; do echo "module $name"; done </proc/modules
echo "to stderr" >&2
/usr/bin/env A=from-env /usr/bin/printenv A
`, &RecipeOptions{Tools: tools, Modules: []string{"overlay", "bridge"}, Programs: []string{"/usr/bin/env", "printenv"}, Console: consoleLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if status != 0 {
		t.Errorf("status %d, want 0", status)
	}
	for _, want := range []string{"host=vmtest\n", "overlay=yes\n", "mount /proc proc\n", "mount /dev devtmpfs\n",
		"mount /sys/fs/cgroup cgroup2\n", "to stderr\n",
		// bridge needs stp, which needs llc: all three are loaded.
		"from-env\n", // a dynamically linked host program, with its libraries
		"module overlay\n", "module bridge\n", "module stp\n", "module llc\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "nsinit:") || strings.Contains(out, "SeaBIOS") {
		t.Errorf("output holds more than the recipe's:\n%s", out)
	}
}

// TestVMFailingCommand: a command that fails still powers the machine off
// cleanly, with its status on the console; nsinit.cmd replaces the script.
func TestVMFailingCommand(t *testing.T) {
	tools := vmTools(t)
	img := filepath.Join(t.TempDir(), "i.cpio.gz")
	ir := &Initramfs{Init: tools.Nsinit, Nsh: tools.Nsh, Cmd: "echo from the script"}
	if err := ir.WriteFile(img); err != nil {
		t.Fatal(err)
	}
	r, err := Boot(vmContext(t), BootOptions{Initramfs: img, Cmd: "/bin/nsh -c 'echo failing; exit 3'", Console: consoleLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if r.Status != 3 || r.Cmd != "/bin/nsh -c echo failing; exit 3" {
		t.Errorf("status %d of %q, want 3 of the nsinit.cmd", r.Status, r.Cmd)
	}
	if !strings.Contains(r.Log, "failing\n") || strings.Contains(r.Log, "from the script") {
		t.Errorf("nsinit.cmd did not replace the script:\n%s", r.Log)
	}
	t.Logf("boot to power-off: %v", r.Elapsed)
}

// TestVMDemo boots what make vm boots: examples/vm/demo.nsh.
func TestVMDemo(t *testing.T) {
	tools := vmTools(t)
	script, err := os.ReadFile("../examples/vm/demo.nsh")
	if err != nil {
		t.Fatal(err)
	}
	out, status, err := RunRecipe(vmContext(t), string(script), &RecipeOptions{
		Tools: tools, Modules: []string{"overlay"},
		Trees: []Tree{{Src: "../examples/vm/root", Dst: "/"}}, Console: consoleLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if status != 0 {
		t.Fatalf("demo: status %d:\n%s", status, out)
	}
	for _, want := range []string{"hostname: demo\n", "union: from the base layer; written into the union\n",
		"the new file went to /srv/rw\n", "  memory=64M\n", "a command runs in 0::/nsh-", "with nofile=256\n", "  /srv/union overlay\n", "== demo done\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestVMBusybox boots the benchmark's comparison initramfs, and checks
// that an /init that exits is reported as the kernel panic it causes.
func TestVMBusybox(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("no VM: %v", err)
	}
	b := &Busybox{Modules: []string{"overlay"}, Cmd: "grep -c overlay /proc/filesystems"}
	if _, err := b.Plan(); err != nil {
		t.Skipf("no busybox: %v", err) // apt-get install busybox-static
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "bb.cpio.gz")
	if err := b.WriteFile(img); err != nil {
		t.Fatal(err)
	}
	r, err := Boot(vmContext(t), BootOptions{Initramfs: img, Console: consoleLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Err(); err != nil || r.Status != 0 || !strings.Contains(r.Log, "1\ninit: command exited") {
		t.Errorf("busybox boot: status %d, %v:\n%s", r.Status, err, r.Log)
	}

	b.Cmd = "exit 0" // init returns
	if err := b.WriteFile(img); err != nil {
		t.Fatal(err)
	}
	r, err = Boot(vmContext(t), BootOptions{Initramfs: img, Console: consoleLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Panicked || r.PoweredOff || r.Err() == nil {
		t.Errorf("init exited: panicked %v, powered off %v, Err %v", r.Panicked, r.PoweredOff, r.Err())
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

func TestParseLog(t *testing.T) {
	raw := "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2)\r\nBooting from ROM...\x1bc\x1b[?7l\x1b[2Jnsinit: /bin/nsh -c exit 3 exited with status 3\r\n[    2.1] reboot: Power down\r\n"
	var b bytes.Buffer
	f := &escapeFilter{w: &b}
	for i := range len(raw) { // a byte at a time: sequences span writes
		f.Write([]byte{raw[i]})
	}
	r := parseLog(b.String())
	if r.Status != 3 || r.Cmd != "/bin/nsh -c exit 3" || !r.PoweredOff || r.Panicked || r.Err() != nil {
		t.Errorf("parsed %+v, Err %v", r, r.Err())
	}
	if strings.Contains(r.Log, "\x1b") {
		t.Errorf("escape left in %q", r.Log)
	}
	r = parseLog("Booting from ROM..\n.init: command exited with status 0\nreboot: Power down\n")
	if r.Status != 0 || r.Cmd != "command" || r.Err() != nil {
		t.Errorf("status line after firmware output: %+v", r)
	}
	if out := recipeOutput("x\n" + recipeMark + "\none\ntwo\nnsinit: /bin/nsh exited with status 0\n"); out != "one\ntwo\n" {
		t.Errorf("recipe output %q", out)
	}
	r = parseLog("Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000\n")
	if !r.Panicked || r.Err() == nil || r.Status != -1 {
		t.Errorf("panic: %+v", r)
	}
}
