package initd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// memoryCgroup makes a cgroup limited to limit bytes of memory (v1, or v2
// when the root delegates the memory controller) and returns its path.
func memoryCgroup(t *testing.T, limit string) string {
	t.Helper()
	mi, _ := readMountinfo("/proc/self/mountinfo")
	name := fmt.Sprintf("nsinit-test-%d", os.Getpid())
	for _, m := range mi {
		var dir string
		var files []string
		switch {
		case m.Type == "cgroup" && hasWord(m.SuperOpts, "memory"):
			dir, files = filepath.Join(m.Dst, name), []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}
		case m.Type == "cgroup2":
			ctl, _ := os.ReadFile(filepath.Join(m.Dst, "cgroup.subtree_control"))
			if !strings.Contains(string(ctl), "memory") {
				continue
			}
			dir, files = filepath.Join(m.Dst, name), []string{"memory.max", "memory.swap.max"}
		default:
			continue
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Skipf("memory cgroup: %v", err)
		}
		t.Cleanup(func() {
			for range 50 { // the last process may take a moment to leave
				if os.Remove(dir) == nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Errorf("cgroup %s left behind", dir)
		})
		for i, f := range files {
			v := limit
			if i == 1 && strings.HasSuffix(f, "swap.max") {
				v = "0"
			}
			if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil && i == 0 {
				t.Skipf("memory limit: %v", err)
			}
		}
		return dir
	}
	t.Skip("no memory cgroup controller to limit")
	return ""
}

// TestOOMKill: a child killed by the OOM killer of its memory cgroup is
// reported as such at -v, with status 137.
func TestOOMKill(t *testing.T) {
	cg := memoryCgroup(t, "33554432")
	// The shell joins the cgroup and becomes nsinit, whose child then
	// touches 200 MB. (One process that allocates: with a pipeline, the
	// writer can fault a second OOM kill before the first victim's memory
	// is freed, and that one may take nsinit.)
	script := `echo $$ > "$1/cgroup.procs" && exec "$0" -s -v -- env ` + helperEnv + `=hog "$0"`
	r := runNsinit(t, runOpts{}, "-s", "--", "sh", "-c", script, os.Args[0], cg)
	if r.code != 137 || !strings.Contains(r.stderr, "killed by signal SIGKILL (9): killed by the kernel OOM killer") {
		t.Errorf("status %d, stderr:\n%s", r.code, r.stderr)
	}
}

// helperHog touches 200 MB, page by page.
func helperHog() int {
	b := make([]byte, 200<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	fmt.Println("survived")
	return 0
}
