#!/usr/bin/env nsh
# Level 8: a cpu cgroup. The container may use a fifth of one CPU
# (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us); limit moves the shell into
# a cgroup of its own, which every process it starts inherits, and removes
# it when the environment ends.
ROOT=${1:?usage: level08-cpu-cgroup.nsh ROOT}
unshare -mpu --mount-proc
hostname rubber
limit cpu=20%
limit
bind '#c' $ROOT/dev
mount -t proc proc $ROOT/proc
pivot $ROOT
exec /bin/sh -c 'echo cgroup: $(grep -c . /proc/self/cgroup)'
