package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// initPeer is one PID 1 under test: the argv that precedes the command it
// supervises.
type initPeer struct {
	name   string
	prefix []string
	skip   string
}

// initPeers lists nsinit and its peers, each as it is used as a container's
// init: `docker run --init` style, CMD as the only child.
func initPeers(e *env) []initPeer {
	nsinit := e.nsinit
	if nsinit == "" {
		nsinit = filepath.Join(e.root, "bin", "nsinit") // for the listing
	}
	ps := []initPeer{{name: "nsinit", prefix: []string{nsinit, "--"}, skip: e.why["nsinit"]}}
	for _, p := range []struct {
		name string
		dd   bool // takes "--" before CMD
	}{{"tini", true}, {"tini-static", true}, {"dumb-init", false}, {"catatonit", true}} {
		bin := look(p.name)
		ip := initPeer{name: p.name, prefix: []string{bin}}
		if p.dd {
			ip.prefix = append(ip.prefix, "--")
		}
		if bin == "" {
			ip.skip = notInstalled(p.name)
		}
		ps = append(ps, ip)
	}
	return ps
}

// asPID1 makes the child PID 1 of a new pid namespace, in a new mount
// namespace that Go makes private (MS_REC|MS_PRIVATE on /, as unshare(1)
// does) so that whatever an init mounts never reaches the host.
func asPID1() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags:   syscall.CLONE_NEWPID,
		Unshareflags: syscall.CLONE_NEWNS,
	}
}

// orphans is how many orphans the reaping test hands to PID 1.
const orphans = 2000

