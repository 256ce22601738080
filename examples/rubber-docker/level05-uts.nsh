#!/usr/bin/env nsh
# Level 5: a UTS namespace. The container gets a host name of its own;
# the host keeps its name.
ROOT=${1:?usage: level05-uts.nsh ROOT}
unshare -mu
hostname rubber
bind '#c' $ROOT/dev
mount -t proc proc $ROOT/proc
pivot $ROOT
exec /bin/sh -c 'echo hostname: $(hostname)'
