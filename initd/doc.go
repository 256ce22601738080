// Package initd is nsinit, the PID 1 of nsh: it mounts what a process tree
// needs (/proc, /sys, /dev, ...), starts one command, reaps every process
// that ends, forwards signals, and exits with the command's status. As the
// /init of a virtual machine it also loads kernel modules and powers off.
//
// Main is the whole program (cmd/nsinit calls it). Reaper is the one place
// where a process waits for its children; nsh uses it when it is PID 1 of a
// pid namespace. ExitCode, Describe and StartErrorCode map statuses as the
// shell does.
package initd
