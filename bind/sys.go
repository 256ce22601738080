package bind

// Kind says what a path is, or what to create when a mount point is
// missing.
type Kind int

const (
	// Existing means the mount point must exist: nothing is created.
	Existing Kind = iota
	// Dir is a directory (created with mode 0755).
	Dir
	// File is anything but a directory; a missing one is created as an
	// empty regular file (mode 0644), to bind a file onto.
	File
)

func (k Kind) String() string {
	return [...]string{"existing", "directory", "file"}[k]
}

// Target is a mount point resolved by [Sys.Resolve]: the path that names it
// to the user and the path to hand to the system call, which is
// /proc/self/fd/N for an O_PATH descriptor opened inside the root that
// holds it, so that nothing between resolving and mounting can redirect
// the call.
type Target struct {
	// Name is the path as the operation names it, for messages.
	Name string
	// Path is the path to give mount(2).
	Path string
	// Real is where the target is in this process's tree, symbolic links
	// resolved: the mount point mountinfo will show. It is Name when the
	// path had no links.
	Real string
	// Release closes what resolving opened; it may be nil.
	Release func()
}

// Close releases the target.
func (t Target) Close() {
	if t.Release != nil {
		t.Release()
	}
}

// Sys is the system-call seam of the package: every change to the mount
// table, the root or the working directory goes through one of its
// functions. [Host] returns the real one; tests build one that records the
// calls, to check plans without privileges.
type Sys struct {
	// Mount is mount(2).
	Mount func(src, dst, fstype string, flags uintptr, data string) error
	// Unmount is umount2(2).
	Unmount func(dst string, flags int) error
	// SetAttr is mount_setattr(2) on dst, for every mount below it when
	// recursive; it returns ENOSYS on kernels without it.
	SetAttr func(dst string, recursive bool, set, clear uint64) error
	// PivotRoot is pivot_root(2).
	PivotRoot func(newroot, putold string) error
	// Chroot is chroot(2).
	Chroot func(dir string) error
	// Chdir is chdir(2).
	Chdir func(dir string) error
	// OpenDir opens a directory (O_DIRECTORY|O_CLOEXEC), for Fchdir.
	OpenDir func(path string) (int, error)
	// Fchdir is fchdir(2).
	Fchdir func(fd int) error
	// Close closes a descriptor.
	Close func(fd int) error
	// Getwd is getcwd(2); it fails when the working directory is outside
	// the root.
	Getwd func() (string, error)
	// Symlink is symlink(2).
	Symlink func(target, link string) error
	// Mkdir creates a directory, and its parents, with mode 0755.
	Mkdir func(path string) error
	// Stat says whether path is a directory or another file.
	Stat func(path string) (Kind, error)
	// Resolve finds dst inside the root that holds it (see [Host]),
	// creating a missing mount point as create says.
	Resolve func(dst string, create Kind) (Target, error)
	// MountInfo reads this process's mount table.
	MountInfo func() ([]MountInfo, error)
	// HostNamespace reports whether this process is in the host's initial
	// mount namespace, where pivot is refused, and is not PID 1 of a
	// machine (where it is allowed).
	HostNamespace func() (bool, error)
	// CloseDirs marks every descriptor above 2 that refers to a directory
	// close-on-exec, so that no command started after a pivot inherits a
	// handle on the old tree.
	CloseDirs func() error
	// Clean deletes the contents of the initramfs root dir, staying on its
	// filesystem and sparing the directory skip, as switch_root does.
	Clean func(dir, skip string) error
	// RootDevice resolves a path below '#/', the root this namespace was
	// cloned from (rfork N): a directory descriptor of the old root and
	// the path relative to it. ok is false for other paths. Host's has no
	// root device; the shell that made one sets its own.
	RootDevice func(path string) (dirfd int, rel string, ok bool, err error)
	// OpenTree is open_tree(2), to bind from a descriptor.
	OpenTree func(dirfd int, path string, flags uint) (int, error)
	// MoveMount attaches the detached mount tree fd at dst
	// (move_mount(2) with MOVE_MOUNT_F_EMPTY_PATH).
	MoveMount func(fd int, dst string) error
	// StatAt says whether path below dirfd is a directory or another file.
	StatAt func(dirfd int, path string) (Kind, error)
}
