package builtins

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nsh-project/nsh/images"
)

var imageBuiltin = Builtin{
	Name: "image",
	Synopsis: `image initramfs -o OUT [--script FILE | --cmd CMD] [--module NAME]... [--kernel-release R] [--host PROG]... [--no-compress] [DIR|HOST:GUEST]...
image boot [-i] [--cmd CMD] [--append ARGS] [--timeout DURATION] [--kernel FILE] INITRAMFS
image host [-n] DIR PROG...
image unpack SRC DIR`,
	Summary: "build an initramfs and boot it in a VM",
	Help: `image initramfs writes OUT, a gzip-compressed newc cpio archive (with
--no-compress, a plain one) that
boots a Linux VM into nsinit: nsinit as /init, nsh as /bin/nsh (both taken
from the directory of the running nsh, or --nsinit and --nsh), the
/dev/console and /dev/null nodes, the script FILE (or the command line CMD)
as /etc/nsinit.nsh, which nsinit runs at boot, the kernel modules NAME
with the modules they depend on (read from /lib/modules/R/modules.dep;
listed in /etc/modules, which nsinit loads at boot), the host programs PROG
with their libraries (as image host copies them), and the host trees:
DIR goes to the same path in the image, HOST:GUEST puts HOST at GUEST.
The archive is reproducible: the same inputs give the same bytes (times
are $SOURCE_DATE_EPOCH or 0, owners root). It needs no privilege.

R is by default the release of the kernel "image boot" boots
(/boot/vmlinuz-*cloud-amd64*), else that of the running kernel.

image boot boots INITRAMFS in qemu-system-x86_64 with Debian's
linux-image-cloud-amd64 kernel (KVM when /dev/kvm is usable, else TCG),
copies the serial console to standard output, and exits with the status
of the guest's command, read from nsinit's "exited with status N" line.
It fails when the guest panics, does not power off in time, or prints no
status. --cmd replaces the initramfs's command (nsinit.cmd= on the kernel
command line, split with shell quoting). With -i, the terminal on standard
input is typed on the console (raw; Ctrl-A x quits qemu) and there is no
timeout unless one is given.

image host copies the host programs PROG (looked up in $PATH when the name
has no slash) into DIR at their own paths, with the shared libraries they
need and the dynamic linker, found from their ELF headers (PT_INTERP,
DT_NEEDED, DT_RUNPATH, /etc/ld.so.conf) as ld.so would: nothing is run.
DIR can then be a tree of "image initramfs" or the root of "pivot".

image unpack lays the file system of an image into DIR: SRC is a "docker
save" tarball, an OCI image layout (a directory or a tarball), or a plain
root file system tarball, gzip-compressed or not. Layers are applied in
order with their whiteouts (.wh.NAME, .wh..wh..opq). Every path is
resolved inside DIR: no layer can write outside it. As root, owners and
device nodes are kept; otherwise device nodes are left out, with a
warning.

Acts on files only; image boot starts qemu as a child.`,
	Flags: func(fs *FlagSet) {
		fs.Interspersed = true
		fs.String('o', "output", "OUT", "", "initramfs: the archive to write")
		fs.String(0, "script", "FILE", "", "initramfs: the nsh script to run at boot")
		fs.String(0, "cmd", "CMD", "", "the command to run at boot (initramfs: as /etc/nsinit.nsh; boot: as nsinit.cmd)")
		fs.List(0, "module", "NAME", "initramfs: a kernel module to load at boot; repeatable")
		fs.String(0, "kernel-release", "R", "", "initramfs: the kernel release whose modules to ship")
		fs.List(0, "host", "PROG", "initramfs: a host program to add with its libraries; repeatable")
		fs.String(0, "nsinit", "FILE", "", "initramfs: the nsinit to install as /init")
		fs.String(0, "nsh", "FILE", "", "initramfs: the nsh to install as /bin/nsh")
		fs.Bool(0, "no-compress", "initramfs: write the cpio archive without gzip (boots faster under TCG)")
		fs.Bool('n', "dry-run", "initramfs, host: list the files instead of writing them")
		fs.Bool('i', "interactive", "boot: type standard input on the guest's console")
		fs.String(0, "append", "ARGS", "", "boot: more kernel command line")
		fs.String(0, "timeout", "DURATION", "2m", "boot: power the VM off after DURATION")
		fs.String(0, "kernel", "FILE", "", "boot: the kernel to boot")
	},
	Run: runImage,
}

// imageOpts are the options each subcommand takes.
var imageOpts = map[string][]string{
	"initramfs": {"output", "script", "cmd", "module", "kernel-release", "host", "nsinit", "nsh", "no-compress", "dry-run"},
	"boot":      {"interactive", "cmd", "append", "timeout", "kernel"},
	"host":      {"dry-run"},
	"unpack":    {},
}

func runImage(c *Call) int {
	if len(c.Args) == 0 {
		return c.Usagef("no subcommand")
	}
	sub := c.Args[0]
	allowed, ok := imageOpts[sub]
	if !ok {
		return c.Usagef("unknown subcommand %q", sub)
	}
	for _, names := range imageOpts {
		for _, n := range names {
			if c.Opts.Changed(n) && !slices.Contains(allowed, n) {
				return c.Usagef("%s takes no --%s", sub, n)
			}
		}
	}
	args := c.Args[1:]
	switch sub {
	case "initramfs":
		return imageInitramfs(c, args)
	case "host":
		return imageHost(c, args)
	case "unpack":
		return imageUnpack(c, args)
	default:
		return imageBoot(c, args)
	}
}

