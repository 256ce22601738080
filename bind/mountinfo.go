package bind

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
)

// MountInfo is one line of /proc/PID/mountinfo (proc(5)).
type MountInfo struct {
	ID, Parent   int
	Major, Minor int
	// Root is the path, within its filesystem, of the directory mounted:
	// "/" for a whole filesystem, the source directory for a bind mount.
	Root string
	// Point is the mount point, relative to the process's root.
	Point string
	// Options are the per-mount options (rw, nosuid, relatime, ...).
	Options string
	// Optional are the optional fields: shared:N, master:N, ...
	Optional []string
	FSType   string
	Source   string
	// Super are the per-superblock options (size=, mode=, lowerdir=, ...).
	Super string
}

// ReadMountInfo reads /proc/PID/mountinfo; pid "self" is this process.
func ReadMountInfo(pid string) ([]MountInfo, error) {
	f, err := os.Open("/proc/" + pid + "/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseMountInfo(f)
}

// ParseMountInfo parses the mountinfo format.
func ParseMountInfo(r io.Reader) ([]MountInfo, error) {
	var list []MountInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		m, err := parseMountInfoLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		list = append(list, m)
	}
	return list, sc.Err()
}

func parseMountInfoLine(line string) (MountInfo, error) {
	var m MountInfo
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 7 || sep < 0 || len(f) < sep+3 {
		return m, fmt.Errorf("malformed: %q", line)
	}
	var err error
	if m.ID, err = strconv.Atoi(f[0]); err != nil {
		return m, fmt.Errorf("mount id: %w", err)
	}
	if m.Parent, err = strconv.Atoi(f[1]); err != nil {
		return m, fmt.Errorf("parent id: %w", err)
	}
	maj, min, ok := strings.Cut(f[2], ":")
	if !ok {
		return m, fmt.Errorf("malformed device %q", f[2])
	}
	if m.Major, err = strconv.Atoi(maj); err != nil {
		return m, fmt.Errorf("device: %w", err)
	}
	if m.Minor, err = strconv.Atoi(min); err != nil {
		return m, fmt.Errorf("device: %w", err)
	}
	m.Root = Unescape(f[3])
	m.Point = Unescape(f[4])
	m.Options = f[5]
	m.Optional = f[6:sep]
	m.FSType = f[sep+1]
	m.Source = Unescape(f[sep+2])
	if len(f) > sep+3 {
		m.Super = Unescape(f[sep+3])
	}
	return m, nil
}

// Unescape decodes the octal escapes (\040 for a space) the kernel writes
// in mountinfo fields.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			n, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// HasOption reports whether the comma-separated list opts holds word.
func HasOption(opts, word string) bool {
	for _, w := range strings.Split(opts, ",") {
		if w == word {
			return true
		}
	}
	return false
}

// Shared reports whether the mount has shared propagation.
func (m *MountInfo) Shared() bool {
	for _, o := range m.Optional {
		if strings.HasPrefix(o, "shared:") {
			return true
		}
	}
	return false
}

// Dev returns the mount's device as "MAJOR:MINOR".
func (m *MountInfo) Dev() string { return fmt.Sprintf("%d:%d", m.Major, m.Minor) }

// Top returns the mount that is visible at point, the one mounted there
// last (no other mount at point has it as parent), or nil.
func Top(list []MountInfo, point string) *MountInfo {
	point = path.Clean(point)
	covered := map[int]bool{}
	for _, m := range list {
		if m.Point == point && m.Parent != m.ID { // rootfs is its own parent
			covered[m.Parent] = true
		}
	}
	var top *MountInfo
	for i := range list {
		if list[i].Point == point && !covered[list[i].ID] {
			top = &list[i]
		}
	}
	return top
}

// Under reports whether p is dir or lies below it.
func Under(p, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}
