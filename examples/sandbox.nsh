#!/usr/bin/env nsh
# The default environment of `make run`: a sandbox built from the host's
# own /usr, with nothing to download and nothing left behind.
#
#   make run                                   # an interactive nsh inside
#   make run CMD='cat /proc/1/cmdline; hostname; ls /'
#   nsh examples/sandbox.nsh -c 'CMD'          # the same without make
#
# Read it top to bottom: one primitive per line.

# The nsh binary running this script, to start again inside the sandbox.
NSH=$(readlink /proc/$$/exe)

# New mount, pid, ipc, uts and net namespaces: the rest of the script runs
# in them, as PID 1 of the new pid namespace, with / made rprivate so that
# nothing mounted below reaches the host.
unshare -mpiun --mount-proc
hostname sandbox

# The root: an empty tmpfs mounted over /mnt (or /tmp when nsh itself
# lives below /mnt), in this namespace only: the host's /mnt is untouched.
R=/mnt
case $NSH in /mnt/*) R=/tmp ;; esac
bind '#t' $R

# The host's programs and libraries, read-only. On a merged-/usr host,
# /bin /lib /sbin are links into /usr: make the same links.
bind -r /usr $R/usr
for d in bin sbin lib lib32 lib64 libx32; do
	if [ -L /$d ]; then
		ln -s "$(readlink /$d)" $R/$d
	elif [ -d /$d ]; then
		bind -r /$d $R/$d
	fi
done

# A minimal /etc: only what programs need to run, read-only.
bind '#t' $R/etc
for f in passwd group nsswitch.conf ld.so.cache ld.so.conf localtime hosts resolv.conf; do
	bind -r --try /etc/$f $R/etc/$f
done

# Kernel filesystems: a minimal /dev, a fresh /proc of the new pid
# namespace, sysfs of the new network namespace, and scratch space.
bind '#c' $R/dev
bind '#p' $R/proc
bind '#s' $R/sys
bind '#t' $R/tmp
bind '#t' $R/run
bind -r $NSH $R/run/nsh

# The root becomes /; the old one is detached. The root tmpfs itself is
# then made read-only: only /tmp and /run take writes.
pivot $R
mount -o remount,ro /
export HOME=/tmp PS1='sandbox# ' PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

case $1 in
-c) /run/nsh -c "$2" ;;
*) /run/nsh ;;
esac
