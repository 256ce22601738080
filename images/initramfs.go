package images

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// Paths inside the initramfs that nsinit reads (initd's VM mode).
const (
	InitPath    = "/init"
	NshPath     = "/bin/nsh"
	ScriptPath  = "/etc/nsinit.nsh"
	ModulesFile = "/etc/modules"
)

// Initramfs says what goes into an initramfs for nsinit.
type Initramfs struct {
	// Init is the host path of nsinit, installed as /init.
	Init string
	// Nsh is the host path of nsh, installed as /bin/nsh. "" leaves nsh
	// out (then the command must be given on the kernel command line).
	Nsh string
	// Script is the host path of an nsh script, installed as
	// /etc/nsinit.nsh: nsinit runs it with /bin/nsh when the kernel command
	// line has no nsinit.cmd.
	Script string
	// Cmd is a command line written as /etc/nsinit.nsh instead of Script:
	// the default command of the machine. nsinit has no other default
	// than that script.
	Cmd string
	// Modules are the kernel modules to ship and load at boot, with their
	// dependencies.
	Modules []string
	// KernelRelease is the release whose modules are shipped; "" means
	// [DefaultRelease].
	KernelRelease string
	// ModulesRoot is where the host keeps its modules; "" means
	// /lib/modules.
	ModulesRoot string
	// Programs are host programs copied at their own paths with the
	// shared libraries they need ([Plan.AddPrograms]); a name without a
	// slash is looked up in $PATH.
	Programs []string
	// Trees are host trees laid into the image, in order, after the rest.
	Trees []Tree
	// Files are more files, laid last (tests use them for a stand-in /init).
	Files []Entry
	// MTime is every file's modification time, in seconds since 1970.
	MTime int64
	// Uncompressed writes the cpio archive without gzip: a bigger file
	// that boots faster under TCG, where the kernel's gunzip is slow.
	Uncompressed bool
}

// Plan returns the entries of the initramfs, checking that the programs
// exist and are statically linked (the initramfs has no libraries).
func (ir *Initramfs) Plan() (*Plan, error) {
	p := &Plan{}
	for _, d := range []string{"bin", "dev", "etc", "proc", "run", "sys", "tmp", "root"} {
		p.AddDir(d, 0o755)
	}
	p.Add(Entry{Name: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777})
	p.Add(Entry{Name: "root", Mode: fs.ModeDir | 0o700})
	// The kernel opens /dev/console for init's stdio before anything is
	// mounted: without the node init has no stdin, stdout or stderr.
	p.AddCharDev("dev/console", 0o600, 5, 1)
	p.AddCharDev("dev/null", 0o666, 1, 3)
	if ir.Init != "" {
		if err := addProgram(p, ir.Init, InitPath); err != nil {
			return nil, err
		}
	}
	if ir.Nsh != "" {
		if err := addProgram(p, ir.Nsh, NshPath); err != nil {
			return nil, err
		}
	}
	switch {
	case ir.Script != "" && ir.Cmd != "":
		return nil, errors.New("a script and a command: give one")
	case ir.Script != "":
		b, err := os.ReadFile(ir.Script)
		if err != nil {
			return nil, err
		}
		p.AddFile(ScriptPath, b, 0o755)
	case ir.Cmd != "":
		p.AddFile(ScriptPath, []byte(ir.Cmd+"\n"), 0o755)
	}
	if len(ir.Modules) > 0 {
		root, rel := ir.ModulesRoot, ir.KernelRelease
		if root == "" {
			root = ModulesDir
		}
		if rel == "" {
			rel = DefaultRelease()
		}
		if err := p.AddModules(root, rel, ir.Modules); err != nil {
			return nil, err
		}
	}
	if len(ir.Programs) > 0 {
		if err := p.AddPrograms(ir.Programs, exec.LookPath); err != nil {
			return nil, err
		}
	}
	for _, t := range ir.Trees {
		if err := p.AddTree(t.Src, t.Dst); err != nil {
			return nil, fmt.Errorf("tree %s: %w", t, err)
		}
	}
	for _, e := range ir.Files {
		p.Add(e)
	}
	return p, nil
}

// Write writes the initramfs as a newc cpio archive, gzip-compressed unless
// Uncompressed is set. The same Initramfs over the same files always gives
// the same bytes.
func (ir *Initramfs) Write(w io.Writer) error {
	p, err := ir.Plan()
	if err != nil {
		return err
	}
	return p.WriteCPIO(w, !ir.Uncompressed, ir.MTime)
}

// WriteFile writes the initramfs to name, replacing it only once the whole
// archive is written.
func (ir *Initramfs) WriteFile(name string) error {
	p, err := ir.Plan()
	if err != nil {
		return err
	}
	return writeFileAtomic(name, func(w io.Writer) error { return p.WriteCPIO(w, !ir.Uncompressed, ir.MTime) })
}

// writeFileAtomic writes name through a temporary file in its directory.
func writeFileAtomic(name string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// SourceDateEpoch returns $SOURCE_DATE_EPOCH (reproducible-builds.org), or
// 0 when it is unset or not a number.
func SourceDateEpoch() int64 {
	n, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// addProgram adds the host program src at dst after checking that it can
// run without libraries.
func addProgram(p *Plan, src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if interp, err := elfInterp(src); err != nil {
		return err
	} else if interp != "" {
		return &StaticError{Path: src, Interp: interp}
	}
	p.Add(Entry{Name: dst, Mode: 0o755, Src: src, Size: st.Size()})
	return nil
}

// StaticError is a program for an initramfs that is dynamically linked.
type StaticError struct {
	Path   string
	Interp string // its ELF interpreter
}

// Error names the program and its interpreter.
func (e *StaticError) Error() string {
	return fmt.Sprintf("%s: dynamically linked (interpreter %s); an initramfs has no libraries", e.Path, e.Interp)
}

// Hint says how to build a static program.
func (e *StaticError) Hint() string {
	return "build it with CGO_ENABLED=0 (make build does), or add its libraries with image host"
}

// elfInterp returns the ELF interpreter of a program, "" for a static one
// or a file that is not ELF (a script).
func elfInterp(name string) (string, error) {
	f, err := elf.Open(name)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", nil // not ELF: a script, or too short
		}
		return "", err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return "", fmt.Errorf("%s: read PT_INTERP: %w", name, err)
			}
			return string(trimNUL(b)), nil
		}
	}
	return "", nil
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
