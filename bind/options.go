package bind

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Option is one util-linux mount option word and what it does to the
// flags of mount(2). Words that are not in the table (size=, mode=,
// lowerdir=, newinstance, ...) are filesystem data, passed on as they are.
type Option struct {
	// Word is the option as mount(8) spells it.
	Word string
	// Set are the MS_* flags the word sets.
	Set uintptr
	// Clear are the MS_* flags the word clears.
	Clear uintptr
	// Ignore marks words of fstab that mean nothing to mount(2)
	// (defaults, auto, nofail, _netdev); they are accepted and dropped.
	Ignore bool
}

// Options is the table of option words, as util-linux's mount(8) and
// libmount name them (libmount/src/optmap.c).
var Options = []Option{
	{Word: "ro", Set: unix.MS_RDONLY},
	{Word: "rw", Clear: unix.MS_RDONLY},
	{Word: "nosuid", Set: unix.MS_NOSUID},
	{Word: "suid", Clear: unix.MS_NOSUID},
	{Word: "nodev", Set: unix.MS_NODEV},
	{Word: "dev", Clear: unix.MS_NODEV},
	{Word: "noexec", Set: unix.MS_NOEXEC},
	{Word: "exec", Clear: unix.MS_NOEXEC},
	{Word: "sync", Set: unix.MS_SYNCHRONOUS},
	{Word: "async", Clear: unix.MS_SYNCHRONOUS},
	{Word: "dirsync", Set: unix.MS_DIRSYNC},
	{Word: "remount", Set: unix.MS_REMOUNT},
	{Word: "bind", Set: unix.MS_BIND},
	{Word: "rbind", Set: unix.MS_BIND | unix.MS_REC},
	{Word: "move", Set: unix.MS_MOVE},
	{Word: "relatime", Set: unix.MS_RELATIME},
	{Word: "norelatime", Clear: unix.MS_RELATIME},
	{Word: "noatime", Set: unix.MS_NOATIME},
	{Word: "atime", Clear: unix.MS_NOATIME},
	{Word: "strictatime", Set: unix.MS_STRICTATIME},
	{Word: "nostrictatime", Clear: unix.MS_STRICTATIME},
	{Word: "nodiratime", Set: unix.MS_NODIRATIME},
	{Word: "diratime", Clear: unix.MS_NODIRATIME},
	{Word: "lazytime", Set: unix.MS_LAZYTIME},
	{Word: "nolazytime", Clear: unix.MS_LAZYTIME},
	{Word: "mand", Set: unix.MS_MANDLOCK},
	{Word: "nomand", Clear: unix.MS_MANDLOCK},
	{Word: "iversion", Set: unix.MS_I_VERSION},
	{Word: "noiversion", Clear: unix.MS_I_VERSION},
	{Word: "nosymfollow", Set: unix.MS_NOSYMFOLLOW},
	{Word: "symfollow", Clear: unix.MS_NOSYMFOLLOW},
	{Word: "silent", Set: unix.MS_SILENT},
	{Word: "loud", Clear: unix.MS_SILENT},
	{Word: "private", Set: unix.MS_PRIVATE},
	{Word: "rprivate", Set: unix.MS_PRIVATE | unix.MS_REC},
	{Word: "shared", Set: unix.MS_SHARED},
	{Word: "rshared", Set: unix.MS_SHARED | unix.MS_REC},
	{Word: "slave", Set: unix.MS_SLAVE},
	{Word: "rslave", Set: unix.MS_SLAVE | unix.MS_REC},
	{Word: "unbindable", Set: unix.MS_UNBINDABLE},
	{Word: "runbindable", Set: unix.MS_UNBINDABLE | unix.MS_REC},
	{Word: "defaults", Ignore: true},
	{Word: "auto", Ignore: true},
	{Word: "noauto", Ignore: true},
	{Word: "nofail", Ignore: true},
	{Word: "_netdev", Ignore: true},
	{Word: "user", Ignore: true},
	{Word: "nouser", Ignore: true},
	{Word: "users", Ignore: true},
}

// PropagationFlags are the MS_* flags that change propagation only.
const PropagationFlags = unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE

// LookupOption returns the table entry for word, or false.
func LookupOption(word string) (Option, bool) {
	for _, o := range Options {
		if o.Word == word {
			return o, true
		}
	}
	return Option{}, false
}

// ParseOptions reads a comma-separated option string, as `mount -o` takes
// it, into MS_* flags and filesystem data. Later words win over earlier
// ones (`ro,rw` is rw). Words starting with "x-" are userspace options of
// libmount and are dropped. A comma escaped with a backslash stays in its
// word (overlayfs paths).
func ParseOptions(s string) (flags uintptr, data string) {
	var rest []string
	for _, w := range SplitOptions(s) {
		if w == "" || strings.HasPrefix(w, "x-") {
			continue
		}
		if o, ok := LookupOption(w); ok {
			flags = flags&^o.Clear | o.Set
			continue
		}
		rest = append(rest, w)
	}
	return flags, strings.Join(rest, ",")
}

// SplitOptions splits an option string at commas that no backslash
// escapes.
func SplitOptions(s string) []string {
	var words []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			b.WriteByte(s[i])
			i++
			b.WriteByte(s[i])
		case s[i] == ',':
			words = append(words, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	if s != "" {
		words = append(words, b.String())
	}
	return words
}

// FormatOptions prints MS_* flags as option words (the shortest words that
// set them: "rbind" rather than "bind" and "rec"), followed by data. It is
// the inverse of ParseOptions for the flags the table can set.
func FormatOptions(flags uintptr, data string) string {
	var words []string
	// Words for several bits first, so that rbind wins over bind.
	for _, pass := range []bool{true, false} {
		for _, o := range Options {
			if o.Set == 0 || o.Ignore || isMultiBit(o.Set) != pass {
				continue
			}
			if flags&o.Set == o.Set {
				words = append(words, o.Word)
				flags &^= o.Set
			}
		}
	}
	if flags != 0 {
		words = append(words, fmt.Sprintf("%#x", flags))
	}
	if data != "" {
		words = append(words, data)
	}
	return strings.Join(words, ",")
}

func isMultiBit(f uintptr) bool { return f&(f-1) != 0 }
