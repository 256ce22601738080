package initd

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

var errorsAs = errors.As

// mountStep is one mount of the essential file systems, printable as the
// nsh line that makes it.
type mountStep struct {
	Src, Dst, Type string
	Flags          uintptr
	Data           string
	// IfEmpty: mount only on an empty directory. A tmpfs over /run or /tmp
	// of an image would hide what the image keeps there (a runtime's
	// /run/secrets, say).
	IfEmpty bool
	// Optional steps are skipped when the kernel lacks the file system.
	Optional bool
}

// flagNames are the mount(8) words for the flags nsinit uses.
var flagNames = []struct {
	flag uintptr
	name string
}{
	{unix.MS_RDONLY, "ro"},
	{unix.MS_NOSUID, "nosuid"},
	{unix.MS_NODEV, "nodev"},
	{unix.MS_NOEXEC, "noexec"},
	{unix.MS_RELATIME, "relatime"},
}

// options returns the flags and data as a mount -o list.
func (m mountStep) options() string {
	var o []string
	for _, f := range flagNames {
		if m.Flags&f.flag != 0 {
			o = append(o, f.name)
		}
	}
	if m.Data != "" {
		o = append(o, m.Data)
	}
	return strings.Join(o, ",")
}

// String returns the nsh line that makes the mount.
func (m mountStep) String() string {
	s := "mount -t " + m.Type
	if o := m.options(); o != "" {
		s += " -o " + o
	}
	return s + " " + m.Src + " " + m.Dst
}

