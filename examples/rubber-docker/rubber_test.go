package rubberdocker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nsh-project/nsh/internal/bbroot"
)

// nsh is the binary the recipes run with, built by TestMain.
var nsh string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "nsh-rubber-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	nsh = filepath.Join(dir, "nsh")
	build := exec.Command("go", "build", "-o", nsh, "../../cmd/nsh")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build nsh: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func mountTable(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runRecipe runs nsh with args, with a timeout, and checks that the
// host's mount table and host name are what they were.
func runRecipe(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	before, host := mountTable(t), hostname(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nsh, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v timed out; stderr:\n%s", args, errb.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	if mountTable(t) != before {
		t.Errorf("%v changed the host's mount table", args)
	}
	if hostname(t) != host {
		t.Errorf("%v changed the host's name", args)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func busyboxRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the recipes need root (CI runs them as root)")
	}
	if _, err := bbroot.Busybox(); err != nil {
		t.Skip(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	if err := bbroot.Build(root); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestLevels runs each level against a fresh busybox root and checks
// what the level is about.
func TestLevels(t *testing.T) {
	for _, tt := range []struct {
		recipe string
		want   []string // regexps on stdout
		status int
		check  func(t *testing.T, root string)
	}{
		{"level00-fork-exec.nsh", []string{`(?m)^shell: (\d+)\nchild: \d+, parent: (\d+)\nchild exited with 3$`}, 0, nil},
		{"level01-chroot.nsh", []string{`(?m)^root: bin dev etc`}, 0, nil},
		{"level02-mount-ns.nsh", []string{`(?m)^mounts: 1$`}, 0, func(t *testing.T, root string) {
			if ents, _ := os.ReadDir(filepath.Join(root, "proc")); len(ents) != 0 {
				t.Error("the proc mounted inside is visible on the host")
			}
		}},
		{"level03-pivot-root.nsh", []string{`(?m)^root: bin dev etc`, `(?m)^mounts: / /dev .*/proc$`}, 0, nil},
		{"level04-overlay.nsh", []string{`(?m)^motd: written$`, `(?m)^ls: removed$`}, 0, func(t *testing.T, root string) {
			if _, err := os.Stat(filepath.Join(root, "etc", "motd")); err == nil {
				t.Error("the write reached the image")
			}
			if _, err := os.Lstat(filepath.Join(root, "bin", "ls")); err != nil {
				t.Error("the removal reached the image")
			}
		}},
		{"level05-uts.nsh", []string{`(?m)^hostname: rubber$`}, 0, nil},
		{"level06-pid.nsh", []string{`(?m)^pid: 1$`, `(?m)^processes: [1-5]$`}, 0, nil},
		{"level07-net.nsh", []string{`(?m)^links: lo$`, `(?m)^lo: up$`}, 0, nil},
		{"level08-cpu-cgroup.nsh", []string{`(?m)^cpu=20000/100000$`}, 0, nil},
		{"level09-memory-cgroup.nsh", nil, 137, nil},
		{"level10-setuid.nsh", []string{`(?m)^uid: 65534$`, `(?m)^write: denied$`}, 0, nil},
	} {
		t.Run(strings.TrimSuffix(tt.recipe, ".nsh"), func(t *testing.T) {
			root := busyboxRoot(t)
			out, errs, st := runRecipe(t, tt.recipe, root)
			if st != tt.status {
				t.Errorf("status %d, want %d", st, tt.status)
			}
			for _, re := range tt.want {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("stdout lacks %s", re)
				}
			}
			if tt.check != nil {
				tt.check(t, root)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, errs)
			}
		})
	}
}

// TestMkroot builds a root with the recipe instead of package bbroot.
func TestMkroot(t *testing.T) {
	if _, err := bbroot.Busybox(); err != nil {
		t.Skip(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	if _, errs, st := runRecipe(t, "mkroot.nsh", root); st != 0 {
		t.Fatalf("status %d: %s", st, errs)
	}
	if err := bbroot.Check(root); err != nil {
		t.Error(err)
	}
}

// TestSandbox runs the environment of `make run` with the command the
// issue gives, and checks it shows the sandbox, not the host.
func TestSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the sandbox needs root (or a user namespace: run it as root in CI)")
	}
	out, errs, st := runRecipe(t, "../sandbox.nsh", "-c", "cat /proc/1/cmdline; echo; hostname; ls /; echo pid $$; ls /tmp | wc -l")
	for _, re := range []string{`(?m)^sandbox$`, `(?m)^usr$`, `(?m)^proc$`, `(?m)^dev$`, `(?m)^pid \d+$`, `(?m)^0$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("stdout lacks %s", re)
		}
	}
	if strings.Contains(out, "\nwork\n") || strings.Contains(out, "\nhome\n") || st != 0 {
		t.Errorf("status %d\nstdout:\n%s\nstderr:\n%s", st, out, errs)
	}
}
