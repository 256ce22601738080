#!/usr/bin/env nsh
# Level 0: fork and exec. A shell runs a program as a child process: the
# child gets a new PID, its parent is the shell, and the shell waits for
# its exit status. Nothing is isolated yet.
ROOT=${1:?usage: level00-fork-exec.nsh ROOT}
echo "shell: $$"
$ROOT/bin/busybox sh -c 'echo "child: $$, parent: $PPID"; exit 3'
echo "child exited with $?"
