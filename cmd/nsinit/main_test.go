package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsinit is the binary built from this package, CGO_ENABLED=0 as shipped.
var nsinit string

func TestMain(m *testing.M) {
	if os.Getuid() != 0 {
		os.Exit(0) // pid namespaces need root
	}
	dir, err := os.MkdirTemp("", "nsinit-test")
	if err != nil {
		panic(err)
	}
	nsinit = filepath.Join(dir, "nsinit")
	build := exec.Command("go", "build", "-o", nsinit, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestIssueChecks are the checks of issue 6, with nsinit as PID 1 of a new
// pid namespace (in a new mount namespace, which Go makes private).
func TestIssueChecks(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		code   int
		stdout string
	}{
		{[]string{"--", "sh", "-c", "for i in $(seq 500); do (sleep 0 &); done; sleep 1; ps -o stat= | grep -c Z"}, 1, "0\n"},
		{[]string{"--", "sh", "-c", "kill -TERM $$"}, 143, ""},
		{[]string{"--", "/nonexistent"}, 127, ""},
		{[]string{"-e", "143", "--", "sh", "-c", "kill -TERM $$"}, 0, ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		cmd := exec.CommandContext(ctx, nsinit, tt.args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID, Unshareflags: unix.CLONE_NEWNS, Pdeathsig: unix.SIGKILL}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, _ := cmd.Output()
		cancel()
		if code := cmd.ProcessState.ExitCode(); code != tt.code || string(out) != tt.stdout {
			t.Errorf("nsinit %q: status %d, stdout %q; want %d, %q; stderr:\n%s", tt.args, code, out, tt.code, tt.stdout, stderr.String())
		}
	}
}
