package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// sizeSuite prints the sizes of the two binaries as make builds them, with
// the peers' binaries for scale.
func sizeSuite(e *env) {
	t := &table{header: []string{"binary", "bytes", "MiB", "from"}, left: map[int]bool{3: true}}
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
		row("bin/"+n, filepath.Join(e.root, "bin", n), "make build (static, stripped)")
	}
	for _, p := range []string{"tini-static", "tini", "dumb-init", "catatonit", "bwrap", "runc", "crun", "busybox", "dash", "bash"} {
		if path := look(p); path != "" {
			row(p, path, peerPackage[p])
		}
	}
	e.printf("%s", t)
}
