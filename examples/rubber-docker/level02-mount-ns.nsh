#!/usr/bin/env nsh
# Level 2: a mount namespace. After "unshare -m" the rest of the script
# runs with its own copy of the mount table, made private: the proc
# mounted in ROOT is not seen by the host, and it is gone when the script
# ends.
ROOT=${1:?usage: level02-mount-ns.nsh ROOT}
unshare -m
mount -t proc proc $ROOT/proc
chroot $ROOT
exec /bin/sh -c 'echo mounts: $(cut -d" " -f2 /proc/mounts | grep -c /)'
