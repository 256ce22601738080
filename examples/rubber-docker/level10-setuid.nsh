#!/usr/bin/env nsh
# Level 10: setuid. The container's program runs as an unprivileged user
# (nobody, 65534): it cannot write what root owns, even inside its root.
ROOT=${1:?usage: level10-setuid.nsh ROOT}
unshare -mpu --mount-proc
hostname rubber
bind '#c' $ROOT/dev
mount -t proc proc $ROOT/proc
pivot $ROOT
exec su -s /bin/sh nobody -c 'echo uid: $(id -u); touch /etc/x 2>/dev/null || echo write: denied'
