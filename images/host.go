package images

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LibDirs are the directories searched for a shared library after the
// object's DT_RPATH/DT_RUNPATH and those named in /etc/ld.so.conf: the
// dynamic linker's defaults and Debian's multiarch directories.
var LibDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// LibError is a shared library a program needs that was not found.
type LibError struct {
	Lib    string // the DT_NEEDED name
	Needer string // the object that needs it
	Dirs   []string
}

// Error says which object needs which library, and where it was looked for.
func (e *LibError) Error() string {
	return fmt.Sprintf("%s: needs %s, not found in %s", e.Needer, e.Lib, strings.Join(e.Dirs, ":"))
}

// AddPrograms adds each host program at its own path (a name without a
// slash is looked up with lookPath), with every shared library it needs,
// found as the dynamic linker would find it: its ELF interpreter
// (PT_INTERP), then its DT_NEEDED libraries and theirs, searched in
// DT_RPATH, DT_RUNPATH ($ORIGIN expanded), the directories of
// /etc/ld.so.conf and [LibDirs], keeping only libraries of the program's
// ELF class and machine. Nothing is executed. A symbolic link among the
// programs is kept as a link, with what it points to.
func (p *Plan) AddPrograms(progs []string, lookPath func(string) (string, error)) error {
	conf := ldSoConfDirs("/etc/ld.so.conf", 0)
	done := map[string]bool{}
	for _, prog := range progs {
		path := prog
		if !strings.Contains(prog, "/") {
			var err error
			if path, err = lookPath(prog); err != nil {
				return err
			}
		}
		path, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		if err := p.addObject(path, conf, done); err != nil {
			return err
		}
	}
	return nil
}

// addObject adds one file and, for an ELF object, what it needs. Symbolic
// links on the way are added as links.
func (p *Plan) addObject(path string, conf []string, done map[string]bool) error {
	for range 40 {
		if done[path] {
			return nil
		}
		done[path] = true
		st, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			break
		}
		t, err := os.Readlink(path)
		if err != nil {
			return err
		}
		p.Add(Entry{Name: path, Mode: fs.ModeSymlink | 0o777, Target: t})
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(path), t)
		}
		path = filepath.Clean(t)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	p.Add(Entry{Name: path, Mode: st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), Src: path, Size: st.Size()})
	f, err := elf.Open(path)
	if err != nil {
		return nil // a script or data: nothing more to find
	}
	defer f.Close()
	interp, err := elfInterp(path)
	if err != nil {
		return err
	}
	if interp != "" {
		if err := p.addObject(interp, conf, done); err != nil {
			return fmt.Errorf("%s: interpreter: %w", path, err)
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: read DT_NEEDED: %w", path, err)
	}
	dirs := libSearchPath(f, path, conf)
	for _, lib := range needed {
		found := ""
		if strings.Contains(lib, "/") {
			found = lib
		} else {
			for _, d := range dirs {
				cand := filepath.Join(d, lib)
				if sameArch(cand, f) {
					found = cand
					break
				}
			}
		}
		if found == "" {
			return &LibError{Lib: lib, Needer: path, Dirs: dirs}
		}
		if err := p.addObject(found, conf, done); err != nil {
			return err
		}
	}
	return nil
}

// libSearchPath is where the dynamic linker looks for f's libraries:
// DT_RPATH unless there is a DT_RUNPATH, then DT_RUNPATH, then the
// configured and default directories (ld.so(8)).
func libSearchPath(f *elf.File, path string, conf []string) []string {
	var dirs []string
	origin := filepath.Dir(path)
	split := func(tag elf.DynTag) []string {
		vals, _ := f.DynString(tag)
		var l []string
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
				if d != "" {
					l = append(l, d)
				}
			}
		}
		return l
	}
	runpath := split(elf.DT_RUNPATH)
	if len(runpath) == 0 {
		dirs = append(dirs, split(elf.DT_RPATH)...)
	}
	dirs = append(dirs, runpath...)
	dirs = append(dirs, conf...)
	return append(dirs, LibDirs...)
}

// sameArch reports whether name is an ELF object of f's class and machine.
func sameArch(name string, f *elf.File) bool {
	g, err := elf.Open(name)
	if err != nil {
		return false
	}
	defer g.Close()
	return g.Class == f.Class && g.Machine == f.Machine
}

// ldSoConfDirs reads the directories of an ld.so.conf, following its
// include lines (globs).
func ldSoConfDirs(name string, depth int) []string {
	fh, err := os.Open(name)
	if err != nil || depth > 8 {
		return nil
	}
	defer fh.Close()
	var dirs []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "include"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			pat := strings.TrimSpace(rest)
			if !filepath.IsAbs(pat) {
				pat = filepath.Join(filepath.Dir(name), pat)
			}
			ms, _ := filepath.Glob(pat)
			for _, m := range ms {
				dirs = append(dirs, ldSoConfDirs(m, depth+1)...)
			}
			continue
		}
		if line != "" {
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// WriteDir makes the plan's files under dir, which it creates if needed.
// Paths are resolved inside dir: a symbolic link already in dir is
// followed only as far as dir's own root, so a tree cannot write outside
// it. Regular files are copied with their permission bits. Device nodes
// need privilege (mknod(2)): without it they are left out and returned in
// skipped.
func (p *Plan) WriteDir(dir string) (skipped []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root := &root{dir: dir}
	for _, e := range p.Entries() {
		if err := root.create(e); err != nil {
			return root.skipped, err
		}
	}
	return root.skipped, nil
}
