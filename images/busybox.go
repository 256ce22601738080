package images

import (
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path"
	"strings"
)

// Busybox describes the comparison initramfs of the VM boot benchmark: its
// /init is a busybox shell script that makes the mounts nsinit makes, loads
// the same modules, runs a command and powers off, so that boot-to-power-off
// times of the two can be compared.
type Busybox struct {
	// Busybox is the host path of a static busybox; "" means busybox on
	// $PATH (Debian's busybox-static installs a static /bin/busybox).
	Busybox string
	// Cmd is a shell command run after the mounts, before power-off;
	// "" means true.
	Cmd string
	// Modules, KernelRelease and ModulesRoot are as in [Initramfs].
	Modules       []string
	KernelRelease string
	ModulesRoot   string
	// MTime is every file's modification time.
	MTime int64
	// Uncompressed writes the archive without gzip, as in [Initramfs].
	Uncompressed bool
}

// busyboxInit is the /init script. It does what nsinit does in a VM, in
// the same order, with busybox applets: mounts, modules, the command, a
// status line as nsinit's, sync, power-off. %s are the module loads and the
// command.
const busyboxInit = `#!/bin/busybox sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev shm /dev/shm
mount -t tmpfs -o nosuid,nodev,mode=0755 run /run
mount -t tmpfs -o nosuid,nodev tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
%s
%s
echo "init: command exited with status $?"
sync
poweroff -f
`

// Plan returns the entries of the busybox initramfs.
func (b *Busybox) Plan() (*Plan, error) {
	bb := b.Busybox
	if bb == "" {
		var err error
		if bb, err = exec.LookPath("busybox"); err != nil {
			return nil, fmt.Errorf("busybox: %w (apt-get install busybox-static)", err)
		}
	}
	ir := &Initramfs{Modules: b.Modules, KernelRelease: b.KernelRelease, ModulesRoot: b.ModulesRoot}
	p, err := ir.Plan() // the same directories, nodes and modules
	if err != nil {
		return nil, err
	}
	if err := addProgram(p, bb, "/bin/busybox"); err != nil {
		return nil, err
	}
	for _, a := range []string{"sh", "mount", "mkdir", "insmod", "echo", "sync", "poweroff", "true", "cat", "grep"} {
		p.Add(Entry{Name: "bin/" + a, Mode: fs.ModeSymlink | 0o777, Target: "busybox"})
	}
	var loads strings.Builder
	if len(b.Modules) > 0 {
		rel := b.KernelRelease
		if rel == "" {
			rel = DefaultRelease()
		}
		root := b.ModulesRoot
		if root == "" {
			root = ModulesDir
		}
		mods, err := ResolveModules(path.Join(root, rel), b.Modules)
		if err != nil {
			return nil, err
		}
		for _, m := range mods {
			fmt.Fprintf(&loads, "insmod %s\n", path.Join(ModulesDir, rel, shippedName(m.File)))
		}
	}
	cmd := b.Cmd
	if cmd == "" {
		cmd = "true"
	}
	p.AddFile(InitPath, fmt.Appendf(nil, busyboxInit, loads.String(), cmd), 0o755)
	return p, nil
}

// WriteFile writes the busybox initramfs to name (newc cpio, gzip unless
// Uncompressed).
func (b *Busybox) WriteFile(name string) error {
	p, err := b.Plan()
	if err != nil {
		return err
	}
	return writeFileAtomic(name, func(w io.Writer) error { return p.WriteCPIO(w, !b.Uncompressed, b.MTime) })
}
