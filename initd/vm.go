package initd

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/shlex"
	"golang.org/x/sys/unix"
)

// Kernel command line parameters nsinit reads in a VM. Parameters with a dot
// are not passed to init by the kernel; nsinit reads /proc/cmdline.
const (
	ParamCmd      = "nsinit.cmd"      // the command, split with shell quoting
	ParamScript   = "nsinit.script"   // an nsh script to run instead of /etc/nsinit.nsh
	ParamShutdown = "nsinit.shutdown" // poweroff (default), reboot or halt
)

// Where a VM's nsinit looks for its command and modules.
const (
	NshPath     = "/bin/nsh"
	ScriptPath  = "/etc/nsinit.nsh"
	ModulesFile = "/etc/modules"
	ModulesDir  = "/lib/modules"
)

var rebootCmds = map[string]int{
	"poweroff": unix.LINUX_REBOOT_CMD_POWER_OFF,
	"reboot":   unix.LINUX_REBOOT_CMD_RESTART,
	"halt":     unix.LINUX_REBOOT_CMD_HALT,
}

// vmSetup is what a machine's init does before the command: Ctrl-Alt-Del
// becomes SIGINT, kernel modules are loaded, and the command comes from
// the kernel command line when argv has none.
func (n *nsinit) vmSetup() {
	// With CAD off, the kernel sends SIGINT to init instead of rebooting
	// at once (reboot(2)).
	if err := n.sys.reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		n.logf(lvDebug, "reboot(CAD_OFF): %v", err)
	}
	// The kernel opened fds 0-2 on the initramfs's /dev/console, which the
	// devtmpfs mounted since hides: reopen them on the /dev/console in
	// sight, as busybox init does, so that ttyname(3) finds the terminal.
	if n.sys.root == "" {
		reopenConsole()
	}
	params, err := readCmdline(n.sys.cmdline)
	if err != nil {
		n.logf(lvWarn, "%v", err)
	}
	n.shutdown = "poweroff"
	if v, ok := params[ParamShutdown]; ok {
		if _, ok := rebootCmds[v]; ok {
			n.shutdown = v
		} else {
			n.logf(lvWarn, "%s=%q: want poweroff, reboot or halt; using poweroff", ParamShutdown, v)
		}
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	for _, m := range loadModules(n.sys, unix.ByteSliceToString(uts.Release[:])) {
		if m.err != nil {
			n.logf(lvWarn, "module %s: %v", m.name, m.err)
		} else {
			n.logf(lvInfo, "loaded module %s", m.name)
		}
	}
	if len(n.cfg.Argv) == 0 {
		argv, err := defaultCommand(n.sys, params)
		if err != nil {
			n.logf(lvWarn, "%v", err)
		}
		n.cfg.Argv = argv
	}
}

// reopenConsole points fds 0, 1 and 2 at /dev/console when they are a
// terminal already (nsinit does not take over stdio it was not given).
func reopenConsole() {
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err != nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	for i := range 3 {
		unix.Dup3(fd, i, 0)
	}
	unix.Close(fd)
}

// readCmdline reads the kernel command line as key=value words, split by
// the shell's quoting rules as the kernel does (nsinit.cmd="echo hi" is
// one word). A word without "=" has the value "".
func readCmdline(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCmdline(string(b))
}

func parseCmdline(line string) (map[string]string, error) {
	words, err := shlex.Split(line)
	if err != nil {
		return nil, fmt.Errorf("kernel command line: %w", err)
	}
	m := make(map[string]string, len(words))
	for _, w := range words {
		if w == "--" {
			break // what follows is init's argv
		}
		k, v, _ := strings.Cut(w, "=")
		m[k] = v
	}
	return m, nil
}

// defaultCommand is a VM's command: nsinit.cmd, else nsinit.script or
// /etc/nsinit.nsh run by /bin/nsh, else /bin/nsh on the console.
func defaultCommand(s *sysCalls, params map[string]string) ([]string, error) {
	var err error
	if c, ok := params[ParamCmd]; ok {
		argv, e := shlex.Split(c)
		if e == nil && len(argv) > 0 {
			return argv, nil
		}
		err = fmt.Errorf("%s=%q: no command", ParamCmd, c)
		if e != nil {
			err = fmt.Errorf("%s=%q: %w", ParamCmd, c, e)
		}
	}
	if p := params[ParamScript]; p != "" {
		return []string{NshPath, p}, err
	}
	if _, e := os.Stat(s.cfgRoot + ScriptPath); e == nil {
		return []string{NshPath, ScriptPath}, err
	}
	return []string{NshPath}, err
}

// moduleResult is how loading one module went.
type moduleResult struct {
	name string
	err  error
}

