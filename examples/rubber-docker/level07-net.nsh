#!/usr/bin/env nsh
# Level 7: a network namespace. The container sees only its own loopback
# interface, brought up by unshare -n; the host's interfaces are gone.
ROOT=${1:?usage: level07-net.nsh ROOT}
unshare -mpun --mount-proc
hostname rubber
bind '#c' $ROOT/dev
mount -t proc proc $ROOT/proc
pivot $ROOT
exec /bin/sh -c 'echo links: $(ip -o link | cut -d: -f2); ping -c1 -W1 127.0.0.1 >/dev/null && echo lo: up'
