#!/usr/bin/env nsh
# Level 6: a pid namespace. The shell becomes PID 1 of a new pid
# namespace (and reaps its orphans); a fresh /proc shows only the
# container's processes. exec makes the container's shell PID 1.
ROOT=${1:?usage: level06-pid.nsh ROOT}
unshare -mpu --mount-proc
hostname rubber
bind '#c' $ROOT/dev
mount -t proc proc $ROOT/proc
pivot $ROOT
exec /bin/sh -c 'echo pid: $$; echo processes: $(ls /proc | grep -c "^[0-9]")'
