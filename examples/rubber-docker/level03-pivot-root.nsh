#!/usr/bin/env nsh
# Level 3: pivot_root. Unlike chroot, pivot changes the root of the whole
# mount namespace and detaches the old one: no mount of the host remains,
# and ".." from / is /. ROOT is bound onto itself first, since
# pivot_root needs a mount point.
ROOT=${1:?usage: level03-pivot-root.nsh ROOT}
unshare -m
bind '#c' $ROOT/dev
mount -t proc proc $ROOT/proc
pivot $ROOT
exec /bin/sh -c 'echo root: $(ls /..); echo mounts: $(cut -d" " -f2 /proc/mounts)'
