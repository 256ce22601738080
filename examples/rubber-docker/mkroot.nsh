#!/usr/bin/env nsh
# mkroot.nsh DIR: a busybox root for the levels, from the host's static
# busybox (Debian: apt-get install busybox-static). Every applet is a link
# to /bin/busybox, so the root owes nothing to the host once it is /.
# (The tests build the same root with package internal/bbroot.)
ROOT=${1:?usage: mkroot.nsh DIR}
BB=/bin/busybox
mkdir -p $ROOT/bin $ROOT/sbin $ROOT/usr/bin $ROOT/usr/sbin $ROOT/dev $ROOT/proc $ROOT/sys $ROOT/tmp $ROOT/etc $ROOT/root
cp $BB $ROOT/bin/busybox
for applet in $($BB --list); do
	[ -e $ROOT/bin/$applet ] || ln -s /bin/busybox $ROOT/bin/$applet
done
echo 'root:x:0:0:root:/root:/bin/sh' >$ROOT/etc/passwd
echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >>$ROOT/etc/passwd
echo 'root:x:0:' >$ROOT/etc/group
echo 'nogroup:x:65534:' >>$ROOT/etc/group
