#!/usr/bin/env nsh
# The VM demo, run by nsinit as /etc/nsinit.nsh in the initramfs that
# `make initramfs` builds and `make vm` boots. Each step is one primitive.
set -e
echo "== nsh in a VM: $(< /proc/sys/kernel/osrelease), init is $(< /proc/1/comm)"

unshare -mu                         # the rest runs in new mount and UTS namespaces
hostname demo
echo "hostname: $(hostname)"

# A Plan 9 union on overlayfs (overlay.ko, loaded by nsinit from /etc/modules).
# /srv/base and /srv/rw come from examples/vm/root.
bind /srv/base /srv/union           # bind creates the mount point
bind -bc /srv/rw /srv/union         # a layer before the base; creates go to it
echo "written into the union" > /srv/union/new
echo "union: $(< /srv/union/hello); $(< /srv/union/new)"
[[ -e /srv/rw/new && ! -e /srv/base/new ]] && echo "the new file went to /srv/rw"

# Limits: cgroup v2 memory and pids limits and an rlimit, for the commands
# this shell starts from now on.
echo "limits:"
limit memory=64M pids=32 nofile=256
limit | while read -r l; do
	case $l in cgroup=* | memory=* | pids=* | nofile=*) echo "  $l" ;; esac
done
/bin/nsh -c 'echo "  a command runs in $(< /proc/self/cgroup), with nofile=$(ulimit -n)"'

echo "mounts:"
while read -r src dst type rest; do echo "  $dst $type"; done </proc/self/mounts
echo "== demo done"
