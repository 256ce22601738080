package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The orphan workload runs under each init as its only command:
//
//	INIT BENCH orphans N
//
// "orphans" (the init's child) mounts a fresh /proc, starts "orphans-fork
// N" and waits for it. "orphans-fork" forks N children that exit at once
// and exits itself without waiting for them, so N zombies are handed to
// PID 1 in one burst, the case issue 6 asks about ("hundreds of orphans
// die at the same moment"). "orphans" then counts the zombies left in the
// namespace at once, polls until there are none (up to one second), counts
// again after 100 ms more, and prints "AT_ONCE MS_TO_NONE AFTER_100MS".
//
// The children are made with a bare fork (clone with SIGCHLD) whose child
// calls exit_group at once, as Go's own forkAndExecInChild does before
// exec: it is the cheapest orphan there is, so the workload measures the
// init rather than process start-up, which on this kind of machine costs
// milliseconds per exec.

// hostMountNS is the environment variable through which the init suite
// tells the helper the bench's own mount namespace ("mnt:[N]").
const hostMountNS = "NSH_BENCH_HOST_MNT"

// orphansMain is the "orphans N" helper. It refuses to run in the bench's
// mount namespace (or when it cannot tell), where mounting /proc would
// change the host.
func orphansMain(args []string, stdout io.Writer) error {
	n, err := orphanCount(args)
	if err != nil {
		return err
	}
	self, _ := os.Readlink("/proc/self/ns/mnt")
	host := os.Getenv(hostMountNS)
	if os.Getppid() != 1 || self == "" || host == "" || self == host {
		return errors.New("orphans: run only by the init suite, as the child of PID 1 of a new pid and mount namespace")
	}
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("orphans: mount proc on /proc: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "orphans-fork", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("orphans-fork: %w", err)
	}
	atOnce := zombies()
	start := time.Now()
	none := -1.0
	for time.Since(start) < time.Second {
		if zombies() == 0 {
			none = float64(time.Since(start)) / float64(time.Millisecond)
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	fmt.Fprintf(stdout, "%d %.1f %d\n", atOnce, none, zombies())
	return nil
}

// orphansFork is the "orphans-fork N" helper: N bare forks, no waiting.
func orphansFork(args []string) error {
	n, err := orphanCount(args)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if errno != 0 {
			return fmt.Errorf("orphans-fork: clone %d: %w", i, errno)
		}
		if pid == 0 {
			// The child: nothing but exit_group, as in a vfork child.
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
		}
	}
	return nil
}

func orphanCount(args []string) (int, error) {
	if len(args) != 1 {
		return 0, errors.New("usage: bench orphans|orphans-fork N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("orphans: bad count %q", args[0])
	}
	return n, nil
}

// zombies counts the processes in state Z under /proc.
func zombies() int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	z := 0
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// The state follows the command name, which is in parentheses
		// and may itself contain ") ".
		s := string(b)
		if i := strings.LastIndex(s, ") "); i >= 0 && i+2 < len(s) && s[i+2] == 'Z' {
			z++
		}
	}
	return z
}