// abs resolves a path against the shell's working directory, which the
// interpreter keeps apart from the process's.
func imagePath(c *Call, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

func imageInitramfs(c *Call, args []string) int {
	o := c.Opts
	out := o.GetString("output")
	if out == "" && !o.GetBool("dry-run") {
		return c.Usagef("initramfs: no -o OUT")
	}
	if o.Changed("script") && o.Changed("cmd") {
		return c.Usagef("initramfs: --script and --cmd both give the command; use one")
	}
	ir := &images.Initramfs{
		Init:          imagePath(c, o.GetString("nsinit")),
		Nsh:           imagePath(c, o.GetString("nsh")),
		Script:        imagePath(c, o.GetString("script")),
		Cmd:           o.GetString("cmd"),
		Modules:       o.GetList("module"),
		KernelRelease: o.GetString("kernel-release"),
		MTime:         images.SourceDateEpoch(),
		Uncompressed:  o.GetBool("no-compress"),
	}
	for _, prog := range o.GetList("host") {
		if strings.Contains(prog, "/") {
			prog = imagePath(c, prog)
		}
		ir.Programs = append(ir.Programs, prog)
	}
	for _, a := range args {
		t, err := images.ParseTree(a)
		if err != nil {
			return c.Usagef("initramfs: %v", err)
		}
		t.Src = imagePath(c, t.Src)
		ir.Trees = append(ir.Trees, t)
	}
	if ir.Init == "" || ir.Nsh == "" {
		exe, err := os.Executable()
		if err != nil {
			return c.Failf("initramfs: finding nsinit next to nsh: %v; give --nsinit and --nsh", err)
		}
		tools, err := images.FindTools(filepath.Dir(exe))
		if ir.Init == "" {
			ir.Init = tools.Nsinit
		}
		if ir.Nsh == "" {
			ir.Nsh = tools.Nsh
		}
		if err != nil {
			if _, e := os.Stat(ir.Init); e != nil {
				return c.Failf("initramfs: nsinit: %v; give --nsinit", err)
			}
		}
	}
	if o.GetBool("dry-run") {
		p, err := ir.Plan()
		if err != nil {
			return c.Fail(err)
		}
		for _, e := range p.Entries() {
			c.Printf("%s\n", e)
		}
		return 0
	}
	if err := ir.WriteFile(imagePath(c, out)); err != nil {
		return c.Fail(err)
	}
	return 0
}

func imageBoot(c *Call, args []string) int {
	if len(args) != 1 {
		return c.Usagef("boot: want one INITRAMFS")
	}
	timeout, err := time.ParseDuration(c.Opts.GetString("timeout"))
	if err != nil || timeout <= 0 {
		return c.Usagef("boot: --timeout %q: want a duration such as 90s", c.Opts.GetString("timeout"))
	}
	var stdin io.Reader
	if c.Opts.GetBool("interactive") {
		stdin = c.Stdin
		if !c.Opts.Changed("timeout") {
			timeout = 100 * 365 * 24 * time.Hour
		}
	}
	r, err := images.Boot(c.Ctx, images.BootOptions{
		Stdin:     stdin,
		Initramfs: imagePath(c, args[0]),
		Kernel:    imagePath(c, c.Opts.GetString("kernel")),
		Cmd:       c.Opts.GetString("cmd"),
		Append:    c.Opts.GetString("append"),
		Timeout:   timeout,
		Console:   c.Stdout,
	})
	if err != nil {
		return c.Fail(err)
	}
	if r.TimedOut {
		return c.Failf("boot: no power-off after %v", timeout)
	}
	if r.Panicked {
		return c.Failf("boot: the kernel panicked")
	}
	if r.Status < 0 {
		return c.Failf("boot: nsinit printed no exit status")
	}
	if !r.PoweredOff {
		return c.Failf("boot: the guest did not power off")
	}
	return r.Status
}

func imageHost(c *Call, args []string) int {
	if len(args) < 2 {
		return c.Usagef("host: want DIR and at least one PROG")
	}
	path := c.Env.Get("PATH").String()
	lookPath := func(name string) (string, error) {
		for _, d := range filepath.SplitList(path) {
			p := filepath.Join(imagePath(c, d), name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
		return "", fmt.Errorf("%s: not found in $PATH", name)
	}
	progs := make([]string, len(args)-1)
	for i, a := range args[1:] {
		progs[i] = a
		if strings.Contains(a, "/") {
			progs[i] = imagePath(c, a)
		}
	}
	p := &images.Plan{}
	if err := p.AddPrograms(progs, lookPath); err != nil {
		return c.Fail(err)
	}
	if c.Opts.GetBool("dry-run") {
		for _, e := range p.Entries() {
			c.Printf("%s\n", e)
		}
		return 0
	}
	if _, err := p.WriteDir(imagePath(c, args[0])); err != nil {
		return c.Fail(err)
	}
	return 0
}

func imageUnpack(c *Call, args []string) int {
	if len(args) != 2 {
		return c.Usagef("unpack: want SRC and DIR")
	}
	res, err := images.Unpack(imagePath(c, args[0]), imagePath(c, args[1]))
	if err != nil {
		return c.Fail(err)
	}
	if n := len(res.Skipped); n > 0 {
		c.Errorf("unpack: left out %d device nodes (mknod needs root), such as %s", n, res.Skipped[0])
	}
	return 0
}
