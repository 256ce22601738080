// Package bind is nsh's model of the mount table: the operations that
// build a namespace (a bind, a Plan 9 union, a new filesystem, an unmount,
// a pivot, a chroot, a device such as '#c') as values.
//
// Every operation is an [Op]: its String method prints the nsh command
// line that recreates it, and its Apply method makes the system calls
// through a [Sys], the package's only way to the kernel, so that a plan can
// be printed (ns), checked in a test without privileges, or applied. A
// failed call comes back as an [*Error] that names the call, its paths, its
// flags by name and the errno, with a hint where the errno misleads.
//
// The package parses no flags and prints nothing: the builtins in
// package builtins do that.
package bind

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/syntax"
)

// Op is one operation on the mount table, the root or the working
// directory.
type Op interface {
	// String returns the nsh command line that performs the operation.
	String() string
	// Apply performs it.
	Apply(s *Sys) error
}

// Plan is a list of operations applied in order.
type Plan []Op

// String prints the plan as an nsh script, one line per operation.
func (p Plan) String() string {
	var b strings.Builder
	for _, op := range p {
		b.WriteString(op.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Apply applies the operations in order and stops at the first error.
func (p Plan) Apply(s *Sys) error {
	for _, op := range p {
		if err := op.Apply(s); err != nil {
			return err
		}
	}
	return nil
}

// Quote quotes a word for nsh (bash syntax) where it needs it: '#c'
// would start a comment, a space would split the word.
func Quote(s string) string {
	q, err := syntax.Quote(s, syntax.LangBash)
	if err != nil {
		return strconv.Quote(s)
	}
	return q
}

func line(words ...string) string {
	var q []string
	for _, w := range words {
		if w == "" {
			continue
		}
		if strings.HasPrefix(w, "-") {
			q = append(q, w)
			continue
		}
		q = append(q, Quote(w))
	}
	return strings.Join(q, " ")
}

// Bind is `bind [-r] SRC DST`: SRC, a directory or a file, is made
// visible at DST with all the mounts below it (MS_BIND|MS_REC). A missing
// DST is created: a directory for a directory, an empty file for a file.
type Bind struct {
	Src, Dst string
	// ReadOnly makes the new mounts read-only, every one below DST too.
	ReadOnly bool
	// Single binds SRC alone, without the mounts below it, as
	// `mount --bind` does.
	Single bool
}

func (b Bind) String() string {
	switch {
	case b.Single && b.ReadOnly:
		return line("mount", "--bind", "-o", "ro", b.Src, b.Dst)
	case b.Single:
		return line("mount", "--bind", b.Src, b.Dst)
	case b.ReadOnly:
		return line("bind", "-r", b.Src, b.Dst)
	}
	return line("bind", b.Src, b.Dst)
}

// Apply makes the bind mount. A source below '#/' is cloned from the
// root device's descriptor (open_tree, move_mount): the old root is
// mounted nowhere in the namespace. So is an absolute source that is
// missing from the current root when there is a root device (rfork N).
func (b Bind) Apply(s *Sys) error {
	if err := guard(s, "bind", b.Src, b.Dst); err != nil {
		return err
	}
	dirfd, rel, dev, err := s.RootDevice(b.Src)
	if err != nil {
		return &Error{Op: "bind", Src: b.Src, Dst: b.Dst, Err: err}
	}
	var kind Kind
	if dev {
		kind, err = s.StatAt(dirfd, rel)
	} else {
		kind, err = s.Stat(b.Src)
		if errors.Is(err, unix.ENOENT) && path.IsAbs(b.Src) {
			// After rfork N the new root is empty: a path missing from
			// it is looked up in the root it was cloned from, so that
			// ns's output (and '#c') work there.
			if fd, r, ok, rerr := s.RootDevice("#" + b.Src); ok && rerr == nil {
				if k, serr := s.StatAt(fd, r); serr == nil {
					dirfd, rel, dev, kind, err = fd, r, true, k, nil
				}
			}
		}
	}
	if err != nil {
		return &Error{Op: "bind", Src: b.Src, Dst: b.Dst, Err: unwrapPath(err)}
	}
	t, err := s.Resolve(b.Dst, kind)
	if err != nil {
		return err
	}
	defer t.Close()
	flags := uintptr(unix.MS_BIND | unix.MS_REC)
	if b.Single {
		flags = unix.MS_BIND
	}
	if dev {
		if err := bindFromFD(s, dirfd, rel, t.Path, !b.Single); err != nil {
			return &Error{Op: "bind", Src: b.Src, Dst: b.Dst, Err: err}
		}
	} else if err := s.Mount(b.Src, t.Path, "", flags, ""); err != nil {
		return &Error{Op: "mount", Src: b.Src, Dst: b.Dst, Flags: flags, Err: err}
	}
	if !b.ReadOnly {
		return nil
	}
	// The descriptor resolved before names the directory below the new
	// mount: resolve again to reach the mount itself.
	top, err := s.Resolve(b.Dst, Existing)
	if err != nil {
		return err
	}
	defer top.Close()
	return readOnly(s, top, !b.Single)
}

// bindFromFD binds rel below dirfd onto dst with the new mount API.
func bindFromFD(s *Sys, dirfd int, rel, dst string, recursive bool) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := s.OpenTree(dirfd, rel, flags)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer s.Close(fd)
	if err := s.MoveMount(fd, dst); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// readOnly makes the mount at t read-only, and every mount below it when
// recursive: one mount_setattr(2) call where the kernel has it (5.12),
// else a remount of each mount that keeps its other flags (a remount that
// dropped nosuid or nodev locked by a user namespace would fail).
func readOnly(s *Sys, t Target, recursive bool) error {
	err := s.SetAttr(t.Path, recursive, unix.MOUNT_ATTR_RDONLY, 0)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) {
		return &Error{Op: "mount_setattr", Dst: t.Name, Flags: unix.MOUNT_ATTR_RDONLY, Err: err}
	}
	list, err := s.MountInfo()
	if err != nil {
		return &Error{Op: "remount", Dst: t.Name, Err: err}
	}
	points := []string{t.Name}
	if recursive {
		points = nil
		for _, m := range list {
			if Under(m.Point, t.Name) {
				points = append(points, m.Point)
			}
		}
	}
	for _, p := range points {
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		if m := Top(list, p); m != nil {
			f, _ := ParseOptions(m.Options)
			flags |= f &^ unix.MS_RDONLY
		}
		dst := p
		if p == t.Name {
			dst = t.Path
		}
		if err := s.Mount("", dst, "", flags, ""); err != nil {
			return &Error{Op: "remount", Dst: p, Flags: flags, Err: err}
		}
	}
	return nil
}

// Mount is `mount [-t TYPE] [-o OPTS] SRC DST`, and the other forms of
// mount(2): a remount (MS_REMOUNT, DST only), a move (MS_MOVE), a
// propagation change (`mount --make-rprivate DST`), a bind (MS_BIND).
type Mount struct {
	Src, Dst, FSType string
	Flags            uintptr
	Data             string
}

func (m Mount) String() string {
	rec := m.Flags&unix.MS_REC != 0
	switch {
	case m.Flags&PropagationFlags != 0 && m.Flags&^(PropagationFlags|unix.MS_REC) == 0:
		word := map[uintptr]string{unix.MS_SHARED: "shared", unix.MS_PRIVATE: "private",
			unix.MS_SLAVE: "slave", unix.MS_UNBINDABLE: "unbindable"}[m.Flags&PropagationFlags]
		if rec {
			word = "r" + word
		}
		return line("mount", "--make-"+word, m.Dst)
	case m.Flags&unix.MS_MOVE != 0:
		return line("mount", "--move", m.Src, m.Dst)
	case m.Flags&unix.MS_BIND != 0 && m.Flags&unix.MS_REMOUNT == 0:
		return Bind{Src: m.Src, Dst: m.Dst, ReadOnly: m.Flags&unix.MS_RDONLY != 0, Single: !rec}.String()
	case m.Flags&unix.MS_REMOUNT != 0:
		return line("mount", "-o", FormatOptions(m.Flags, m.Data), m.Dst)
	}
	words := []string{"mount"}
	if m.FSType != "" {
		words = append(words, "-t", m.FSType)
	}
	if o := FormatOptions(m.Flags, m.Data); o != "" {
		words = append(words, "-o", o)
	}
	return line(append(words, m.Src, m.Dst)...)
}

// Apply makes the mount(2) call, creating a missing directory to mount
// on. A bind or new filesystem mounted read-only with other flags gets
// them the way util-linux does: mount, then remount the bind.
func (m Mount) Apply(s *Sys) error {
	if err := guard(s, "mount", m.Src, m.Dst); err != nil {
		return err
	}
	rec := m.Flags&unix.MS_REC != 0
	switch {
	case m.Flags&PropagationFlags != 0 && m.Flags&^(PropagationFlags|unix.MS_REC) == 0,
		m.Flags&unix.MS_REMOUNT != 0:
		t, err := s.Resolve(m.Dst, Existing)
		if err != nil {
			return err
		}
		defer t.Close()
		if err := s.Mount(m.Src, t.Path, m.FSType, m.Flags, m.Data); err != nil {
			return &Error{Op: "mount", Dst: m.Dst, Flags: m.Flags, Err: err}
		}
		return nil
	case m.Flags&unix.MS_BIND != 0:
		if err := (Bind{Src: m.Src, Dst: m.Dst, Single: !rec}).Apply(s); err != nil {
			return err
		}
		if m.Flags&^(unix.MS_BIND|unix.MS_REC) == 0 {
			return nil
		}
		t, err := s.Resolve(m.Dst, Existing)
		if err != nil {
			return err
		}
		defer t.Close()
		flags := m.Flags&^unix.MS_REC | unix.MS_REMOUNT
		if err := s.Mount("", t.Path, "", flags, ""); err != nil {
			return &Error{Op: "remount", Dst: m.Dst, Flags: flags, Err: err}
		}
		return nil
	case m.Flags&unix.MS_MOVE != 0:
		kind, err := s.Stat(m.Src)
		if err != nil {
			return &Error{Op: "mount", Src: m.Src, Dst: m.Dst, Flags: m.Flags, Err: err}
		}
		t, err := s.Resolve(m.Dst, kind)
		if err != nil {
			return err
		}
		defer t.Close()
		if err := s.Mount(m.Src, t.Path, "", m.Flags, ""); err != nil {
			return &Error{Op: "mount", Src: m.Src, Dst: m.Dst, Flags: m.Flags, Err: err}
		}
		return nil
	}
	t, err := s.Resolve(m.Dst, Dir)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := s.Mount(m.Src, t.Path, m.FSType, m.Flags, m.Data); err != nil {
		return &Error{Op: "mount", Src: m.Src, Dst: m.Dst, Flags: m.Flags, Err: err}
	}
	return nil
}

// Umount is `umount [-l] [-R] DST`.
type Umount struct {
	Dst string
	// Flags are umount2(2)'s: MNT_DETACH for -l, MNT_FORCE for -f.
	Flags int
	// Recursive unmounts every mount below DST first.
	Recursive bool
}

func (u Umount) String() string {
	words := []string{"umount"}
	if u.Flags&unix.MNT_DETACH != 0 {
		words = append(words, "-l")
	}
	if u.Flags&unix.MNT_FORCE != 0 {
		words = append(words, "-f")
	}
	if u.Recursive {
		words = append(words, "-R")
	}
	return line(append(words, u.Dst)...)
}

// Apply unmounts DST, and with Recursive the mounts below it, deepest
// first.
func (u Umount) Apply(s *Sys) error {
	points := []string{u.Dst}
	if u.Recursive {
		list, err := s.MountInfo()
		if err != nil {
			return &Error{Op: "umount", Dst: u.Dst, Err: err}
		}
		points = nil
		for i := len(list) - 1; i >= 0; i-- {
			if Under(list[i].Point, path.Clean(u.Dst)) {
				points = append(points, list[i].Point)
			}
		}
		if len(points) == 0 {
			return &Error{Op: "umount", Dst: u.Dst, Err: unix.EINVAL, Why: u.Dst + " is not a mount point"}
		}
	}
	for _, p := range points {
		if err := s.Unmount(p, u.Flags); err != nil {
			e := &Error{Op: "umount", Dst: p, Flags: uintptr(u.Flags), Err: err}
			switch {
			case errors.Is(err, unix.EBUSY):
				e.Why = "a process has its working directory or an open file there, or a mount sits below it: -l detaches it now, -R unmounts what is below"
			case errors.Is(err, unix.EINVAL):
				e.Why = p + " is not a mount point"
			}
			return e
		}
	}
	return nil
}

// Chroot is `chroot DIR`: this process's root becomes DIR (every thread
// of nsh shares it), and the working directory its root. A chroot can be
// escaped by a process that may call chroot itself; Pivot is the safe
// form.
type Chroot struct{ Dir string }

func (c Chroot) String() string { return line("chroot", c.Dir) }

// Apply calls chroot(2) and chdir("/").
func (c Chroot) Apply(s *Sys) error {
	if err := s.Chroot(c.Dir); err != nil {
		return &Error{Op: "chroot", Dst: c.Dir, Err: err}
	}
	if err := s.Chdir("/"); err != nil {
		return &Error{Op: "chdir", Dst: "/", Err: err}
	}
	return nil
}

// Symlink makes a symbolic link Link pointing to Target, resolving Link's
// directory inside the root that holds it. It has no nsh command of its
// own: it is a step of '#c'.
type Symlink struct{ Target, Link string }

func (l Symlink) String() string { return "# ln -s " + Quote(l.Target) + " " + Quote(l.Link) }

// Apply creates the link.
func (l Symlink) Apply(s *Sys) error {
	t, err := s.Resolve(path.Dir(l.Link), Existing)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := s.Symlink(l.Target, path.Join(t.Path, path.Base(l.Link))); err != nil {
		return &Error{Op: "symlink", Src: l.Target, Dst: l.Link, Err: err}
	}
	return nil
}

// unwrapPath drops the *os.PathError around an errno whose path the
// Error names already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
