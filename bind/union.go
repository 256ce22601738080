package bind

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// UnionSource is the source name nsh gives the overlayfs mounts of its
// unions, so that `mount` lists them as "union on DST type overlay".
const UnionSource = "union"

// Union is `bind -b|-a [-c] SRC DST`: a Plan 9 union directory made with
// overlayfs. DST then shows SRC before (-b) or after (-a) what it showed;
// binding more members onto the same DST extends the union. The members
// are read back from the mount table each time (the overlay's lowerdir and
// upperdir), never from the shell's memory, so a union survives `unshare`
// and `ns` prints it.
//
// With Create (-c), writes and new files go to SRC, which becomes the
// overlay's upper layer. overlayfs differs from Plan 9 there: the upper
// layer is always looked up first, and there is only one, so `bind -ac`
// puts SRC on top when the union has no create member yet, and is a plain
// `-a` when it has one (as in Plan 9, creates go to the first create
// member).
type Union struct {
	Src, Dst string
	// Before puts SRC first (-b); otherwise it goes last (-a).
	Before bool
	// Create makes SRC the member that takes writes and creates (-c).
	Create bool
}

func (u Union) String() string {
	flag := "-a"
	if u.Before {
		flag = "-b"
	}
	if u.Create {
		flag += "c"
	}
	return line("bind", flag, u.Src, u.Dst)
}

// Members is what a union directory shows, first to last.
type Members struct {
	// Dst is the union's mount point.
	Dst string
	// Upper is the member that takes creates, "" for none. It is looked up
	// before Lower.
	Upper string
	// Work is overlayfs's work directory for Upper.
	Work string
	// Lower are the read-only members, first to last. Dst itself is one
	// of them: the directory the union was made on.
	Lower []string
}

// List returns the members in lookup order.
func (m Members) List() []string {
	if m.Upper == "" {
		return m.Lower
	}
	return append([]string{m.Upper}, m.Lower...)
}

// ReadUnion returns the members of the union at dst from the mount
// table: the layers of the overlayfs mount on top at dst. When no overlay
// is mounted there, dst is its own only member and ok is false.
func ReadUnion(list []MountInfo, dst string) (m Members, ok bool) {
	dst = path.Clean(dst)
	m = Members{Dst: dst, Lower: []string{dst}}
	top := Top(list, dst)
	if top == nil || top.FSType != "overlay" {
		return m, false
	}
	m.Lower = nil
	for _, o := range SplitOptions(top.Super) {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			for _, l := range splitLayers(v) {
				if l != "" {
					m.Lower = append(m.Lower, l)
				}
			}
		case "upperdir":
			m.Upper = unescapeLayer(v)
		case "workdir":
			m.Work = unescapeLayer(v)
		}
	}
	return m, true
}

// IsUnion reports whether the members include the directory the union was
// made on, as every union that bind -a/-b made does.
func (m Members) IsUnion() bool {
	for _, l := range m.Lower {
		if l == m.Dst {
			return true
		}
	}
	return false
}

// splitLayers splits overlayfs's lowerdir at colons no backslash escapes.
func splitLayers(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case s[i] == ':':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, b.String())
}

func unescapeLayer(s string) string { return strings.Join(splitLayers(s), ":") }

// escapeLayer escapes what overlayfs's option parser splits at.
func escapeLayer(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)
	return r.Replace(s)
}

// Data returns the overlayfs mount options for the members.
func (m Members) Data() string {
	var low []string
	for _, l := range m.Lower {
		low = append(low, escapeLayer(l))
	}
	d := "lowerdir=" + strings.Join(low, ":")
	if m.Upper != "" {
		d += ",upperdir=" + escapeLayer(m.Upper) + ",workdir=" + escapeLayer(m.Work)
	}
	return d
}

