package bind

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Script returns the nsh script that recreates the mount table list on
// top of its root, and ends in cwd, as Plan 9's ns(1) prints a namespace:
// `mount -t proc proc /proc` for a new filesystem, `bind SRC DST` for a
// bind mount (recursive, so the mounts it copied are not repeated),
// `bind -b`/`bind -a` lines for a union, `bind '#c' DST` for a minimal
// /dev, and a final `cd`. The root itself is described in a comment: it
// is what the namespace was made from.
//
// With raw, every entry of the table is one line and nothing is
// recognized: unions are overlay mounts, '#c' its parts, binds
// non-recursive.
func Script(list []MountInfo, cwd string, raw bool) string {
	list = TreeOrder(list)
	var b strings.Builder
	covered := map[int]bool{}
	rootDone := false
	for i := range list {
		m := &list[i]
		if !rootDone && m.Point == "/" {
			rootDone = true
			fmt.Fprintf(&b, "# / is %s of %s (%s %s)\n", Quote(m.Root), m.Dev(), m.FSType, Quote(m.Source))
			continue
		}
		if covered[m.ID] {
			continue
		}
		for _, l := range mountLines(list, i, raw, covered) {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	if cwd != "" {
		b.WriteString(line("cd", cwd))
		b.WriteByte('\n')
	}
	return b.String()
}

// mountLines returns the lines for list[i], marking in covered the mounts
// that those lines recreate as well.
func mountLines(list []MountInfo, i int, raw bool, covered map[int]bool) []string {
	m := &list[i]
	flags, _ := ParseOptions(m.Options)
	flags &^= unix.MS_RELATIME
	if m.FSType == "overlay" && !raw {
		if u := layersOf(m); u.IsUnion() {
			return unionLines(u)
		}
	}
	if src, ok := bindSource(list, i); ok {
		if raw {
			return []string{Bind{Src: src, Dst: m.Point, ReadOnly: flags&unix.MS_RDONLY != 0, Single: true}.String()}
		}
		coverSubmounts(list, i, src, covered)
		return []string{Bind{Src: src, Dst: m.Point, ReadOnly: flags&unix.MS_RDONLY != 0}.String()}
	}
	if !raw && m.FSType == "tmpfs" && isMinimalDev(list, m) {
		for _, c := range list {
			if c.Point != m.Point && Under(c.Point, m.Point) && isDevPart(c.Point[len(m.Point)+1:]) {
				covered[c.ID] = true
			}
		}
		return []string{Dev{Name: "#c", Dst: m.Point}.String()}
	}
	if m.Root != "/" {
		return []string{fmt.Sprintf("# %s: %s of %s (%s %s), whose source is not visible here",
			Quote(m.Point), Quote(m.Root), m.Dev(), m.FSType, Quote(m.Source))}
	}
	return []string{Mount{Src: m.Source, Dst: m.Point, FSType: m.FSType, Flags: flags, Data: superData(m.Super)}.String()}
}

// superData drops what the per-mount flags already say from the
// superblock options.
func superData(super string) string {
	var keep []string
	for _, o := range SplitOptions(super) {
		if o == "rw" || o == "ro" {
			continue
		}
		keep = append(keep, o)
	}
	return strings.Join(keep, ",")
}

// layersOf reads the union members of an overlay mount.
func layersOf(m *MountInfo) Members {
	u, _ := ReadUnion([]MountInfo{*m}, m.Point)
	return u
}

// unionLines prints the bind -b and bind -a lines that rebuild u on its
// directory: the members before Dst, nearest first, then those after.
func unionLines(u Members) []string {
	var lines []string
	at := 0
	for i, l := range u.Lower {
		if l == u.Dst {
			at = i
		}
	}
	for i := at - 1; i >= 0; i-- {
		lines = append(lines, Union{Src: u.Lower[i], Dst: u.Dst, Before: true}.String())
	}
	for _, l := range u.Lower[at+1:] {
		lines = append(lines, Union{Src: l, Dst: u.Dst}.String())
	}
	if u.Upper != "" {
		lines = append(lines, Union{Src: u.Upper, Dst: u.Dst, Before: true, Create: true}.String())
	}
	return lines
}

// bindSource finds the path, in this namespace, of what list[i] shows if
// it is a bind mount: another mount of the same filesystem that shows a
// directory above its root. A filesystem seen for the first time at its
// root is a mount, not a bind.
func bindSource(list []MountInfo, i int) (string, bool) {
	m := &list[i]
	best := ""
	bestRoot := ""
	found := false
	for j := range list {
		o := &list[j]
		if j == i || o.Major != m.Major || o.Minor != m.Minor || !Under(m.Root, o.Root) {
			continue
		}
		if m.Root == "/" && j > i {
			continue // the first mount of a filesystem is not a bind
		}
		if Top(list, o.Point) != o || Under(o.Point, m.Point) {
			continue // hidden, or below the bind itself
		}
		src := path.Join(o.Point, strings.TrimPrefix(m.Root, o.Root))
		if Under(src, m.Point) {
			continue
		}
		if !found || len(o.Root) < len(bestRoot) {
			best, bestRoot, found = src, o.Root, true
		}
	}
	return best, found
}

// coverSubmounts marks the mounts below list[i] that a recursive bind of
// src brought with it: those that match a mount below src.
func coverSubmounts(list []MountInfo, i int, src string, covered map[int]bool) {
	m := &list[i]
	for j := i + 1; j < len(list); j++ {
		c := &list[j]
		if c.Point == m.Point || !Under(c.Point, m.Point) {
			continue
		}
		at := path.Join(src, strings.TrimPrefix(c.Point, m.Point))
		for _, o := range list {
			if o.Point == at && o.Major == c.Major && o.Minor == c.Minor && o.Root == c.Root {
				covered[c.ID] = true
				break
			}
		}
	}
}

// isMinimalDev recognizes what '#c' made: a tmpfs with a devpts of its own
// at pts and the host's null bound in.
func isMinimalDev(list []MountInfo, m *MountInfo) bool {
	var pts, null bool
	for _, c := range list {
		switch c.Point {
		case m.Point + "/pts":
			pts = c.FSType == "devpts" && c.Parent == m.ID
		case m.Point + "/null":
			null = c.Parent == m.ID
		}
	}
	return pts && null
}

func isDevPart(rel string) bool {
	switch rel {
	case "pts", "shm", "console":
		return true
	}
	for _, n := range DevNodes {
		if rel == n {
			return true
		}
	}
	return false
}

// TreeOrder returns the mounts with every parent before its children,
// keeping the table's order among siblings: the kernel lists a namespace's
// mounts in the order they joined it, which after a copy or a move can put
// a child before its parent.
func TreeOrder(list []MountInfo) []MountInfo {
	ids := map[int]bool{}
	for _, m := range list {
		ids[m.ID] = true
	}
	children := map[int][]int{}
	var tops []int
	for i, m := range list {
		if m.Parent == m.ID || !ids[m.Parent] {
			tops = append(tops, i)
		} else {
			children[m.Parent] = append(children[m.Parent], i)
		}
	}
	out := make([]MountInfo, 0, len(list))
	done := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if done[list[i].ID] {
			return
		}
		done[list[i].ID] = true
		out = append(out, list[i])
		for _, c := range children[list[i].ID] {
			visit(c)
		}
	}
	for _, i := range tops {
		visit(i)
	}
	for i := range list { // unreachable entries, kept as listed
		visit(i)
	}
	return out
}
