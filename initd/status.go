package initd

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"

	"github.com/nsh-project/nsh/sig"
	"golang.org/x/sys/unix"
)

// Exit statuses with a meaning of their own, as in POSIX sh and bash.
const (
	// ExitCannotExecute is the status of a command that was found but could
	// not be executed (EACCES, ENOEXEC, a directory, ...).
	ExitCannotExecute = 126
	// ExitNotFound is the status of a command that does not exist.
	ExitNotFound = 127
	// ExitSignalBase is added to a signal number for a process killed by it.
	ExitSignalBase = 128
)

// Exit is how a process ended, as wait4(2) reported it.
type Exit struct {
	Pid    int
	Status unix.WaitStatus
	Rusage unix.Rusage
}

// Code returns ExitCode(e.Status).
func (e Exit) Code() int { return ExitCode(e.Status) }

// String says how the process ended: "exited with status 3", "killed by
// signal SIGKILL (9)", "killed by signal SIGSEGV (11), core dumped".
func (e Exit) String() string { return Describe(e.Status) }

// ExitCode returns the shell's status for a wait status: the exit status of
// a process that exited, 128+N for a process killed by signal N.
func ExitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return ExitSignalBase + int(ws.Signal())
	case ws.Stopped():
		return ExitSignalBase + int(ws.StopSignal())
	}
	return 1
}

// Describe says how a process ended, for messages.
func Describe(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exited with status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		s := fmt.Sprintf("killed by signal %s (%d)", sig.FullName(ws.Signal()), ws.Signal())
		if ws.CoreDump() {
			s += ", core dumped"
		}
		return s
	case ws.Stopped():
		return fmt.Sprintf("stopped by signal %s (%d)", sig.FullName(ws.StopSignal()), ws.StopSignal())
	}
	return fmt.Sprintf("ended with wait status %#x", uint32(ws))
}

// StartErrorCode returns the shell's status for a command that could not be
// started: 127 when it was not found (exec.ErrNotFound, ENOENT, ENOTDIR),
// 126 for any other failure to execute it (EACCES, ENOEXEC, EISDIR, ...).
func StartErrorCode(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return ExitNotFound
	}
	return ExitCannotExecute
}