// WorkDir is the work directory overlayfs needs for an upper layer: it
// must be an empty directory on the same mount as upper, outside it, so
// it is a hidden sibling, ".NAME.nsh-work".
func WorkDir(upper string) string {
	return path.Join(path.Dir(upper), "."+path.Base(upper)+".nsh-work")
}

// Apply adds SRC to the union at DST.
func (u Union) Apply(s *Sys) error {
	if err := guard(s, "union", u.Src, u.Dst); err != nil {
		return err
	}
	src := path.Clean(u.Src)
	// The union is named by where DST really is (a link in a root being
	// built leads elsewhere in it): that is its mount point in the table
	// and the member that stands for DST's own directory.
	dst, err := realPath(s, u.Dst, Dir)
	if err != nil {
		return err
	}
	list, err := s.MountInfo()
	if err != nil {
		return &Error{Op: "union", Src: u.Src, Dst: u.Dst, Err: err}
	}
	old, mounted := ReadUnion(list, dst)
	if mounted && !old.IsUnion() {
		return &Error{Op: "union", Src: u.Src, Dst: u.Dst, Err: errors.New("an overlay that is not a union is mounted there"),
			Why: "unmount it first, or bind onto another directory"}
	}
	kind, err := s.Stat(src)
	if err != nil {
		return &Error{Op: "union", Src: u.Src, Dst: u.Dst, Err: unwrapPath(err)}
	}
	if kind != Dir {
		return &Error{Op: "union", Src: u.Src, Dst: u.Dst, Err: unix.ENOTDIR, Why: "a union joins directories; bind a file without -a or -b"}
	}
	for _, m := range old.List() {
		if m == src {
			return &Error{Op: "union", Src: u.Src, Dst: u.Dst, Err: errors.New("already a member"),
				Why: fmt.Sprintf("remove it first: unmount %s %s", Quote(u.Src), Quote(u.Dst))}
		}
	}
	next := Members{Dst: dst, Upper: old.Upper, Work: old.Work}
	lower := old.Lower
	switch {
	case u.Create && (u.Before || old.Upper == ""):
		if old.Upper != "" {
			lower = append([]string{old.Upper}, lower...)
		}
		next.Upper, next.Work = src, WorkDir(src)
		if err := canBeUpper(s, list, u, src); err != nil {
			return err
		}
	case u.Before:
		lower = append([]string{src}, lower...)
	default:
		lower = append(append([]string{}, lower...), src)
	}
	next.Lower = lower
	if next.Upper != "" {
		if err := s.Mkdir(next.Work); err != nil {
			return &Error{Op: "union", Src: u.Src, Dst: u.Dst, Err: fmt.Errorf("mkdir %s: %w", next.Work, err)}
		}
	}
	return mountUnion(s, next, mounted)
}

// canBeUpper explains what overlayfs would only log to the kernel's ring
// buffer: an upper layer needs a work directory beside it on its mount.
func canBeUpper(s *Sys, list []MountInfo, u Union, src string) error {
	for _, m := range list {
		if m.Point == src {
			return &Error{Op: "union", Src: u.Src, Dst: u.Dst, Err: errors.New("cannot take creates: it is a mount point"),
				Why: "overlayfs keeps a work directory beside the member that takes creates, on the same mount, " +
					"and a mount point has no such place: bind -c a directory below it instead"}
		}
	}
	if m := mountOf(list, src); m != nil {
		switch {
		case m.FSType == "overlay":
			return &Error{Op: "union", Src: u.Src, Dst: u.Dst, Err: errors.New("cannot take creates: it is on overlayfs"),
				Why: "overlayfs cannot use another overlay as the layer that takes writes: bind -c a directory on a disk filesystem or tmpfs"}
		case HasOption(m.Options, "ro"):
			return &Error{Op: "union", Src: u.Src, Dst: u.Dst, Err: errors.New("cannot take creates: its mount is read-only"),
				Why: "the member bound with -c receives every write: it must be on a writable mount"}
		}
	}
	return nil
}

