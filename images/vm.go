package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// KernelGlob is where Debian's linux-image-cloud-amd64 installs its
// kernel: a small kernel with serial console and virtio that boots under
// TCG in about two seconds.
const KernelGlob = "/boot/vmlinuz-*cloud-amd64*"

// QEMU is the emulator VMs are booted with.
const QEMU = "qemu-system-x86_64"

// Console lines a boot is judged by.
const (
	PowerDownLine = "reboot: Power down"
	PanicLine     = "Kernel panic"
)

// statusLine is nsinit's report of its command's end in a VM (initd:
// "nsinit: CMD exited with status N"), or the busybox init's ("init: ...").
// It need not start a line: the firmware's last output may still be there
// ("Booting from ROM..\n.nsinit: ...").
var statusLine = regexp.MustCompile(`(?m)(?:^|[^a-z])((?:nsinit|init): (.*) exited with status (\d+))\r?$`)

// FindKernel returns the kernel to boot: $NSH_KERNEL if set, else the
// newest /boot/vmlinuz-*cloud-amd64*.
func FindKernel() (string, error) {
	if k := os.Getenv("NSH_KERNEL"); k != "" {
		if _, err := os.Stat(k); err != nil {
			return "", fmt.Errorf("kernel: $NSH_KERNEL: %w", err)
		}
		return k, nil
	}
	ks, _ := filepath.Glob(KernelGlob)
	if len(ks) == 0 {
		return "", fmt.Errorf("kernel: no %s (apt-get install linux-image-cloud-amd64)", KernelGlob)
	}
	slices.SortFunc(ks, compareVersions)
	return ks[len(ks)-1], nil
}

