package initd

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsh-project/nsh/sig"
	"golang.org/x/sys/unix"
)

// helperSigrecv runs under nsinit: it sends nsinit (its parent) every
// catchable signal, one at a time, checks that nsinit forwards it back and
// is still alive, then sends what nsinit must not forward or cannot catch.
func helperSigrecv() int {
	ch := make(chan os.Signal, 128)
	var all []os.Signal
	for _, s := range sig.All() {
		if sig.Catchable(s) && s != unix.SIGURG {
			all = append(all, s)
		}
	}
	signal.Notify(ch, all...)
	nsinit := os.Getppid()
	fails := 0
	failf := func(format string, a ...any) {
		fails++
		fmt.Printf("FAIL "+format+"\n", a...)
	}
	forwardedN := 0
	for _, s := range sig.All() {
		if !sig.Catchable(s) || s == unix.SIGCHLD || s == unix.SIGURG || slices.Contains(goKeeps, s) {
			continue
		}
		if err := unix.Kill(nsinit, s); err != nil {
			failf("kill %s: %v", sig.Name(s), err)
			continue
		}
		select {
		case got := <-ch:
			if got != s {
				failf("sent %s, got %v", sig.Name(s), got)
			}
			forwardedN++
		case <-time.After(5 * time.Second):
			failf("%s was not forwarded", sig.Name(s))
		}
		if err := unix.Kill(nsinit, 0); err != nil {
			failf("nsinit gone after %s: %v", sig.Name(s), err)
			return 1
		}
	}
	// Not forwarded (SIGCHLD is the reaper's, SIGURG the runtime's), or
	// not catchable: nsinit must survive them all.
	for _, s := range append([]unix.Signal{unix.SIGCHLD, unix.SIGURG, unix.SIGKILL, unix.SIGSTOP}, goKeeps...) {
		if os.Getppid() != 1 && (s == unix.SIGKILL || s == unix.SIGSTOP) {
			continue // only PID 1 is protected from these
		}
		unix.Kill(nsinit, s)
	}
	// A last round trip: by then any wrongly forwarded SIGCHLD is here.
	unix.Kill(nsinit, unix.SIGUSR1)
	for got := range ch {
		if got == unix.SIGUSR1 {
			break
		}
		failf("got %v, which nsinit must not forward", got)
	}
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", nsinit))
	if f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:])); len(f) == 0 || f[0] == "T" || f[0] == "Z" {
		failf("nsinit state after SIGSTOP/SIGKILL: %q", f)
	}
	if fails > 0 {
		return 1
	}
	fmt.Printf("ok %d forwarded\n", forwardedN)
	return 0
}

// helperPgroup is tini's test/pgroup/stage_1.py: it ignores SIGUSR1 and
// waits for a child that does not.
func helperPgroup() int {
	signal.Notify(make(chan os.Signal, 1), unix.SIGUSR1) // caught and dropped; the child gets SIG_DFL
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("ready")
	cmd.Wait()
	return 0
}

// helperQueued is nsinit receiving SIGUSR1 before its child exists.
func helperQueued(args []string) int {
	cfg, code, done := parseArgs(args, os.LookupEnv, os.Stdout, os.Stderr)
	if done {
		return code
	}
	n := &nsinit{cfg: cfg, sys: realSys(), log: os.Stderr}
	n.beforeSpawn = func() { unix.Kill(os.Getpid(), unix.SIGUSR1) }
	return n.run()
}

// helperVM is nsinit taking the VM code path in a pid and mount namespace
// of its own: the kernel command line and /etc come from the directory in
// NSINIT_TEST_VMROOT, and reboot(2) in a pid namespace ends it (with SIGHUP
// for reboot, SIGINT for power-off and halt).
func helperVM(args []string) int {
	cfg, code, done := parseArgs(args, os.LookupEnv, os.Stdout, os.Stderr)
	if done {
		return code
	}
	root := os.Getenv("NSINIT_TEST_VMROOT")
	s := realSys()
	s.cfgRoot = root
	s.cmdline = root + "/cmdline"
	n := &nsinit{cfg: cfg, sys: s, log: os.Stderr, forceVM: true}
	return n.run()
}

// helperTheft runs as PID 1 of a pid namespace: it starts runs commands
// through one Reaper with known exit statuses, from 4 goroutines, while
// other commands leave orphans dying all the time, and checks that every
// status arrives, exactly.
func helperTheft(args []string) int {
	runs := 1000
	if len(args) > 0 {
		fmt.Sscan(args[0], &runs)
	}
	r := NewReaper()
	var orphans atomic.Int64
	r.OnOrphan(func(Exit) { orphans.Add(1) })
	stop := make(chan struct{})
	var storms sync.WaitGroup
	storms.Add(1)
	go func() {
		defer storms.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			p, err := r.Start(exec.Command("sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do (exit 7 &); done"))
			if err == nil {
				p.Wait()
			}
		}
	}()
	var bad atomic.Int64
	var wg sync.WaitGroup
	const workers = 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < runs; i += workers {
				want := i % 256
				script := fmt.Sprintf("exit %d", want)
				if i%7 == 0 {
					want = 128 + int(unix.SIGKILL)
					script = "kill -KILL $$"
				}
				cmd := exec.Command("sh", "-c", script)
				var out bytes.Buffer
				if i%10 == 0 {
					cmd.Stdout = &out
					cmd.Args[2] = "echo run" + fmt.Sprint(i) + "; " + script
				}
				p, err := r.Start(cmd)
				if err != nil {
					fmt.Println("start:", err)
					bad.Add(1)
					continue
				}
				e, err := p.Wait()
				if e.Code() != want || err != nil || e.Pid != p.Pid {
					fmt.Printf("run %d: pid %d: got %v (%d), want %d, err %v\n", i, p.Pid, e, e.Code(), want, err)
					bad.Add(1)
				}
				if i%10 == 0 && out.String() != fmt.Sprintf("run%d\n", i) {
					fmt.Printf("run %d: output %q\n", i, out.String())
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	storms.Wait()
	r.WaitChildless(5 * time.Second)
	fmt.Printf("runs=%d orphans=%d bad=%d\n", runs, orphans.Load(), bad.Load())
	if bad.Load() != 0 {
		return 1
	}
	return 0
}