// initSuite measures each init's memory while it supervises `sleep 1`, and
// its reaping of 2000 orphans.
func initSuite(e *env) {
	peers := initPeers(e)
	var notes []string
	var live []initPeer
	for _, p := range peers {
		if p.skip != "" {
			notes = append(notes, p.name+": "+p.skip)
			continue
		}
		live = append(live, p)
	}

	// Memory: VmHWM (peak resident set) from /proc/PID/status and Pss
	// (proportional set: shared pages divided among their users) from
	// /proc/PID/smaps_rollup, read from the host while `sleep 1` runs.
	runs := e.count(5)
	type mem struct{ hwm, pss []float64 }
	mems := map[string]*mem{}
	failed := map[string]string{} // why a peer's memory runs failed
	for r := 0; r < runs; r++ {
		for i := range live {
			p := live[(r+i)%len(live)]
			if failed[p.name] != "" {
				continue
			}
			hwm, pss, err := peakMemory(append(append([]string(nil), p.prefix...), "sleep", "1"))
			if err != nil {
				failed[p.name] = "memory: " + err.Error()
				continue
			}
			if mems[p.name] == nil {
				mems[p.name] = &mem{}
			}
			mems[p.name].hwm = append(mems[p.name].hwm, hwm)
			mems[p.name].pss = append(mems[p.name].pss, pss)
		}
	}
	get := func(name string, f func(*mem) []float64) float64 {
		if m := mems[name]; m != nil && failed[name] == "" {
			return median(f(m))
		}
		return nan
	}
	hwm := func(m *mem) []float64 { return m.hwm }
	pss := func(m *mem) []float64 { return m.pss }
	t := &table{header: []string{"PID 1", "VmHWM kB", "Pss kB", "nsinit/this VmHWM", "nsinit/this Pss"}}
	for _, p := range peers {
		t.add(p.name, num(get(p.name, hwm)), num(get(p.name, pss)),
			ratio(get("nsinit", hwm), get(p.name, hwm)), ratio(get("nsinit", pss), get(p.name, pss)))
	}
	e.printf("Memory of PID 1 supervising `sleep 1` in a new pid namespace, median of %d runs.\n\n%s\n", runs, t)

	// Reaping: wall time from the fork of the init to its exit, and the
	// zombies left, for the orphan workload (orphans.go) under each init.
	exe, err := os.Executable()
	if err != nil {
		e.skip("init orphans", err.Error())
		return
	}
	for _, p := range live {
		if failed[p.name] != "" {
			notes = append(notes, p.name+": fails: "+failed[p.name])
		}
	}
	failed = map[string]string{} // why a peer's orphan runs failed
	mntNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		e.skip("init orphans", err.Error())
		return
	}
	oruns := e.count(10)
	wall := map[string][]float64{}
	zNow := map[string][]float64{}
	toNone := map[string][]float64{}
	zLater := map[string][]float64{}
	for r := 0; r < oruns; r++ {
		e.progress(fmt.Sprintf("orphans round %d/%d", r+1, oruns))
		for i := range live {
			p := live[(r+i)%len(live)]
			if failed[p.name] != "" {
				continue
			}
			argv := append(append([]string(nil), p.prefix...), exe, "orphans", strconv.Itoa(orphans))
			d, out, err := runOnce(argv, asPID1(), hostMountNS+"="+mntNS)
			var a, b, c float64
			if err == nil {
				_, err = fmt.Sscan(string(out), &a, &b, &c)
			}
			if err != nil {
				failed[p.name] = "orphans: " + err.Error()
				continue
			}
			wall[p.name] = append(wall[p.name], float64(d)/float64(time.Millisecond))
			zNow[p.name] = append(zNow[p.name], a)
			if b < 0 {
				b = nan // not all reaped within a second
			}
			toNone[p.name] = append(toNone[p.name], b)
			zLater[p.name] = append(zLater[p.name], c)
		}
	}
	med := func(m map[string][]float64, name string) float64 {
		if failed[name] != "" || len(m[name]) == 0 {
			return nan
		}
		return median(m[name])
	}
	maxOf := func(m map[string][]float64, name string) string {
		if failed[name] != "" || len(m[name]) == 0 {
			return "-"
		}
		return strconv.Itoa(int(quantile(m[name], 1)))
	}
	t = &table{header: []string{"PID 1", "wall ms", "nsinit/this", "zombies at once", "ms to none", "left after 100 ms (max)"}}
	for _, p := range peers {
		t.add(p.name, num(med(wall, p.name)), ratio(med(wall, "nsinit"), med(wall, p.name)),
			count(med(zNow, p.name)), num(med(toNone, p.name)), maxOf(zLater, p.name))
	}
	e.printf("%d orphans handed to PID 1 at once (`INIT bench orphans %d`, see bench/README.md),\n", orphans, orphans)
	e.printf("PID 1 of a new pid namespace; medians of %d interleaved runs.\n\n%s\n", oruns, t)
	for _, p := range peers {
		e.printf("  %-12s %s CMD\n", p.name+":", e.shellQuote(p.prefix))
	}
	for _, p := range live {
		if failed[p.name] != "" {
			notes = append(notes, p.name+": fails: "+failed[p.name])
		}
	}
	printSkips(e, notes)
}

// peakMemory starts argv as PID 1 of a new pid namespace, waits until it
// has a child and 300 ms more, reads its VmHWM and Pss in kB, and waits for
// it to exit.
func peakMemory(argv []string) (hwm, pss float64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = asPID1()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && !hasChild(pid) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	hwm, err1 := procField(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")
	pss, err2 := procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	werr := cmd.Wait()
	for _, e := range []error{werr, err1, err2} {
		if e != nil {
			if msg := lastLine(stderr.String()); msg != "" {
				return 0, 0, fmt.Errorf("%w: %s", e, msg)
			}
			return 0, 0, e
		}
	}
	return hwm, pss, nil
}

// hasChild reports whether any thread of pid has a child: a Go init may
// fork from any of its threads, and /proc lists children per thread.
func hasChild(pid int) bool {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return true
		}
	}
	return false
}

// procField reads the number after key in a /proc file of "Key: N kB" lines.
func procField(path, key string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseFloat(f[0], 64)
			}
		}
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}
