#!/usr/bin/env nsh
# Level 4: copy on write. The image stays read-only; a union puts an
# empty directory in memory before it and takes every write (bind -bc:
# overlayfs with the tmpfs directory as the upper layer). Whatever the
# container changes is gone when it ends, and ROOT is untouched.
ROOT=${1:?usage: level04-overlay.nsh ROOT}
unshare -m
bind '#t' /mnt
mkdir /mnt/changes
bind -bc /mnt/changes $ROOT
bind '#c' $ROOT/dev
mount -t proc proc $ROOT/proc
pivot $ROOT
exec /bin/sh -c 'echo written >/etc/motd; rm /bin/ls; echo motd: $(cat /etc/motd); ls /bin/ls 2>/dev/null || echo ls: removed'
