package bind

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestOptionTable checks every word of the table against the flags it
// must set or clear, written out independently here: a swapped entry
// (gokrazy's rshared and rslave) fails.
func TestOptionTable(t *testing.T) {
	type want struct {
		set, clear uintptr
		ignore     bool
	}
	wants := map[string]want{
		"ro":            {set: unix.MS_RDONLY},
		"rw":            {clear: unix.MS_RDONLY},
		"nosuid":        {set: unix.MS_NOSUID},
		"suid":          {clear: unix.MS_NOSUID},
		"nodev":         {set: unix.MS_NODEV},
		"dev":           {clear: unix.MS_NODEV},
		"noexec":        {set: unix.MS_NOEXEC},
		"exec":          {clear: unix.MS_NOEXEC},
		"sync":          {set: unix.MS_SYNCHRONOUS},
		"async":         {clear: unix.MS_SYNCHRONOUS},
		"dirsync":       {set: unix.MS_DIRSYNC},
		"remount":       {set: unix.MS_REMOUNT},
		"bind":          {set: unix.MS_BIND},
		"rbind":         {set: unix.MS_BIND | unix.MS_REC},
		"move":          {set: unix.MS_MOVE},
		"relatime":      {set: unix.MS_RELATIME},
		"norelatime":    {clear: unix.MS_RELATIME},
		"noatime":       {set: unix.MS_NOATIME},
		"atime":         {clear: unix.MS_NOATIME},
		"strictatime":   {set: unix.MS_STRICTATIME},
		"nostrictatime": {clear: unix.MS_STRICTATIME},
		"nodiratime":    {set: unix.MS_NODIRATIME},
		"diratime":      {clear: unix.MS_NODIRATIME},
		"lazytime":      {set: unix.MS_LAZYTIME},
		"nolazytime":    {clear: unix.MS_LAZYTIME},
		"mand":          {set: unix.MS_MANDLOCK},
		"nomand":        {clear: unix.MS_MANDLOCK},
		"iversion":      {set: unix.MS_I_VERSION},
		"noiversion":    {clear: unix.MS_I_VERSION},
		"nosymfollow":   {set: unix.MS_NOSYMFOLLOW},
		"symfollow":     {clear: unix.MS_NOSYMFOLLOW},
		"silent":        {set: unix.MS_SILENT},
		"loud":          {clear: unix.MS_SILENT},
		"private":       {set: unix.MS_PRIVATE},
		"rprivate":      {set: unix.MS_PRIVATE | unix.MS_REC},
		"shared":        {set: unix.MS_SHARED},
		"rshared":       {set: unix.MS_SHARED | unix.MS_REC},
		"slave":         {set: unix.MS_SLAVE},
		"rslave":        {set: unix.MS_SLAVE | unix.MS_REC},
		"unbindable":    {set: unix.MS_UNBINDABLE},
		"runbindable":   {set: unix.MS_UNBINDABLE | unix.MS_REC},
		"defaults":      {ignore: true},
		"auto":          {ignore: true},
		"noauto":        {ignore: true},
		"nofail":        {ignore: true},
		"_netdev":       {ignore: true},
		"user":          {ignore: true},
		"nouser":        {ignore: true},
		"users":         {ignore: true},
	}
	seen := map[string]bool{}
	for _, o := range Options {
		if seen[o.Word] {
			t.Errorf("%s: listed twice", o.Word)
		}
		seen[o.Word] = true
		w, ok := wants[o.Word]
		if !ok {
			t.Errorf("%s: in the table but not in this test", o.Word)
			continue
		}
		if o.Set != w.set || o.Clear != w.clear || o.Ignore != w.ignore {
			t.Errorf("%s: set %s clear %s ignore %v; want set %s clear %s ignore %v", o.Word,
				MountFlagNames(o.Set), MountFlagNames(o.Clear), o.Ignore,
				MountFlagNames(w.set), MountFlagNames(w.clear), w.ignore)
		}
		// Through the parser: the word on a base of every flag it clears.
		got, data := ParseOptions("rw," + o.Word)
		if data != "" || got != w.set {
			t.Errorf("ParseOptions(%q) = %s, %q; want %s", "rw,"+o.Word, MountFlagNames(got), data, MountFlagNames(w.set))
		}
	}
	for word := range wants {
		if !seen[word] {
			t.Errorf("%s: expected in the table", word)
		}
	}
}

func TestParseOptions(t *testing.T) {
	for _, tt := range []struct {
		in    string
		flags uintptr
		data  string
	}{
		{"", 0, ""},
		{"ro,nosuid,size=10m,mode=755", unix.MS_RDONLY | unix.MS_NOSUID, "size=10m,mode=755"},
		{"ro,rw", 0, ""},
		{"remount,ro", unix.MS_REMOUNT | unix.MS_RDONLY, ""},
		{"defaults,x-systemd.automount,noatime", unix.MS_NOATIME, ""},
		{`lowerdir=/a\,b:/c,upperdir=/u`, 0, `lowerdir=/a\,b:/c,upperdir=/u`},
		{"newinstance,ptmxmode=0666", 0, "newinstance,ptmxmode=0666"},
	} {
		flags, data := ParseOptions(tt.in)
		if flags != tt.flags || data != tt.data {
			t.Errorf("ParseOptions(%q) = %s, %q; want %s, %q", tt.in, MountFlagNames(flags), data, MountFlagNames(tt.flags), tt.data)
		}
	}
}

func TestFormatOptions(t *testing.T) {
	for _, tt := range []struct {
		flags uintptr
		data  string
		want  string
	}{
		{unix.MS_BIND | unix.MS_REC, "", "rbind"},
		{unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV, "size=4k", "ro,nosuid,nodev,size=4k"},
		{unix.MS_PRIVATE | unix.MS_REC, "", "rprivate"},
		{0, "mode=755", "mode=755"},
	} {
		if got := FormatOptions(tt.flags, tt.data); got != tt.want {
			t.Errorf("FormatOptions(%s, %q) = %q, want %q", MountFlagNames(tt.flags), tt.data, got, tt.want)
		}
		// And back.
		flags, data := ParseOptions(tt.want)
		if flags != tt.flags || data != tt.data {
			t.Errorf("ParseOptions(%q) = %s, %q", tt.want, MountFlagNames(flags), data)
		}
	}
}
