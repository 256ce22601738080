package main

import (
	"debug/elf"
	"fmt"
	"os"
)

// sizeSuite prints the sizes of the two binaries as make builds them, with
// the peers' binaries for scale.
func sizeSuite(e *env) {
	t := &table{header: []string{"binary", "bytes", "MiB", "what"}, left: map[int]bool{3: true}}
	row := func(name, path, note string) {
		fi, err := os.Stat(path)
		if err != nil {
			t.add(name, "-", "-", "missing")
			return
		}
		t.add(name, fmt.Sprint(fi.Size()), fmt.Sprintf("%.2f", float64(fi.Size())/(1<<20)), note)
	}
	for _, n := range []string{"nsh", "nsinit"} {
		if e.why[n] != "" {
			t.add("bin/"+n, "-", "-", "missing (see above)")
			continue
		}
		path := map[string]string{"nsh": e.nsh, "nsinit": e.nsinit}[n]
		row("bin/"+n, path, elfKind(path))
	}
	for _, p := range []string{"tini-static", "tini", "dumb-init", "catatonit", "bwrap", "runc", "crun", "busybox", "dash", "bash"} {
		if path := look(p); path != "" {
			row(p, path, elfKind(path)+", Debian "+peerPackage[p])
		}
	}
	e.printf("%s", t)
}

// elfKind says whether the ELF file at path is statically linked and
// stripped: make builds bin/ static and stripped (-ldflags=-s -w), and a
// binary built otherwise is larger.
func elfKind(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return "not ELF"
	}
	defer f.Close()
	link := "static"
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			link = "dynamic"
		}
	}
	if f.Section(".symtab") != nil {
		return link + ", not stripped"
	}
	return link + ", stripped"
}