// essentialMounts is what nsinit mounts, in order, when it is PID 1 and the
// place is not a mount point yet. The options are those of systemd and
// u-root's libinit (proc, sysfs and cgroup2 noexec; devtmpfs exec-able for
// /dev/shm-less programs that mmap device nodes).
var essentialMounts = []mountStep{
	{Src: "proc", Dst: "/proc", Type: "proc", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{Src: "sysfs", Dst: "/sys", Type: "sysfs", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{Src: "devtmpfs", Dst: "/dev", Type: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
	{Src: "devpts", Dst: "/dev/pts", Type: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "gid=5,mode=0620,ptmxmode=0666", Optional: true},
	{Src: "shm", Dst: "/dev/shm", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777", IfEmpty: true},
	{Src: "run", Dst: "/run", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=0755", IfEmpty: true},
	{Src: "tmp", Dst: "/tmp", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777", IfEmpty: true},
	{Src: "cgroup2", Dst: "/sys/fs/cgroup", Type: "cgroup2", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "nsdelegate", Optional: true},
}

// devTmpfs replaces devtmpfs where the kernel refuses it (inside a user
// namespace, or a kernel without CONFIG_DEVTMPFS).
var devTmpfs = mountStep{Src: "dev", Dst: "/dev", Type: "tmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"}

// devNodes are the standard nodes made in a tmpfs /dev (the list of
// runc's and bubblewrap's minimal /dev).
var devNodes = []struct {
	name         string
	major, minor uint32
	mode         uint32
}{
	{"null", 1, 3, 0o666}, {"zero", 1, 5, 0o666}, {"full", 1, 7, 0o666},
	{"random", 1, 8, 0o666}, {"urandom", 1, 9, 0o666}, {"tty", 5, 0, 0o666},
	{"console", 5, 1, 0o600},
}

var devLinks = [][2]string{
	{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
}

// mountReport says what mountEssentials did, for -v.
type mountReport struct {
	Mounted []string // nsh lines of the mounts made
	Skipped []string // "DST: why"
	Warn    []string // failures that are not the usual container refusals
}

// mountEssentials mounts what is missing of essentialMounts. It never
// fails: a mount the kernel refuses is reported and skipped.
func mountEssentials(s *sysCalls) mountReport {
	var r mountReport
	// /proc first: it is needed to see what else is mounted.
	stale, hostNS := procState(s)
	if hostNS {
		r.Skipped = append(r.Skipped, "all: /proc is that of an enclosing pid namespace and this is the host's mount namespace; run nsinit in a new mount namespace (unshare -m) to get mounts")
		return r
	}
	mi, _ := readMountinfo(s.path(s.procRoot) + "/self/mountinfo")
	if stale {
		// The /proc we see was mounted for another pid namespace (unshare
		// -p without --mount-proc). This is our own mount namespace, but
		// it may still propagate to the one it was copied from: make it
		// private first, as unshare(1) does, so nothing reaches the host.
		if mi.sharedRoot() {
			err := s.mount("none", s.path("/"), "", unix.MS_REC|unix.MS_PRIVATE, "")
			if err != nil {
				r.Warn = append(r.Warn, fmt.Sprintf("mount --make-rprivate /: %v; not mounting", err))
				return r
			}
			r.Mounted = append(r.Mounted, "mount --make-rprivate /")
		}
		r.apply(s, essentialMounts[0], true)
		mi, _ = readMountinfo(s.path(s.procRoot) + "/self/mountinfo")
	}
	for _, m := range essentialMounts {
		if m.Dst == "/proc" && stale {
			continue
		}
		if mi.isMountPoint(s.path(m.Dst)) {
			continue
		}
		if m.Dst == "/proc" && isProc(s.path("/proc")) {
			continue // mounted, but no mountinfo to show it (a chroot)
		}
		if m.Type == "cgroup2" && !haveFS(s, "cgroup2") {
			r.Skipped = append(r.Skipped, m.Dst+": no cgroup2 in /proc/filesystems")
			continue
		}
		if m.IfEmpty && !isEmptyDir(s.path(m.Dst)) {
			r.Skipped = append(r.Skipped, m.Dst+": not empty")
			continue
		}
		if ok := r.apply(s, m, false); !ok && m.Dst == "/dev" {
			if r.apply(s, devTmpfs, false) {
				r.Warn = append(r.Warn, makeDevNodes(s)...)
			}
		}
		if m.Dst == "/proc" || m.Dst == "/dev" {
			mi, _ = readMountinfo(s.path(s.procRoot) + "/self/mountinfo")
		}
	}
	return r
}

// apply makes one mount, creating the mount point, and records how it
// went. over: mount even though something is mounted there.
func (r *mountReport) apply(s *sysCalls, m mountStep, over bool) bool {
	dst := s.path(m.Dst)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		r.Skipped = append(r.Skipped, fmt.Sprintf("%s: %v", m.Dst, err))
		return false
	}
	err := s.mount(m.Src, dst, m.Type, m.Flags, m.Data)
	if err == nil {
		r.Mounted = append(r.Mounted, m.String())
		return true
	}
	msg := fmt.Sprintf("%s: %s: %v", m.Dst, m.String(), err)
	switch errnoOf(err) {
	case unix.EPERM, unix.EACCES, unix.EBUSY, unix.EROFS, unix.ENODEV, unix.ENOENT:
		// What a container runtime or a user namespace refuses, and file
		// systems this kernel lacks.
		r.Skipped = append(r.Skipped, msg)
	default:
		if m.Optional {
			r.Skipped = append(r.Skipped, msg)
		} else {
			r.Warn = append(r.Warn, msg)
		}
	}
	return false
}

// makeDevNodes fills a tmpfs /dev with the standard nodes and links, and
// returns the failures.
func makeDevNodes(s *sysCalls) []string {
	var warn []string
	dev := s.path("/dev")
	for _, n := range devNodes {
		p := filepath.Join(dev, n.name)
		if err := s.mknod(p, unix.S_IFCHR|n.mode, int(unix.Mkdev(n.major, n.minor))); err != nil && !errors.Is(err, unix.EEXIST) {
			warn = append(warn, fmt.Sprintf("mknod %s: %v", p, err))
			continue
		}
		// mknod applies the umask; the modes must be exact.
		os.Chmod(p, os.FileMode(n.mode))
	}
	for _, l := range devLinks {
		p := filepath.Join(dev, l[1])
		if err := os.Symlink(l[0], p); err != nil && !errors.Is(err, os.ErrExist) {
			warn = append(warn, err.Error())
		}
	}
	for _, d := range []string{"pts", "shm"} {
		os.Mkdir(filepath.Join(dev, d), 0o755)
	}
	return warn
}

// procState looks at /proc: stale when it is a proc mounted for another
// pid namespace (our pid there is not ours here), hostNS when, besides, our
// mount namespace is that of the machine (nsinit was started by unshare -p
// without -m): mounting anything would change the mounts of the host.
func procState(s *sysCalls) (stale, hostNS bool) {
	proc := s.path(s.procRoot)
	self, err := os.Readlink(proc + "/self")
	if err != nil {
		return false, false // no /proc: a root of our own (initramfs, bare rootfs)
	}
	if self == strconv.Itoa(os.Getpid()) {
		return false, false
	}
	var mine, init unix.Stat_t
	if err := unix.Stat(proc+"/self/ns/mnt", &mine); err != nil {
		return true, true // cannot tell; be safe
	}
	if unix.Stat(proc+"/1/ns/mnt", &init) == nil {
		return true, mine.Ino == init.Ino && mine.Dev == init.Dev
	}
	// The init of the enclosing namespace may hide its namespaces from us
	// (no ptrace access). The machine's mount namespace has inode
	// 0xEFFFFFF8 since Linux 6.18 (PROC_MNT_INIT_INO), and before that
	// was the first namespace made at boot, 0xF0000000.
	return true, mine.Ino == 0xEFFFFFF8 || mine.Ino == 0xF0000000
}

// isProc reports whether path is the root of a proc file system.
func isProc(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.PROC_SUPER_MAGIC
}

// haveFS reports whether the kernel knows file system fstype.
func haveFS(s *sysCalls, fstype string) bool {
	b, err := os.ReadFile(s.path(s.procRoot) + "/filesystems")
	if err != nil {
		return true // cannot tell; let mount say
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == fstype {
			return true
		}
	}
	return false
}

func isEmptyDir(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return os.IsNotExist(err)
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

// mountEntry is one line of /proc/self/mountinfo (proc(5)).
type mountEntry struct {
	Root      string // the path in the file system mounted at Dst
	Dst       string
	SuperOpts string
	Type      string
	Source    string
	Optional  string // the optional fields: "shared:1 master:2"
}

type mountinfo []mountEntry

// readMountinfo parses a mountinfo file.
func readMountinfo(path string) (mountinfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mi mountinfo
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+3 {
			continue
		}
		e := mountEntry{
			Root:     unescapeOctal(fields[3]),
			Dst:      unescapeOctal(fields[4]),
			Optional: strings.Join(fields[6:sep], " "),
			Type:     fields[sep+1],
			Source:   unescapeOctal(fields[sep+2]),
		}
		if len(fields) > sep+3 {
			e.SuperOpts = fields[sep+3]
		}
		mi = append(mi, e)
	}
	return mi, sc.Err()
}

// unescapeOctal undoes the \040-style escapes of mountinfo.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (mi mountinfo) isMountPoint(path string) bool {
	path = filepath.Clean(path)
	for _, m := range mi {
		if m.Dst == path {
			return true
		}
	}
	return false
}

func (mi mountinfo) sharedRoot() bool {
	for _, m := range mi {
		if m.Dst == "/" && strings.Contains(m.Optional, "shared:") {
			return true
		}
	}
	return false
}
