#!/usr/bin/env nsh
# Level 1: chroot. The shell's root directory becomes ROOT, so "/" means
# ROOT for it and every command it starts. The mounts of the host are all
# still there, and a process allowed to chroot can climb out: nsh warns.
ROOT=${1:?usage: level01-chroot.nsh ROOT}
chroot $ROOT
exec /bin/sh -c 'echo root: $(ls /)'
