package bind

import (
	"errors"
	"fmt"
	"path"

	"golang.org/x/sys/unix"
)

// Devices are the device names bind takes as SRC, after Plan 9's kernel
// devices, and what each mounts.
var Devices = map[string]string{
	"#p": "proc: a fresh procfs (of the pid namespace nsh is in)",
	"#s": "sysfs, read-only",
	"#c": "a minimal /dev: null zero full random urandom tty, fd stdin stdout stderr, pts, ptmx, shm, console",
	"#t": "an empty tmpfs",
	"#|": "mqueue, POSIX message queues",
	"#/": "the root this namespace was cloned from (after rfork N); '#/PATH' is a path in it",
}

// DevNodes are the device nodes '#c' binds from the host's /dev: binding
// (not mknod) works without privilege over devices, in a user namespace.
var DevNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// Dev is `bind '#x' DST`: a kernel filesystem, or the minimal /dev that
// '#c' names, mounted on DST.
type Dev struct {
	// Name is the device name: "#p", "#s", "#c", "#t" or "#|".
	Name string
	Dst  string
	// Console, for '#c', is the terminal to bind as DST/console (the
	// shell's standard input, when it is one); "" for none.
	Console string
}

func (d Dev) String() string { return line("bind", d.Name, d.Dst) }

// Plan returns the steps of the device. '#c' follows bubblewrap's --dev.
func (d Dev) Plan() (Plan, error) {
	const nosuid, nodev, noexec = unix.MS_NOSUID, unix.MS_NODEV, unix.MS_NOEXEC
	switch d.Name {
	case "#p":
		return Plan{Mount{Src: "proc", Dst: d.Dst, FSType: "proc", Flags: nosuid | nodev | noexec}}, nil
	case "#s":
		return Plan{Mount{Src: "sysfs", Dst: d.Dst, FSType: "sysfs", Flags: unix.MS_RDONLY | nosuid | nodev | noexec}}, nil
	case "#t":
		return Plan{Mount{Src: "tmpfs", Dst: d.Dst, FSType: "tmpfs", Flags: nosuid | nodev}}, nil
	case "#|":
		return Plan{Mount{Src: "mqueue", Dst: d.Dst, FSType: "mqueue", Flags: nosuid | nodev | noexec}}, nil
	case "#c":
		p := Plan{Mount{Src: "tmpfs", Dst: d.Dst, FSType: "tmpfs", Flags: nosuid | nodev, Data: "mode=755,size=1m"}}
		for _, n := range DevNodes {
			p = append(p, Bind{Src: "/dev/" + n, Dst: path.Join(d.Dst, n), Single: true})
		}
		for _, l := range [][2]string{
			{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
			{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		} {
			p = append(p, Symlink{Target: l[0], Link: path.Join(d.Dst, l[1])})
		}
		p = append(p,
			Mount{Src: "devpts", Dst: path.Join(d.Dst, "pts"), FSType: "devpts", Flags: nosuid | noexec,
				Data: "newinstance,ptmxmode=0666,mode=620"},
			Symlink{Target: "pts/ptmx", Link: path.Join(d.Dst, "ptmx")},
			Mount{Src: "tmpfs", Dst: path.Join(d.Dst, "shm"), FSType: "tmpfs", Flags: nosuid | nodev, Data: "mode=1777"},
		)
		if d.Console != "" {
			p = append(p, Bind{Src: d.Console, Dst: path.Join(d.Dst, "console"), Single: true})
		}
		return p, nil
	}
	return nil, &Error{Op: "bind", Src: d.Name, Dst: d.Dst, Err: fmt.Errorf("unknown device name (known: '#p' '#s' '#c' '#t' '#|' '#/')")}
}

// Apply mounts the device. Sysfs, which a user namespace may mount only
// with a network namespace of its own, falls back to a read-only bind of
// the host's /sys.
func (d Dev) Apply(s *Sys) error {
	if err := guard(s, "bind", d.Name, d.Dst); err != nil {
		return err
	}
	p, err := d.Plan()
	if err != nil {
		return err
	}
	err = p.Apply(s)
	if d.Name == "#s" && errors.Is(err, unix.EPERM) {
		return Bind{Src: "/sys", Dst: d.Dst, ReadOnly: true}.Apply(s)
	}
	return err
}