// loadModules loads the modules named in /etc/modules (one a line, with
// optional parameters, # comments), each after its dependencies, as
// modprobe does: modules.dep of /lib/modules/RELEASE gives the files and
// the dependencies, and finit_module(2) loads them (compressed ones are
// decompressed by the kernel, Linux 6.2+). A module already loaded is fine.
func loadModules(s *sysCalls, release string) []moduleResult {
	wanted, err := readModulesFile(s.cfgRoot + ModulesFile)
	if err != nil || len(wanted) == 0 {
		return nil
	}
	dir := filepath.Join(s.cfgRoot+ModulesDir, release)
	if _, err := os.Stat(dir); err != nil {
		return []moduleResult{{name: strings.Join(moduleNames(wanted), " "), err: err}}
	}
	dep, err := readModulesDep(dir)
	if err != nil {
		return []moduleResult{{name: "modules.dep", err: err}}
	}
	var res []moduleResult
	done := map[string]bool{}
	var load func(name, params string, depth int) error
	load = func(name, params string, depth int) error {
		name = modName(name)
		if done[name] {
			return nil
		}
		done[name] = true
		m, ok := dep[name]
		if !ok {
			return fmt.Errorf("no such module in %s", dir)
		}
		if depth > 32 {
			return errors.New("dependency loop")
		}
		for _, d := range slices.Backward(m.deps) {
			if err := load(d, "", depth+1); err != nil {
				res = append(res, moduleResult{modName(d), err})
			}
		}
		path := filepath.Join(dir, m.file)
		if err := finitModule(s, path, params); err != nil {
			return err
		}
		res = append(res, moduleResult{name: name})
		return nil
	}
	for _, w := range wanted {
		if err := load(w[0], w[1], 0); err != nil {
			res = append(res, moduleResult{modName(w[0]), err})
		}
	}
	return res
}

func moduleNames(wanted [][2]string) []string {
	var l []string
	for _, w := range wanted {
		l = append(l, w[0])
	}
	return l
}

func finitModule(s *sysCalls, path, params string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return pathError("open", path, err)
	}
	defer unix.Close(fd)
	flags := 0
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		if strings.HasSuffix(path, ext) {
			flags |= unix.MODULE_INIT_COMPRESSED_FILE
		}
	}
	err = s.finitModule(fd, params, flags)
	if err == unix.EEXIST {
		return nil
	}
	return pathError("finit_module", path, err)
}

// modName is the kernel's name for a module: the file name without .ko
// and compression suffix, with - as _.
func modName(s string) string {
	s = filepath.Base(s)
	if i := strings.Index(s, ".ko"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// readModulesFile reads /etc/modules: "NAME [PARAMS...]" lines.
func readModulesFile(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var l [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		name, params, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name != "" {
			l = append(l, [2]string{name, strings.TrimSpace(params)})
		}
	}
	return l, sc.Err()
}

type modDep struct {
	file string   // relative to the release directory
	deps []string // files, in modules.dep order
}

// readModulesDep parses DIR/modules.dep ("kernel/fs/x.ko: kernel/y.ko ...").
// Without one, it indexes the .ko files found under DIR.
func readModulesDep(dir string) (map[string]modDep, error) {
	m := map[string]modDep{}
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if errors.Is(err, fs.ErrNotExist) {
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".ko") {
				r, _ := filepath.Rel(dir, p)
				m[modName(r)] = modDep{file: r}
			}
			return nil
		})
		return m, err
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		file, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		m[modName(file)] = modDep{file: file, deps: strings.Fields(deps)}
	}
	return m, sc.Err()
}

// powerOff ends a VM: sync, unmount everything in reverse order of
// mounting, sync, and reboot(2) as nsinit.shutdown says. It never returns:
// init returning panics the kernel.
func (n *nsinit) powerOff() {
	n.sys.sync()
	for _, m := range unmountAll(n.sys) {
		n.logf(lvDebug, "%s", m)
	}
	n.sys.sync()
	how := n.shutdown
	if how == "" {
		how = "poweroff"
	}
	n.logf(lvInfo, "%s", how)
	err := n.sys.reboot(rebootCmds[how])
	n.logf(lvError, "reboot(%s): %v", how, err)
	for {
		time.Sleep(time.Hour)
	}
}

// unmountAll unmounts every mount but / in reverse order of mountinfo
// (children before parents). A busy file system is remounted read-only,
// then detached. It returns what it did.
func unmountAll(s *sysCalls) []string {
	mi, err := readMountinfo(s.procRoot + "/self/mountinfo")
	if err != nil {
		return []string{err.Error()}
	}
	var did []string
	for _, m := range slices.Backward(mi) {
		if m.Dst == "/" {
			continue
		}
		err := s.unmount(m.Dst, 0)
		if err == nil {
			did = append(did, "umount "+m.Dst)
			continue
		}
		if err == unix.EINVAL || err == unix.ENOENT {
			continue // gone with a parent
		}
		s.mount("", m.Dst, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
		if err2 := s.unmount(m.Dst, unix.MNT_DETACH); err2 != nil {
			did = append(did, fmt.Sprintf("umount %s: %v; umount -l: %v", m.Dst, err, err2))
		} else {
			did = append(did, fmt.Sprintf("umount -l %s (%v)", m.Dst, err))
		}
	}
	return did
}
