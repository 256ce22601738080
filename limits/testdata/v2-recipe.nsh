# limit on a pure cgroup v2 host: run by TestVMv2 (limits/vm_test.go) as
# the /etc/nsinit.nsh of a VM (Debian's cloud kernel, every controller on
# cgroup2), with busybox at /bin/busybox. v2-recipe.want lists the lines
# it must print, in order.
bb=/bin/busybox
echo "== plan"
limit -n memory=32M swap=0 cpu=20% pids=5 cpu.weight=200
echo "== oom"
limit memory=32M swap=0 -- $bb sh -c 'x=$($bb head -c 100000000 /dev/zero | $bb tr "\0" a); echo not killed'
echo "oom status=$?"
echo "== pids"
limit pids=5 -- $bb sh -c 'for i in 1 2 3 4 5; do $bb sleep 1 & echo started $i; done; wait' 2>/dev/null
echo "== nofile"
limit nofile=16 -- $bb sh -c 'ulimit -n'
echo "== freeze"
limit -g frz -- $bb sh -c 'i=0; while :; do i=$((i+1)); echo $i >/run/c.new; $bb mv /run/c.new /run/c; $bb usleep 10000; done' &
$bb sleep 0.5
limit -g frz freeze; a=$($bb cat /run/c); $bb sleep 0.3; b=$($bb cat /run/c)
limit -g frz thaw; $bb sleep 0.3; c=$($bb cat /run/c)
limit -g frz kill; wait
[[ $a == "$b" ]] && echo "freeze: stopped at $a"
(( c > b )) && echo "thaw: resumed"
echo "== cpu"
limit cpu=20% -- $bb sh -c 'i=0; end=$(( $($bb date +%s) + 2 )); while [ $($bb date +%s) -lt $end ]; do i=$((i+1)); done; $bb cat /sys/fs/cgroup/$($bb cut -d: -f3 /proc/self/cgroup)/cpu.stat' | $bb grep -E '^nr_throttled' | { read -r k n; (( n > 0 )) && echo "cpu: throttled"; }
echo "== shell"
limit memory=64M pids=100 cpu=50% cpu.weight=200
limit | $bb grep -E '^(memory|swap|pids|cpu|cpu.weight)='
limit $(limit); echo "round trip status=$?"
$bb cut -d: -f3 /proc/self/cgroup | $bb sed 's/[0-9][0-9]*/N/g'
limit memory=0; echo "memory=0 status=$?"
limit pids=5 cpus=99; echo "cpus=99 status=$?"
limit | $bb grep -E '^pids='
echo "== shell oom"
limit memory=32M swap=0
$bb sh -c 'x=$($bb head -c 100000000 /dev/zero | $bb tr "\0" a); echo not killed'
echo "shell oom status=$?"
echo "== shell pids"
limit memory=64M pids=10
for i in $($bb seq 20); do $bb sleep 1 & done; wait; echo "survived"
echo "== cleanup"
/bin/nsh -c 'limit memory=16M; true'
$bb find /sys/fs/cgroup -type d -name 'nsh-*' | $bb sed 's/[0-9][0-9]*/N/g' | $bb sort
echo "nsh cgroups: $($bb find /sys/fs/cgroup -type d -name 'nsh-*' | $bb wc -l)"
echo "== done"
