package bind

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSymlinks is the kernel's limit on symbolic links followed in a lookup.
const maxSymlinks = 40

// resolve finds dst inside the root that holds it and returns an O_PATH
// descriptor for it, as /proc/self/fd/N.
//
// The root that holds dst is the deepest mount point on dst's path that is
// reached before the first symbolic link below a mount point: dst is
// walked from "/" one component at a time without following links; every
// mount root passed becomes the root; a symbolic link met while the root is
// still "/" is the host's own (/var/run) and is followed; a link met below
// a mount point may come from an image and is resolved, with the rest of
// the path, by openat2(RESOLVE_IN_ROOT) inside that mount, so that an
// absolute link, ".." or a dangling link cannot lead out of it. A script
// that builds a root therefore mounts something on it first (bind the
// image, or '#t'), as pivot would.
//
// A missing mount point is created inside the same root: directories for
// create == Dir, and an empty file as the last component for File.
func resolve(dst string, create Kind) (Target, error) {
	if !path.IsAbs(dst) {
		return Target{}, &Error{Op: "resolve", Dst: dst, Err: errors.New("path is not absolute")}
	}
	rootFD, rest, err := findRoot(dst)
	if err != nil {
		return Target{}, &Error{Op: "resolve", Dst: dst, Err: err}
	}
	defer unix.Close(rootFD)
	fd, err := openInRoot(rootFD, rest, create)
	if err != nil {
		return Target{}, &Error{Op: "resolve", Dst: dst, Err: err}
	}
	t := Target{Name: dst, Path: fmt.Sprintf("/proc/self/fd/%d", fd), Release: func() { unix.Close(fd) }}
	if real, err := os.Readlink(t.Path); err == nil {
		t.Real = real
	} else {
		// No /proc: fall back to the path, which is safe only when no
		// symbolic link lies on it below the root.
		p, err := noSymlinks(rootFD, rest)
		if err != nil {
			unix.Close(fd)
			return Target{}, &Error{Op: "resolve", Dst: dst, Err: fmt.Errorf("/proc is not mounted, so the mount point must be reached without symbolic links: %w", err)}
		}
		t.Path, t.Real = p, p
	}
	return t, nil
}

// findRoot walks dst as resolve describes and returns an O_PATH descriptor
// for the root that holds it and the rest of the path below that root.
func findRoot(dst string) (int, string, error) {
	links := 0
	followed := "" // the last link of the host's followed
	linkEnd := 0   // components of dst that its target makes
restart:
	comps := splitPath(dst)
	rootFD, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	cur, err := unix.Dup(rootFD)
	if err != nil {
		unix.Close(rootFD)
		return -1, "", err
	}
	closeAll := func() { unix.Close(rootFD); unix.Close(cur) }
	rootSet := false
	rootAt := 0 // components of dst that lead to the root
	for i, c := range comps {
		next, err := unix.Openat(cur, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) && followed != "" && !rootSet && i < linkEnd {
			// Mount points are not created through a dangling link
			// outside any mount point: in a plain directory it would
			// send the mkdir anywhere.
			closeAll()
			return -1, "", fmt.Errorf("%s is a symbolic link to a missing place (%s): mount points are not created through links", followed, dst)
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			break
		}
		if err != nil {
			closeAll()
			return -1, "", fmt.Errorf("open %s: %w", "/"+strings.Join(comps[:i+1], "/"), err)
		}
		var st unix.Statx_t
		if err := unix.Statx(next, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_TYPE, &st); err != nil {
			unix.Close(next)
			closeAll()
			return -1, "", err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if rootSet {
				unix.Close(next)
				break
			}
			// A link of the host's, above any mount point: follow it.
			target, err := readlinkat(cur, c)
			unix.Close(next)
			if err != nil {
				closeAll()
				return -1, "", err
			}
			if links++; links > maxSymlinks {
				closeAll()
				return -1, "", unix.ELOOP
			}
			followed = "/" + strings.Join(comps[:i+1], "/")
			base := "/" + strings.Join(comps[:i], "/")
			if path.IsAbs(target) {
				base = ""
			}
			linkEnd = len(splitPath(path.Join("/", base, target)))
			dst = path.Join("/", base, target, strings.Join(comps[i+1:], "/"))
			closeAll()
			goto restart
		}
		unix.Close(cur)
		cur = next
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 &&
			st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 && i < len(comps)-1 {
			fd, err := unix.Dup(cur)
			if err != nil {
				closeAll()
				return -1, "", err
			}
			unix.Close(rootFD)
			rootFD, rootSet, rootAt = fd, true, i+1
		}
	}
	unix.Close(cur)
	return rootFD, strings.Join(comps[rootAt:], "/"), nil
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func splitPath(p string) []string {
	var comps []string
	for _, c := range strings.Split(path.Clean(p), "/") {
		if c != "" {
			comps = append(comps, c)
		}
	}
	return comps
}

// inRoot opens rel inside rootFD: symbolic links, "..", and absolute
// links stay inside it; magic links (/proc/self/root) are refused.
func inRoot(rootFD int, rel string, flags uint64) (int, error) {
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(rootFD, rel, &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) {
		return -1, errors.New("openat2 is missing (Linux 5.6 or later is needed to resolve paths inside a root)")
	}
	return fd, err
}

// openInRoot opens rel below rootFD with O_PATH, creating what is missing
// as create says.
func openInRoot(rootFD int, rel string, create Kind) (int, error) {
	fd, err := inRoot(rootFD, rel, unix.O_PATH)
	if err == nil || !errors.Is(err, unix.ENOENT) || create == Existing {
		return fd, err
	}
	comps := splitPath(rel)
	for i := range comps {
		prefix := strings.Join(comps[:i+1], "/")
		fd, err := inRoot(rootFD, prefix, unix.O_PATH)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, err
		}
		parent, err := inRoot(rootFD, strings.Join(comps[:i], "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return -1, err
		}
		last := i == len(comps)-1
		if last && create == File {
			var f int
			f, err = unix.Openat(parent, comps[i], unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err == nil {
				unix.Close(f)
			}
		} else {
			err = unix.Mkdirat(parent, comps[i], 0o755)
		}
		unix.Close(parent)
		if errors.Is(err, unix.EEXIST) {
			// The name exists but does not resolve: a dangling link.
			return -1, fmt.Errorf("%s is a dangling symbolic link", prefix)
		}
		if err != nil {
			return -1, fmt.Errorf("create mount point %s: %w", prefix, err)
		}
	}
	return inRoot(rootFD, rel, unix.O_PATH)
}

// noSymlinks returns the path of rel below rootFD if no symbolic link lies
// on it.
func noSymlinks(rootFD int, rel string) (string, error) {
	fd, err := unix.Openat2(rootFD, orDot(rel), &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
	})
	if err != nil {
		return "", err
	}
	unix.Close(fd)
	root, err := fdPath(rootFD)
	if err != nil {
		return "", err
	}
	return path.Join(root, rel), nil
}

func orDot(s string) string {
	if s == "" {
		return "."
	}
	return s
}

// fdPath finds the path of a directory descriptor without /proc, by
// walking ".." and matching inodes (what getcwd does).
func fdPath(fd int) (string, error) {
	var buf [unix.PathMax]byte
	// getcwd needs the descriptor to be the working directory: save and
	// restore ours.
	cwd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer func() { unix.Fchdir(cwd); unix.Close(cwd) }()
	if err := unix.Fchdir(fd); err != nil {
		return "", err
	}
	n, err := unix.Getcwd(buf[:])
	if err != nil {
		return "", err
	}
	return string(buf[:n-1]), nil
}
