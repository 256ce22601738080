package limits

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// UsageError is a limit that cannot be understood: an unknown key, a value
// that does not parse or is out of range. The builtin exits 2 for it.
type UsageError struct {
	Key, Value string
	Reason     string
}

// Error prints "KEY=VALUE: reason".
func (e *UsageError) Error() string {
	if e.Key == "" {
		return e.Reason
	}
	return fmt.Sprintf("%s=%s: %s", e.Key, e.Value, e.Reason)
}

// UnavailableError is a limit that is understood but that this host cannot
// enforce: its controller is not mounted or not enabled, its file is missing,
// or the value exceeds what the host has (cpu=150% on one cpu). The builtin
// exits 1 for it.
type UnavailableError struct {
	Key, Value string
	Reason     string
}

// Error prints "KEY=VALUE: reason".
func (e *UnavailableError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("%s=%s: %s", e.Key, e.Value, e.Reason)
}

// Error is a failed system call on a cgroup file or directory, or on a
// process's limits: the operation, the path and the errno, printed as
// "write /sys/fs/cgroup/memory/nsh-12/memory.limit_in_bytes: device or
// resource busy". Note says what the errno means here when it misleads.
type Error struct {
	Op   string // "write", "mkdir", "rmdir", "prlimit", ...
	Path string
	// Value is what was written, if anything.
	Value string
	Err   error
	// Note explains the errno in this context; "" if it speaks for itself.
	Note string
}

// Error prints the operation, the path (and the value written) and the
// errno.
func (e *Error) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("%s %q to %s: %v", e.Op, e.Value, e.Path, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the errno, so errors.Is(err, unix.EBUSY) works.
func (e *Error) Unwrap() error { return e.Err }

// Hint returns the explanation of the errno, if any; the builtins print it
// on a line of its own.
func (e *Error) Hint() string { return e.Note }

// writeHint explains the errors that cgroup writes are known to give.
func writeHint(file string, err error) string {
	switch {
	case errors.Is(err, unix.EBUSY) && (file == "memory.limit_in_bytes" || file == "memory.max" || file == "memory.memsw.limit_in_bytes"):
		return "the cgroup already uses more than that and the kernel could not reclaim it; choose a larger value"
	case errors.Is(err, unix.EBUSY) && file == "cgroup.subtree_control":
		return "cgroup v2 forbids enabling controllers for the children of a cgroup that holds processes (the no-internal-process rule); run nsh in an empty, delegated cgroup"
	case errors.Is(err, unix.EINVAL) && (file == "memory.limit_in_bytes" || file == "memory.memsw.limit_in_bytes"):
		return "cgroup v1 needs memory.limit_in_bytes <= memory.memsw.limit_in_bytes"
	case (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ERANGE)) && (file == "cpuset.cpus" || file == "cpuset.mems"):
		return "the list must be a subset of the parent cgroup's " + file
	case errors.Is(err, unix.EINVAL) && (file == "cpu.cfs_quota_us" || file == "cpu.max"):
		return "the quota may not exceed a parent cgroup's, nor be below 1000us"
	case errors.Is(err, unix.EOPNOTSUPP) && file == "cgroup.procs":
		return "the target is not a leaf (cgroup v2 threaded or domain-invalid cgroup)"
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		return "moving processes and writing limits needs write access to the cgroup and to the common ancestor's cgroup.procs (root, or a delegated subtree)"
	case errors.Is(err, unix.ENOSPC) && file == "cgroup.procs":
		return "cgroup v1 cpuset: the target has an empty cpuset.cpus or cpuset.mems"
	}
	return ""
}

// rmdirHint explains EBUSY from rmdir of a cgroup: it still has processes
// (or child cgroups), which is not what "busy" suggests.
func rmdirHint(err error) string {
	if errors.Is(err, unix.EBUSY) {
		return "the cgroup still holds processes or child cgroups (rmdir of a populated cgroup fails with EBUSY)"
	}
	return ""
}
