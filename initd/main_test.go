package initd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as nsinit and as the helpers nsinit runs: with
// INITD_TEST_HELPER=main it is nsinit (what cmd/nsinit does), with another
// value one of the helpers below. Children of nsinit inherit its
// environment, so helpers run under nsinit are started through env(1).
const helperEnv = "INITD_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h, os.Args[1:]))
	}
	if os.Getuid() != 0 {
		fmt.Println("initd tests need root (namespaces, mounts, reboot in a pid namespace)")
		os.Exit(0)
	}
	before := hostState()
	code := m.Run()
	// The tests make namespaces of their own: the host must look the same.
	if after := hostState(); after != before {
		fmt.Printf("FAIL: host mount table or hostname changed by the tests:\nbefore:\n%s\nafter:\n%s\n", before, after)
		code = 1
	}
	os.Exit(code)
}

// hostState is what nsinit could change on the host: the mounts on the
// places it mounts on (and /), with their propagation, and the hostname.
// (Other mounts are left out: other tests on the machine make their own.)
func hostState() string {
	mi, _ := readMountinfo("/proc/self/mountinfo")
	places := map[string]bool{"/": true}
	for _, m := range essentialMounts {
		places[m.Dst] = true
	}
	var b strings.Builder
	for _, e := range mi {
		if places[e.Dst] {
			fmt.Fprintf(&b, "%s %s %s %s\n", e.Dst, e.Type, e.Source, e.Optional)
		}
	}
	h, _ := os.Hostname()
	return b.String() + "hostname " + h
}

func runHelper(h string, args []string) int {
	switch h {
	case "main":
		return Main(args)
	case "sigrecv":
		return helperSigrecv()
	case "pgroup":
		return helperPgroup()
	case "vm":
		return helperVM(args)
	case "queued":
		return helperQueued(args)
	case "theft":
		return helperTheft(args)
	case "reaper":
		return helperReaper()
	case "hog":
		return helperHog()
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", h)
	return 2
}

// result is how one run of nsinit went.
type result struct {
	code           int
	status         unix.WaitStatus
	stdout, stderr string
	dur            time.Duration
}

// runOpts say how to start nsinit.
type runOpts struct {
	pidns bool     // PID 1 of a new pid namespace, in a new (private) mount namespace
	env   []string // added to the environment
	stdin *os.File
	// started, when set, is called once nsinit has started, with its
	// process, and may signal it.
	started func(p *os.Process)
	// ready: wait for this line on stdout before calling started.
	ready   string
	timeout time.Duration
	// attr replaces the SysProcAttr (pidns is then ignored).
	attr *syscall.SysProcAttr
	// extra files for nsinit (fd 3 on).
	extra []*os.File
}

// testCmd is exec.Command with a deadline: the process is killed after
// 120 seconds (or at the end of the test), and Wait gives up on its output
// 20 seconds after it ended.
func testCmd(t *testing.T, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 20 * time.Second
	return cmd
}

// helperCmd returns a command running the test binary as helper h.
func helperCmd(t *testing.T, h string, args ...string) *exec.Cmd {
	cmd := testCmd(t, os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+h)
	return cmd
}

// helperArgv is the argv that runs helper h under nsinit.
func helperArgv(h string, args ...string) []string {
	return append([]string{"env", helperEnv + "=" + h, os.Args[0]}, args...)
}

func pidnsAttr() *syscall.SysProcAttr {
	// Unshareflags CLONE_NEWNS makes Go's child mount / rprivate before
	// exec, as unshare(1) does: nothing nsinit mounts reaches the host.
	return &syscall.SysProcAttr{
		Cloneflags:   unix.CLONE_NEWPID,
		Unshareflags: unix.CLONE_NEWNS,
		Pdeathsig:    unix.SIGKILL,
	}
}

// runNsinit runs nsinit (the test binary as "main") with args.
func runNsinit(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), helperEnv+"=main"), o.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdin = o.stdin
	cmd.ExtraFiles = o.extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
	if o.pidns {
		cmd.SysProcAttr = pidnsAttr()
	}
	if o.attr != nil {
		cmd.SysProcAttr = o.attr
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd.Stdout = pw
	start := time.Now()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		seen := false
		for sc.Scan() {
			stdout.WriteString(sc.Text() + "\n")
			if !seen && o.ready != "" && sc.Text() == o.ready {
				seen = true
				close(ready)
			}
		}
	}()
	if o.started != nil {
		if o.ready == "" {
			close(ready)
		}
		select {
		case <-ready:
			o.started(cmd.Process)
		case <-done:
		case <-ctx.Done():
		}
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("nsinit %q timed out after %v; stderr:\n%s", args, o.timeout, stderr.String())
	}
	// The output ends when every process holding the pipe is gone: nsinit
	// must not leave any behind.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		pr.Close()
		<-done
		t.Errorf("nsinit %q: its stdout was still open 10s after it exited", args)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("nsinit %q: %v", args, err)
	}
	r := result{dur: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	r.status = unix.WaitStatus(cmd.ProcessState.Sys().(syscall.WaitStatus))
	r.code = ExitCode(r.status)
	return r
}