// mountOf returns the mount that holds p: the top mount at the longest
// mount point above it.
func mountOf(list []MountInfo, p string) *MountInfo {
	best := ""
	for _, m := range list {
		if Under(p, m.Point) && len(m.Point) > len(best) {
			best = m.Point
		}
	}
	if best == "" {
		return nil
	}
	return Top(list, best)
}

// mountUnion replaces the overlay at DST, if any, with one of members m.
// The old overlay is detached first, so that DST, one of the layers, is
// again the directory below it when the new one is mounted.
func mountUnion(s *Sys, m Members, mounted bool) error {
	if mounted {
		if err := s.Unmount(m.Dst, unix.MNT_DETACH); err != nil {
			return &Error{Op: "umount", Dst: m.Dst, Flags: unix.MNT_DETACH, Err: err}
		}
	}
	if len(m.Lower) == 1 && m.Lower[0] == m.Dst && m.Upper == "" {
		return nil // only the directory itself is left
	}
	t, err := s.Resolve(m.Dst, Dir)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := s.Mount(UnionSource, t.Path, "overlay", 0, m.Data()); err != nil {
		e := &Error{Op: "mount", Src: UnionSource, Dst: m.Dst, Err: fmt.Errorf("overlay %s: %w", m.Data(), err)}
		if errors.Is(err, unix.EINVAL) && m.Upper != "" {
			e.Why = fmt.Sprintf("overlayfs refused %s as the member that takes creates: it must be a directory on a writable "+
				"filesystem with extended attributes (ext4, xfs, btrfs, tmpfs), not inside another member, "+
				"with %s beside it on the same mount (the kernel log says which)", m.Upper, m.Work)
		} else if errors.Is(err, unix.EINVAL) {
			e.Why = "overlayfs refused the layers: a member may not contain another, and unions nest at most two deep (the kernel log says which)"
		}
		return e
	}
	return nil
}

// Unbind is `unmount SRC DST`: SRC leaves the union at DST. When only the
// directory DST itself is left, the union is gone.
type Unbind struct{ Src, Dst string }

func (u Unbind) String() string { return line("unmount", u.Src, u.Dst) }

// Apply removes the member.
func (u Unbind) Apply(s *Sys) error {
	src := path.Clean(u.Src)
	dst, err := realPath(s, u.Dst, Existing)
	if err != nil {
		return err
	}
	list, err := s.MountInfo()
	if err != nil {
		return &Error{Op: "unmount", Src: u.Src, Dst: u.Dst, Err: err}
	}
	m, mounted := ReadUnion(list, dst)
	if !mounted {
		if Top(list, dst) == nil {
			return &Error{Op: "unmount", Src: u.Src, Dst: u.Dst, Err: unix.EINVAL, Why: u.Dst + " is not a mount point"}
		}
		// A plain bind: Plan 9's `unmount new old` removes it.
		return Umount{Dst: u.Dst}.Apply(s)
	}
	next := Members{Dst: dst, Upper: m.Upper, Work: m.Work}
	found := false
	if m.Upper == src {
		next.Upper, next.Work, found = "", "", true
	}
	for _, l := range m.Lower {
		if l == src {
			found = true
			continue
		}
		next.Lower = append(next.Lower, l)
	}
	if !found {
		return &Error{Op: "unmount", Src: u.Src, Dst: u.Dst, Err: errors.New("not a member of the union"),
			Why: "members: " + strings.Join(m.List(), " ")}
	}
	if len(next.Lower) == 0 {
		next.Lower = []string{dst}
	}
	return mountUnion(s, next, true)
}

// realPath resolves p as a mount point and returns where it really is.
func realPath(s *Sys, p string, create Kind) (string, error) {
	t, err := s.Resolve(p, create)
	if err != nil {
		return "", err
	}
	defer t.Close()
	if t.Real != "" {
		return t.Real, nil
	}
	return path.Clean(t.Name), nil
}