// compareVersions orders names with numbers by value, as `sort -V` does:
// vmlinuz-6.1.0-9 before vmlinuz-6.1.0-10.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, _ := strconv.Atoi(a[:da])
			nb, _ := strconv.Atoi(b[:db])
			if na != nb {
				return na - nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// KernelRelease returns the release of a kernel image from its file name
// (/boot/vmlinuz-6.1.0-27-cloud-amd64 is 6.1.0-27-cloud-amd64), the name of
// its directory in /lib/modules.
func KernelRelease(vmlinuz string) string {
	return strings.TrimPrefix(filepath.Base(vmlinuz), "vmlinuz-")
}

// DefaultRelease is the kernel release whose modules an initramfs gets by
// default: that of the kernel [Boot] would boot, when one is installed and
// has its modules, else the running kernel's.
func DefaultRelease() string {
	if k, err := FindKernel(); err == nil {
		r := KernelRelease(k)
		if _, err := os.Stat(filepath.Join(ModulesDir, r)); err == nil {
			return r
		}
	}
	return HostRelease()
}

// Available returns nil when a VM can be booted here, or why not: qemu or
// the kernel is missing.
func Available() error {
	if _, err := exec.LookPath(QEMU); err != nil {
		return fmt.Errorf("%s not found (apt-get install qemu-system-x86)", QEMU)
	}
	_, err := FindKernel()
	return err
}

// BootOptions say how to boot a VM.
type BootOptions struct {
	// Initramfs is the initramfs to boot (required).
	Initramfs string
	// Kernel is the kernel; "" means [FindKernel].
	Kernel string
	// Cmd, if set, is passed as nsinit.cmd="CMD" on the kernel command
	// line and replaces the initramfs's default command; nsinit splits it
	// into words with shell quoting ("/bin/nsh -c 'echo hi'").
	Cmd string
	// Append is more kernel command line ("nsinit.shutdown=reboot").
	Append string
	// Memory is the guest's memory in MiB; 0 means 512.
	Memory int
	// Timeout ends a boot that has not powered off; 0 means 2 minutes.
	Timeout time.Duration
	// Console, if set, gets a copy of the serial console as it comes.
	Console io.Writer
	// Stdin, if set, is typed on the serial console (a terminal is put in
	// raw mode by qemu; Ctrl-A x quits). What comes before the guest opens
	// its console is lost. Without it the guest reads nothing.
	Stdin io.Reader
}

// Result is how a boot went, read from its serial console.
type Result struct {
	// Log is the serial console, with \r\n turned into \n.
	Log string
	// Cmd and Status are from nsinit's last "nsinit: CMD exited with
	// status N" line; Status is -1 without one.
	Cmd    string
	Status int
	// PoweredOff is set when the kernel said "reboot: Power down".
	PoweredOff bool
	// Panicked is set when the kernel said "Kernel panic".
	Panicked bool
	// TimedOut is set when qemu was killed at the timeout.
	TimedOut bool
	// Elapsed is the time from starting qemu to its exit.
	Elapsed time.Duration
	// CPU is the processor time qemu used (user and system): under TCG
	// nearly all of it is the guest's, and it varies less than Elapsed
	// on a busy machine.
	CPU time.Duration
}

// Err returns nil for a clean boot (a status line, a power-off, no panic),
// else what went wrong. The guest command's status is not judged.
func (r *Result) Err() error {
	switch {
	case r.Panicked:
		return fmt.Errorf("vm: kernel panic:\n%s", tail(r.Log, 20))
	case r.TimedOut:
		return fmt.Errorf("vm: no power-off after %v:\n%s", r.Elapsed.Round(time.Millisecond), tail(r.Log, 20))
	case r.Status < 0:
		return fmt.Errorf("vm: no \"nsinit: ... exited with status N\" line:\n%s", tail(r.Log, 20))
	case !r.PoweredOff:
		return fmt.Errorf("vm: no %q line:\n%s", PowerDownLine, tail(r.Log, 20))
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// QEMUArgs returns qemu-system-x86_64's arguments for a boot: KVM when
// /dev/kvm can be opened (with TCG as the fallback), else TCG; one CPU (two are no faster under TCG);
// no network card (its option ROM costs half a second); the serial console
// on standard output; no reboot, so that a reboot or a panic ends qemu.
func QEMUArgs(kernel, initramfs, cmdline string, memory int) []string {
	accel := []string{"-accel", "tcg"}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		// qemu tries the accelerators in order: TCG if KVM fails to start.
		accel = []string{"-accel", "kvm", "-accel", "tcg"}
	}
	if memory == 0 {
		memory = 512
	}
	return append(accel,
		"-cpu", "max", "-smp", "1", "-m", strconv.Itoa(memory),
		"-nographic", "-no-reboot", "-nic", "none",
		"-kernel", kernel, "-initrd", initramfs, "-append", cmdline,
	)
}

// CmdParam returns the kernel command line parameter nsinit.cmd="CMD".
// The kernel takes a double-quoted value as one word, and nsinit splits
// it again with shell quoting, so CMD may hold single quotes but no double
// quote.
func CmdParam(cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\"\n") {
		return "", fmt.Errorf("nsinit.cmd: %q: the kernel command line cannot carry a double quote or newline; use single quotes", cmd)
	}
	return `nsinit.cmd="` + cmd + `"`, nil
}

// Boot boots the initramfs in qemu, waits for the machine to power off (or
// for the timeout, when qemu is killed), and reads the serial console. An
// error means qemu could not be run; how the guest did is in the Result
// (see [Result.Err]).
func Boot(ctx context.Context, o BootOptions) (*Result, error) {
	kernel := o.Kernel
	if kernel == "" {
		k, err := FindKernel()
		if err != nil {
			return nil, err
		}
		kernel = k
	}
	if _, err := os.Stat(o.Initramfs); err != nil {
		return nil, fmt.Errorf("vm: initramfs: %w", err)
	}
	cmdline := "console=ttyS0 quiet panic=-1"
	if o.Cmd != "" {
		p, err := CmdParam(o.Cmd)
		if err != nil {
			return nil, err
		}
		cmdline += " " + p
	}
	if o.Append != "" {
		cmdline += " " + o.Append
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// The firmware clears the screen and resets the terminal: escape
	// sequences are dropped from the log, and from the copy unless someone
	// types on the console (then the guest's line editor needs them).
	var log bytes.Buffer
	var out io.Writer = &escapeFilter{w: &log}
	switch {
	case o.Console != nil && o.Stdin != nil:
		out = io.MultiWriter(out, o.Console)
	case o.Console != nil:
		out = io.MultiWriter(out, &escapeFilter{w: o.Console})
	}
	// exec.CommandContext kills this qemu, and only it, by its pid.
	cmd := exec.CommandContext(ctx, QEMU, QEMUArgs(kernel, o.Initramfs, cmdline, o.Memory)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, out, out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := parseLog(log.String())
	r.Elapsed = time.Since(start)
	if ps := cmd.ProcessState; ps != nil {
		r.CPU = ps.UserTime() + ps.SystemTime()
	}
	if ctx.Err() != nil {
		r.TimedOut = true
		return r, nil
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return r, fmt.Errorf("vm: run %s: %w", QEMU, err)
	}
	if err != nil && !r.PoweredOff && !r.Panicked {
		return r, fmt.Errorf("vm: %s: %w:\n%s", QEMU, err, tail(r.Log, 10))
	}
	return r, nil
}

// parseLog reads a serial console log.
func parseLog(log string) *Result {
	log = strings.ReplaceAll(log, "\r\n", "\n")
	r := &Result{Log: log, Status: -1}
	if m := statusLine.FindAllStringSubmatch(log, -1); m != nil {
		last := m[len(m)-1]
		r.Cmd = last[2]
		r.Status, _ = strconv.Atoi(last[3])
	}
	r.PoweredOff = strings.Contains(log, PowerDownLine)
	r.Panicked = strings.Contains(log, PanicLine)
	return r
}

// Tools are the nsinit and nsh programs an initramfs is built from.
type Tools struct {
	Nsinit, Nsh string
}

// FindTools returns nsinit and nsh from dir (the directory of the running
// nsh, normally), checking that both exist.
func FindTools(dir string) (Tools, error) {
	t := Tools{Nsinit: filepath.Join(dir, "nsinit"), Nsh: filepath.Join(dir, "nsh")}
	for _, p := range []string{t.Nsinit, t.Nsh} {
		if _, err := os.Stat(p); err != nil {
			return t, fmt.Errorf("%w (build it with make build)", err)
		}
	}
	return t, nil
}

// BuildTools builds nsinit and nsh, static and stripped, into dir from the source of
// the module that holds the working directory (as in a test of any of its
// packages).
func BuildTools(ctx context.Context, dir string) (Tools, error) {
	root, err := moduleRoot()
	if err != nil {
		return Tools{}, err
	}
	// Stripped, as make build builds them: the initramfs is smaller and
	// boots faster.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", dir+"/", "./cmd/nsinit", "./cmd/nsh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Tools{}, fmt.Errorf("go build ./cmd/nsinit ./cmd/nsh in %s: %w\n%s", root, err, out)
	}
	return FindTools(dir)
}

// moduleRoot is the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

var (
	sharedTools     Tools
	sharedToolsErr  error
	sharedToolsOnce sync.Once
)

// RecipeOptions configure [RunRecipe].
type RecipeOptions struct {
	// Tools are nsinit and nsh; zero means built once per process by
	// [BuildTools] into a temporary directory.
	Tools Tools
	// Modules are kernel modules to load before the recipe ("overlay").
	Modules []string
	// Programs are host programs to add with their libraries, such as
	// "busybox" for the tools nsh lacks (`busybox sh -c ...`).
	Programs []string
	// Trees are host trees to add to the initramfs.
	Trees []Tree
	// Append is more kernel command line.
	Append string
	// Memory is the guest's memory in MiB; 0 means 512.
	Memory int
	// Timeout bounds the boot; 0 means 2 minutes.
	Timeout time.Duration
	// Console, if set, gets the serial console as it comes.
	Console io.Writer
}

// recipeMark is printed by the guest before the recipe runs, so that its
// output can be told from the firmware's and the kernel's.
const recipeMark = "==== nsh recipe ===="

// RunRecipe boots a VM whose /etc/nsinit.nsh is script, and returns what
// the script wrote to the console (standard output and standard error,
// \n line ends) and its exit status. err is set when the VM could not be
// built or booted, or did not end cleanly: no status line, no power-off,
// a kernel panic, or the timeout (the Result in a *BootError has the whole
// console log). A failing recipe is no error: its status says so.
func RunRecipe(ctx context.Context, script string, o *RecipeOptions) (output string, status int, err error) {
	if o == nil {
		o = &RecipeOptions{}
	}
	if err := Available(); err != nil {
		return "", -1, err
	}
	tools := o.Tools
	if tools == (Tools{}) {
		sharedToolsOnce.Do(func() {
			dir, err := os.MkdirTemp("", "nsh-vm-tools-")
			if err != nil {
				sharedToolsErr = err
				return
			}
			sharedTools, sharedToolsErr = BuildTools(context.Background(), dir)
		})
		if sharedToolsErr != nil {
			return "", -1, sharedToolsErr
		}
		tools = sharedTools
	}
	dir, err := os.MkdirTemp("", "nsh-vm-")
	if err != nil {
		return "", -1, err
	}
	defer os.RemoveAll(dir)
	ir := &Initramfs{
		Init:     tools.Nsinit,
		Nsh:      tools.Nsh,
		Cmd:      "echo '" + recipeMark + "'; " + script,
		Modules:  o.Modules,
		Programs: o.Programs,
		Trees:    o.Trees,
	}
	img := filepath.Join(dir, "initramfs.cpio.gz")
	if err := ir.WriteFile(img); err != nil {
		return "", -1, err
	}
	r, err := Boot(ctx, BootOptions{Initramfs: img, Append: o.Append, Memory: o.Memory, Timeout: o.Timeout, Console: o.Console})
	if err != nil {
		return "", -1, err
	}
	output = recipeOutput(r.Log)
	if err := r.Err(); err != nil {
		return output, r.Status, &BootError{Result: r, Err: err}
	}
	return output, r.Status, nil
}

// recipeOutput is the console between the recipe's mark and nsinit's
// status line.
func recipeOutput(log string) string {
	i := strings.Index(log, recipeMark+"\n")
	if i < 0 {
		return ""
	}
	out := log[i+len(recipeMark)+1:]
	if locs := statusLine.FindAllStringSubmatchIndex(out, -1); locs != nil {
		out = out[:locs[len(locs)-1][2]] // where the line's group starts
	}
	return out
}

// BootError is a boot that did not end cleanly, with its console log.
type BootError struct {
	Result *Result
	Err    error
}

// Error says how the boot went wrong, with the console's tail.
func (e *BootError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *BootError) Unwrap() error { return e.Err }

// escapeFilter drops terminal escape sequences (ESC c, ESC [ ... final) from
// what it passes on; a sequence may span writes. ESC c becomes a newline.
type escapeFilter struct {
	w     io.Writer
	state int // 0 text, 1 after ESC, 2 in a CSI sequence
}

// Write passes b on without its escape sequences.
func (f *escapeFilter) Write(b []byte) (int, error) {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch f.state {
		case 0:
			if c == 0x1b {
				f.state = 1
				continue
			}
			out = append(out, c)
		case 1:
			f.state = 0
			switch c {
			case '[':
				f.state = 2
			case 'c':
				// A terminal reset (the firmware's, before the kernel's
				// output) starts a new screen: a new line here, so that
				// what follows starts a line.
				out = append(out, '\n')
			}
		case 2:
			if c >= 0x40 && c <= 0x7e {
				f.state = 0
			}
		}
	}
	if _, err := f.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
