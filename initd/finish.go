package initd

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nsh-project/nsh/sig"
	"golang.org/x/sys/unix"
)

// killWait bounds the wait for processes sent SIGKILL (one in
// uninterruptible sleep may take long; nsinit does not wait for ever).
const killWait = 5 * time.Second

// finish ends what the command left behind: SIGTERM to every process left,
// SIGKILL to those still there after the grace period, and waits until
// they are reaped.
//
// As PID 1 that is every process of the pid namespace (kill(-1)); as a
// subreaper, every descendant (they become children as their parents die);
// otherwise, the descendants and the processes of the child's session or
// process group that are still around.
func (n *nsinit) finish(r *Reaper, child *Proc) {
	if n.pid1 || n.cfg.Subreaper {
		r.reap() // a synchronous pass: is anything left?
		if r.isChildless() {
			return
		}
		n.logf(lvInfo, "sending SIGTERM to the processes left")
		n.killRest(child, unix.SIGTERM)
		if r.WaitChildless(n.cfg.Grace) {
			return
		}
		n.logf(lvWarn, "processes left after the %v grace period: sending SIGKILL", n.cfg.Grace)
		for range 2 {
			n.killRest(child, unix.SIGKILL)
			if r.WaitChildless(killWait) {
				return
			}
		}
		n.logf(lvWarn, "processes left after SIGKILL; exiting anyway")
		return
	}
	if child == nil {
		return
	}
	if !procIsOurs(n.sys) {
		n.logf(lvWarn, "/proc is not this pid namespace's: sending SIGTERM to the child's process group only")
		unix.Kill(-child.Pid, unix.SIGTERM)
		return
	}
	pids := descendants(n.sys, os.Getpid(), child.Pid)
	if len(pids) == 0 {
		return
	}
	n.logf(lvInfo, "sending SIGTERM to %d processes left", len(pids))
	fds := pidfds(pids)
	defer closeAll(fds)
	signalAll(fds, unix.SIGTERM)
	if waitPidfds(fds, n.cfg.Grace) {
		return
	}
	n.logf(lvWarn, "processes left after the %v grace period: sending SIGKILL", n.cfg.Grace)
	signalAll(fds, unix.SIGKILL)
	waitPidfds(fds, killWait)
}

func (r *Reaper) isChildless() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.childless
}

// killRest sends s to what is left: kill(-1) as PID 1 (every process of
// the namespace but nsinit), else to each descendant.
func (n *nsinit) killRest(child *Proc, s unix.Signal) {
	if n.pid1 {
		if err := unix.Kill(-1, s); err != nil && err != unix.ESRCH {
			n.logf(lvWarn, "kill -%s -1: %v", sig.Name(s), err)
		}
		return
	}
	cpid := 0
	if child != nil {
		cpid = child.Pid
	}
	if !procIsOurs(n.sys) {
		// A /proc of another pid namespace names other processes: fall
		// back to the child's process group, which it leads.
		if cpid > 0 {
			unix.Kill(-cpid, s)
		}
		return
	}
	for _, pid := range descendants(n.sys, os.Getpid(), cpid) {
		unix.Kill(pid, s) // the pid is a child or a descendant: not reaped, not reused
	}
}

// procIsOurs reports whether /proc is that of our pid namespace: in a
// /proc mounted for another one, pids and parent pids name other processes.
func procIsOurs(s *sysCalls) bool {
	self, err := os.Readlink(s.procRoot + "/self")
	return err == nil && self == strconv.Itoa(os.Getpid())
}

// procStat is what descendants needs of /proc/PID/stat.
type procStat struct{ pid, ppid, pgrp, sid int }

func readStat(path string) (procStat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may hold spaces and parentheses
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 4 {
		return procStat{}, false
	}
	var st procStat
	st.pid, _ = strconv.Atoi(strings.TrimSpace(s[:strings.IndexByte(s, ' ')]))
	st.ppid, _ = strconv.Atoi(f[1])
	st.pgrp, _ = strconv.Atoi(f[2])
	st.sid, _ = strconv.Atoi(f[3])
	return st, true
}

// descendants lists the descendants of pid, and the processes whose
// session or process group is group (the child's, when it leads one),
// from /proc.
func descendants(s *sysCalls, pid, group int) []int {
	ents, err := os.ReadDir(s.procRoot)
	if err != nil {
		return nil
	}
	kids := map[int][]int{}
	var found []int
	seen := map[int]bool{pid: true}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(s.procRoot + "/" + e.Name() + "/stat")
		if !ok {
			continue
		}
		kids[st.ppid] = append(kids[st.ppid], p)
		if group > 0 && (st.sid == group || st.pgrp == group) && !seen[p] {
			seen[p] = true
			found = append(found, p)
		}
	}
	stack := []int{pid}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, k := range kids[p] {
			if !seen[k] {
				seen[k] = true
				found = append(found, k)
			}
			stack = append(stack, k)
		}
	}
	return found
}

// pidfds opens a pidfd for each pid still alive; a pidfd names the process
// itself, so a pid reused meanwhile is never signalled.
func pidfds(pids []int) []int {
	var fds []int
	for _, p := range pids {
		if fd, err := unix.PidfdOpen(p, 0); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

func signalAll(fds []int, s unix.Signal) {
	for _, fd := range fds {
		unix.PidfdSendSignal(fd, s, nil, 0)
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// waitPidfds waits until every process has ended (a pidfd polls readable
// on exit) or timeout passes, and reports whether all ended.
func waitPidfds(fds []int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	pfd := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		pfd[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	for {
		left := pfd[:0]
		for _, p := range pfd {
			if p.Revents == 0 {
				left = append(left, unix.PollFd{Fd: p.Fd, Events: unix.POLLIN})
			}
		}
		pfd = left
		if len(pfd) == 0 {
			return true
		}
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return false
		}
		if _, err := unix.Poll(pfd, ms); err != nil && err != unix.EINTR {
			return false
		}
	}
}
