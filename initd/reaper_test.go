package initd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReaperAPI runs helperReaper as PID 1 of a pid namespace.
func TestReaperAPI(t *testing.T) {
	cmd := helperCmd(t, "reaper")
	cmd.SysProcAttr = pidnsAttr()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "ok\n") {
		t.Errorf("%v:\n%s", err, out)
	}
}

// helperReaper checks the Reaper API the shell uses: I/O through pipes,
// errors, signals, orphans and WaitChildless.
func helperReaper() int {
	fails := 0
	check := func(ok bool, format string, a ...any) {
		if !ok {
			fails++
			fmt.Printf("FAIL "+format+"\n", a...)
		}
	}
	r := NewReaper()
	check(NewReaper() == r, "a second Reaper")
	var mu sync.Mutex
	var orphans []Exit
	r.OnOrphan(func(e Exit) { mu.Lock(); orphans = append(orphans, e); mu.Unlock() })

	// Stdin from a reader, stdout and stderr to one buffer.
	var out bytes.Buffer
	cmd := exec.Command("sh", "-c", "cat; echo err >&2; exit 3")
	cmd.Stdin = strings.NewReader("hello\n")
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := r.Start(cmd)
	check(err == nil, "start: %v", err)
	if err == nil {
		var wg sync.WaitGroup
		for range 3 { // Wait from several goroutines
			wg.Add(1)
			go func() {
				defer wg.Done()
				e, err := p.Wait()
				check(e.Code() == 3 && err == nil && e.Pid == p.Pid, "wait: %v %v", e, err)
			}()
		}
		wg.Wait()
		check(out.String() == "hello\nerr\n", "output %q", out.String())
		_, done := p.Exit()
		check(done, "Exit() not done after Wait")
		check(errors.Is(p.Signal(unix.SIGTERM), os.ErrProcessDone), "Signal after exit: %v", p.Signal(unix.SIGTERM))
	}

	e, err := r.Run(exec.Command("sh", "-c", "exit 9"))
	check(e.Code() == 9 && err == nil, "Run: %v %v", e, err)

	// Start errors.
	_, err = r.Start(exec.Command("/nonexistent"))
	check(err != nil && StartErrorCode(err) == 127, "nonexistent: %v", err)
	_, err = r.Start(exec.CommandContext(context.Background(), "true"))
	check(err != nil, "CommandContext accepted")
	c := exec.Command("true")
	if p, err := r.Start(c); err == nil {
		p.Wait()
	}
	_, err = r.Start(c)
	check(err != nil, "second Start accepted")

	// Signals to the process and to its group.
	cmd = exec.Command("sh", "-c", "sleep 100 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err = r.Start(cmd)
	check(err == nil, "start: %v", err)
	if err == nil {
		_, done := p.Exit()
		check(!done, "Exit() done at once")
		check(p.SignalGroup(unix.SIGKILL) == nil, "SignalGroup")
		e, _ := p.Wait()
		check(e.Status.Signaled() && e.Status.Signal() == unix.SIGKILL, "group kill: %v", e)
	}

	// Orphans are reaped and reported; WaitChildless sees the end.
	p, err = r.Start(exec.Command("sh", "-c", "sleep 0.2 & sleep 0.1 & exit 0"))
	check(err == nil, "start: %v", err)
	if err == nil {
		p.Wait()
		check(r.WaitChildless(10*time.Second), "WaitChildless timed out")
		mu.Lock()
		n := len(orphans)
		mu.Unlock()
		// The sleep that was killed with its group above is an orphan too.
		check(n >= 2, "%d orphans reported", n)
	}
	// A child that outlives the timeout.
	p, _ = r.Start(exec.Command("sleep", "100"))
	check(!r.WaitChildless(50*time.Millisecond), "WaitChildless true with a child")
	p.Signal(unix.SIGKILL)
	p.Wait()
	if fails > 0 {
		return 1
	}
	fmt.Println("ok")
	return 0
}
