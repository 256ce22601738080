#!/usr/bin/env nsh
# Level 9: a memory cgroup. With 32 MiB, a container that fills 100 MB is
# killed by the kernel's OOM killer (status 137, SIGKILL) instead of
# pushing the host into swap.
ROOT=${1:?usage: level09-memory-cgroup.nsh ROOT}
unshare -mpu --mount-proc
hostname rubber
limit memory=32M swap=0
bind '#c' $ROOT/dev
mount -t proc proc $ROOT/proc
pivot $ROOT
exec /bin/sh -c 'x=$(head -c 100000000 /dev/zero | tr "\0" a); echo survived ${#x}'
