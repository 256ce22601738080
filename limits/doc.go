// Package limits sets resource limits on the shell and the commands it runs:
// cgroup limits (memory, swap, cpu, cpuset, pids, io, hugetlb) on cgroup v2,
// v1 and hybrid hosts, rlimits, and the OOM score.
//
// A limit line is handled in three steps, as bubblewrap and u-root's libinit
// handle a setup: [Parse] turns KEY=VALUE words into [Setting] values (a
// syntax error is a [*UsageError]); [Host.Plan] checks each against the host
// (which cgroup version serves its controller, whether the file exists, how
// many cpus there are) and translates it into the files to write, each
// printable; [Plan.Apply] writes them, undoing what it wrote when a later
// write fails, so a failing line leaves the previous limits in place.
//
// The layout of the cgroup filesystems is read from /proc/self/mountinfo and
// /proc/self/cgroup under a root directory ([Detect] uses "/"), so tests can
// run the same code against a fake tree of ordinary files.
//
// Each controller is served by the v1 hierarchy it is bound to, or else by the
// cgroup2 hierarchy if its root lists it: on a hybrid host (v1 controllers and
// a cgroup2 mount, as systemd's "hybrid" layout) both may be used at once.
//
// The package does not parse flags and does not print: the builtins `limit`
// and `ulimit` do.
package limits
