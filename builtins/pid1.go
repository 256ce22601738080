package builtins

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/nsh-project/nsh/initd"
)

// pid1Reaper is set in a copy that is PID 1 of a new pid namespace
// (`unshare -p`): it reaps every process that ends there, orphans
// included, as nsinit does. Nothing else in such a process may wait for
// children, so commands are started and waited for through it.
var pid1Reaper *initd.Reaper

// BecomeInit makes a shell that is PID 1 of its pid namespace behave as
// one: every process that ends there, orphans included, is reaped by the
// reaper nsinit uses, and SIGTERM and SIGHUP end the shell with 128+N (an
// interactive shell handles TERM itself and ends on HUP only) instead of
// the Go runtime's exit status 2; SIGINT and SIGQUIT are handled by cmd/nsh
// as in every shell (Shell.Interrupt). It does
// nothing in a process that is not PID 1. Copies made by `unshare -p` call
// it; cmd/nsh may call it for an nsh started as PID 1 (a container's
// entrypoint).
func BecomeInit(interactive bool) {
	if os.Getpid() != 1 || pid1Reaper != nil {
		return
	}
	pid1Reaper = initd.NewReaper()
	catchInitSignals(interactive)
}

// reapedProc is a copyProc started through pid1Reaper.
type reapedProc struct{ p *initd.Proc }

func (r reapedProc) Signal(s unix.Signal) error { return r.p.Signal(s) }
func (r reapedProc) Wait() (unix.WaitStatus, error) {
	e, err := r.p.Wait()
	return e.Status, err
}
