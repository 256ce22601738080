package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// GetRlimit returns the soft and hard limit of an rlimit key ("nofile") of
// process pid (0: this one). Unlimited is [Max].
func GetRlimit(pid int, key string) (soft, hard uint64, err error) {
	d, ok := rlimitByKey(key)
	if !ok {
		return 0, 0, &UsageError{Key: key, Reason: "not an rlimit"}
	}
	var rl unix.Rlimit
	if err := unix.Prlimit(pid, d.Resource, nil, &rl); err != nil {
		return 0, 0, &Error{Op: "prlimit", Path: key, Err: err}
	}
	return rl.Cur, rl.Max, nil
}

// setRlimit applies an rlimit setting to process pid (0: this one) with
// prlimit(2), and records how to restore it. For this process prlimit goes
// through the syscall package, which then stops handing children the soft
// nofile limit the Go runtime saved at start.
func setRlimit(j *journal, pid int, s Setting) error {
	old, nl, err := newRlimit(pid, s)
	if err != nil {
		return err
	}
	if err := unix.Prlimit(pid, s.Resource, &nl, nil); err != nil {
		e := &Error{Op: "prlimit", Path: s.String(), Err: err}
		if errors.Is(err, unix.EPERM) {
			e.Note = "raising a hard limit needs CAP_SYS_RESOURCE"
		}
		if errors.Is(err, unix.EINVAL) && s.Resource == unix.RLIMIT_NOFILE {
			e.Note = "nofile may not exceed /proc/sys/fs/nr_open"
		}
		return e
	}
	j.add(func() error { return unix.Prlimit(pid, s.Resource, &old, nil) })
	return nil
}

// SetRlimits sets rlimits on this process, and through it on every command
// it starts afterwards. Either all are set or, on error, none is changed
// (a lowered hard limit cannot be raised again without CAP_SYS_RESOURCE,
// so the settings are checked first).
func SetRlimits(settings []Setting) error {
	j := &journal{}
	if err := checkRlimits(0, settings); err != nil {
		return err
	}
	for _, s := range settings {
		if s.Kind != Rlimit {
			continue
		}
		if err := setRlimit(j, 0, s); err != nil {
			j.rollback()
			return err
		}
	}
	return nil
}

// checkRlimits refuses, before anything is changed, settings that would
// fail: a soft limit above the hard one, a hard limit raised without the
// capability to.
func checkRlimits(pid int, settings []Setting) error {
	canRaise := hasCapSysResource()
	for _, s := range settings {
		if s.Kind != Rlimit {
			continue
		}
		old, nl, err := newRlimit(pid, s)
		if err != nil {
			return err
		}
		if nl.Max > old.Max && !canRaise {
			return &Error{Op: "prlimit", Path: s.String(), Err: unix.EPERM,
				Note: fmt.Sprintf("raising the hard limit above %s needs CAP_SYS_RESOURCE", formatRlimit(old.Max))}
		}
	}
	return nil
}

// newRlimit reads the rlimit s sets for process pid and returns it with
// what s makes of it, refusing a soft limit above the hard one.
func newRlimit(pid int, s Setting) (old, nl unix.Rlimit, err error) {
	if err := unix.Prlimit(pid, s.Resource, nil, &old); err != nil {
		return old, nl, &Error{Op: "prlimit", Path: s.Key, Err: err}
	}
	nl = old
	if s.SetN {
		nl.Cur = s.N
	}
	if s.SetM {
		nl.Max = s.M
	}
	if nl.Cur > nl.Max {
		return old, nl, &UnavailableError{Key: s.Key, Value: s.Value,
			Reason: fmt.Sprintf("soft limit above the hard limit (%s)", formatRlimit(nl.Max))}
	}
	return old, nl, nil
}

func hasCapSysResource() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, val, ok := strings.Cut(line, "\t"); ok && k == "CapEff:" {
			n, err := strconv.ParseUint(val, 16, 64)
			return err == nil && n&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

func formatRlimit(n uint64) string {
	if n == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(n, 10)
}

// FormatRlimit prints an rlimit pair as limit takes it: "1024:524288",
// "unlimited", or one number when soft and hard are equal.
func FormatRlimit(soft, hard uint64) string {
	if soft == hard {
		return formatRlimit(soft)
	}
	return formatRlimit(soft) + ":" + formatRlimit(hard)
}

// setOOMScore writes oom_score_adj of pid (0: this process).
func setOOMScore(j *journal, root string, pid int, s Setting) error {
	p := "self"
	if pid != 0 {
		p = strconv.Itoa(pid)
	}
	file := filepath.Join(root, "proc", p, "oom_score_adj")
	old, err := readFile(file)
	if err != nil {
		return err
	}
	if err := writeFile(file, strconv.FormatInt(int64(s.N), 10)); err != nil {
		var e *Error
		if errors.As(err, &e) && errors.Is(err, unix.EACCES) {
			e.Note = "lowering oom_score_adj below its lowest value so far needs CAP_SYS_RESOURCE"
		}
		return err
	}
	j.add(func() error { return writeFile(file, old) })
	return nil
}
