package builtins

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/interp"
)

// parseIDMap parses --map-users / --map-groups: INSIDE:OUTSIDE:COUNT
// (util-linux also accepts commas).
func parseIDMap(s string) (idMap, error) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' })
	if len(f) != 3 {
		return idMap{}, fmt.Errorf("invalid map %q: want INSIDE:OUTSIDE:COUNT", s)
	}
	var n [3]int
	for i, x := range f {
		v, err := strconv.Atoi(x)
		if err != nil || v < 0 {
			return idMap{}, fmt.Errorf("invalid map %q: %q is not a number", s, x)
		}
		n[i] = v
	}
	if n[2] == 0 {
		return idMap{}, fmt.Errorf("invalid map %q: the count is 0", s)
	}
	return idMap{Inside: n[0], Outside: n[1], Count: n[2]}, nil
}

// parseID parses a user or group id, or a name from /etc/passwd or
// /etc/group.
func parseID(s, file string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n, nil
	}
	data, err := os.ReadFile(file)
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) > 2 && f[0] == s {
				if n, err := strconv.Atoi(f[2]); err == nil {
					return n, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("unknown id %q (not a number, not in %s)", s, file)
}

func sysMaps(m []idMap) []syscall.SysProcIDMap {
	var out []syscall.SysProcIDMap
	for _, x := range m {
		out = append(out, syscall.SysProcIDMap{ContainerID: x.Inside, HostID: x.Outside, Size: x.Count})
	}
	return out
}

// onlySelf reports whether the maps map one id, the given one: what an
// unprivileged process may write itself.
func onlySelf(m []idMap, id int) bool {
	return len(m) == 1 && m[0].Count == 1 && m[0].Outside == id
}

// writeIDMaps runs newuidmap(1) and newgidmap(1) for the copy when the maps
// need them (a non-root user mapping ids other than its own, allowed by
// /etc/subuid and /etc/subgid).
func writeIDMaps(pid int, spec *copySpec, c *Call) error {
	for _, m := range []struct {
		prog string
		maps []idMap
	}{{"newuidmap", spec.newuidmap}, {"newgidmap", spec.newgidmap}} {
		if m.maps == nil {
			continue
		}
		path, err := interp.LookPathDir(c.Dir, c.Env, m.prog)
		if err != nil {
			return &hintError{
				err:  fmt.Errorf("%s not found on $PATH: mapping more than your own id needs it", m.prog),
				hint: "install the uidmap package (newuidmap, newgidmap) and give your user ranges in /etc/subuid and /etc/subgid, or map only yourself (-r, --map-user)",
			}
		}
		args := []string{m.prog, strconv.Itoa(pid)}
		for _, x := range m.maps {
			args = append(args, strconv.Itoa(x.Inside), strconv.Itoa(x.Outside), strconv.Itoa(x.Count))
		}
		var out bytes.Buffer
		cmd := &exec.Cmd{Path: path, Args: args, Stdout: &out, Stderr: &out}
		p, err := startProc(cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Join(args, " "), unwrapExec(err))
		}
		ws, err := p.Wait()
		if err != nil || waitCode(ws) != 0 {
			return &hintError{
				err:  fmt.Errorf("%s failed: %s", strings.Join(args, " "), strings.TrimSpace(out.String())),
				hint: "the ranges must be granted to you in /etc/subuid and /etc/subgid",
			}
		}
	}
	return nil
}

// bindNsFiles makes the copy's new namespaces persistent: each is
// bind-mounted from /proc/PID/ns/TYPE onto its file (created if missing),
// as `unshare --net=FILE` and `ip netns add` do. `umount FILE` releases it.
func bindNsFiles(pid int, files map[string]string) error {
	var done []string
	for _, t := range nsTypes {
		file, ok := files[t.name]
		if !ok {
			continue
		}
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			f, err := os.OpenFile(file, os.O_CREATE|os.O_RDONLY|os.O_EXCL, 0o444)
			if err != nil {
				undoBinds(done)
				return fmt.Errorf("create %s: %w", file, unwrapExec(err))
			}
			f.Close()
		}
		src := fmt.Sprintf("/proc/%d/ns/%s", pid, t.name)
		if err := unix.Mount(src, file, "", unix.MS_BIND, ""); err != nil {
			undoBinds(done)
			e := &hintError{err: fmt.Errorf("mount --bind %s %s: %w", src, file, err)}
			switch {
			case t.name == "mnt" && errors.Is(err, unix.EINVAL):
				e.hint = "a mount namespace file must be on a private mount: mount --bind DIR DIR; mount --make-private DIR"
			case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
				e.hint = "binding a namespace file needs CAP_SYS_ADMIN in the current mount namespace's user namespace"
			}
			return e
		}
		done = append(done, file)
	}
	return nil
}

func undoBinds(files []string) {
	for _, f := range files {
		unix.Unmount(f, unix.MNT_DETACH)
	}
}
