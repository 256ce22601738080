package bind

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Error is a failed mount-table system call: the call, its paths, its flags
// and the errno. It prints as
//
//	mount /a on /b (MS_BIND|MS_REC): operation not permitted
//
// with the flags shown by name (runc's mountError), and unwraps to the
// errno so that errors.Is(err, unix.EPERM) works.
type Error struct {
	// Op is the system call or step: "mount", "umount", "pivot_root",
	// "chroot", "mount_setattr", "mkdir", "open", "union", ...
	Op string
	// Src is the source path or filesystem name, if the call has one.
	Src string
	// Dst is the target path.
	Dst string
	// Flags are the call's flags: MS_* for mount, MNT_* for umount,
	// MOUNT_ATTR_* for mount_setattr.
	Flags uintptr
	// Err is the cause, usually a unix.Errno.
	Err error
	// Why, if set, replaces the generic hint for this error.
	Why string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	switch {
	case e.Src != "" && e.Dst != "":
		fmt.Fprintf(&b, " %s on %s", e.Src, e.Dst)
	case e.Dst != "":
		fmt.Fprintf(&b, " %s", e.Dst)
	case e.Src != "":
		fmt.Fprintf(&b, " %s", e.Src)
	}
	if names := e.flagNames(); names != "" {
		fmt.Fprintf(&b, " (%s)", names)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) flagNames() string {
	if e.Flags == 0 {
		return ""
	}
	switch e.Op {
	case "umount", "umount2":
		return FlagNames(umountFlagNames, e.Flags)
	case "mount_setattr":
		return FlagNames(attrFlagNames, e.Flags)
	case "mount", "remount":
		return FlagNames(mountFlagNames, e.Flags)
	}
	return ""
}

// Hint explains errors whose errno misleads: ENOSPC from mount means the
// mount table is full, EINVAL from pivot_root has half a dozen causes, and
// EPERM without a user namespace means a missing capability.
func (e *Error) Hint() string {
	if e.Why != "" {
		return e.Why
	}
	switch {
	case errors.Is(e.Err, unix.ENOSPC) && (e.Op == "mount" || e.Op == "union" || e.Op == "remount"):
		return "the mount table of this namespace is full: check /proc/sys/fs/mount-max"
	case errors.Is(e.Err, unix.EINVAL) && e.Op == "pivot_root":
		return "pivot_root needs NEWROOT to be a mount point other than the current root, " +
			"the current root to be a mount point (not an initramfs: there use switch_root's way, pivot --clean), " +
			"and neither to have shared propagation"
	case errors.Is(e.Err, unix.EPERM) && os.Geteuid() != 0:
		return "mounting needs CAP_SYS_ADMIN in the user namespace that owns this mount namespace: " +
			"run \"unshare -m\" first (as a non-root user it adds a user namespace that maps you to root)"
	case errors.Is(e.Err, unix.EPERM) || errors.Is(e.Err, unix.EACCES) && e.Op == "mount":
		return "the call needs CAP_SYS_ADMIN over this mount namespace; in a user namespace, " +
			"filesystems such as sysfs and proc also need their own network and pid namespaces"
	}
	return ""
}

// FlagName names one bit of a flag word.
type FlagName struct {
	Flag uintptr
	Name string
}

var mountFlagNames = []FlagName{
	{unix.MS_RDONLY, "MS_RDONLY"},
	{unix.MS_NOSUID, "MS_NOSUID"},
	{unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"},
	{unix.MS_SYNCHRONOUS, "MS_SYNCHRONOUS"},
	{unix.MS_REMOUNT, "MS_REMOUNT"},
	{unix.MS_MANDLOCK, "MS_MANDLOCK"},
	{unix.MS_DIRSYNC, "MS_DIRSYNC"},
	{unix.MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"},
	{unix.MS_NOATIME, "MS_NOATIME"},
	{unix.MS_NODIRATIME, "MS_NODIRATIME"},
	{unix.MS_BIND, "MS_BIND"},
	{unix.MS_MOVE, "MS_MOVE"},
	{unix.MS_REC, "MS_REC"},
	{unix.MS_SILENT, "MS_SILENT"},
	{unix.MS_POSIXACL, "MS_POSIXACL"},
	{unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
	{unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"},
	{unix.MS_SHARED, "MS_SHARED"},
	{unix.MS_RELATIME, "MS_RELATIME"},
	{unix.MS_I_VERSION, "MS_I_VERSION"},
	{unix.MS_STRICTATIME, "MS_STRICTATIME"},
	{unix.MS_LAZYTIME, "MS_LAZYTIME"},
}

var umountFlagNames = []FlagName{
	{unix.MNT_FORCE, "MNT_FORCE"},
	{unix.MNT_DETACH, "MNT_DETACH"},
	{unix.MNT_EXPIRE, "MNT_EXPIRE"},
	{unix.UMOUNT_NOFOLLOW, "UMOUNT_NOFOLLOW"},
}

var attrFlagNames = []FlagName{
	{unix.MOUNT_ATTR_RDONLY, "MOUNT_ATTR_RDONLY"},
	{unix.MOUNT_ATTR_NOSUID, "MOUNT_ATTR_NOSUID"},
	{unix.MOUNT_ATTR_NODEV, "MOUNT_ATTR_NODEV"},
	{unix.MOUNT_ATTR_NOEXEC, "MOUNT_ATTR_NOEXEC"},
	{unix.MOUNT_ATTR_NOATIME, "MOUNT_ATTR_NOATIME"},
	{unix.MOUNT_ATTR_STRICTATIME, "MOUNT_ATTR_STRICTATIME"},
	{unix.MOUNT_ATTR_NODIRATIME, "MOUNT_ATTR_NODIRATIME"},
	{unix.MOUNT_ATTR_IDMAP, "MOUNT_ATTR_IDMAP"},
	{unix.MOUNT_ATTR_NOSYMFOLLOW, "MOUNT_ATTR_NOSYMFOLLOW"},
}

// FlagNames prints flags as names joined by "|", in the table's order;
// bits the table does not name are printed in hexadecimal.
func FlagNames(table []FlagName, flags uintptr) string {
	var names []string
	for _, f := range table {
		if flags&f.Flag != 0 {
			names = append(names, f.Name)
			flags &^= f.Flag
		}
	}
	if flags != 0 {
		names = append(names, fmt.Sprintf("%#x", flags))
	}
	return strings.Join(names, "|")
}

// MountFlagNames prints MS_* flags by name, as "MS_BIND|MS_REC".
func MountFlagNames(flags uintptr) string { return FlagNames(mountFlagNames, flags) }
