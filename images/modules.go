package images

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ModulesDir is where a Linux system keeps its kernel modules, one
// directory per kernel release.
const ModulesDir = "/lib/modules"

// Module is a kernel module file to ship: its path relative to the
// release's directory, as modules.dep names it.
type Module struct {
	Name string   // the kernel's name: "overlay", "nf_tables"
	File string   // "kernel/fs/overlayfs/overlay.ko"
	Deps []string // the files it needs, as modules.dep lists them
}

// ModuleError is a kernel module that could not be resolved.
type ModuleError struct {
	Name string // the module asked for
	Dir  string // the release's directory
	Err  error
}

// Error names the module, the cause and the release directory.
func (e *ModuleError) Error() string {
	return fmt.Sprintf("module %s: %v (in %s)", e.Name, e.Err, e.Dir)
}

// Unwrap returns the cause.
func (e *ModuleError) Unwrap() error { return e.Err }

// Hint says where to look when a module is not found.
func (e *ModuleError) Hint() string {
	if errors.Is(e.Err, fs.ErrNotExist) {
		return "is the kernel's package installed? --kernel-release names the release; ls " + ModulesDir
	}
	return ""
}

// ErrNotModule is returned for a module the kernel has built in: there is
// no file to ship, and nothing to load.
var ErrNotModule = errors.New("built into the kernel")

// ResolveModules returns the modules called names and every module they
// depend on, each once, dependencies first, read from dir's modules.dep
// (dir is /lib/modules/RELEASE). Names may use - or _ and may carry a .ko
// suffix. A module built into the kernel (modules.builtin) is left out.
func ResolveModules(dir string, names []string) ([]Module, error) {
	dep, err := readModulesDep(dir)
	if err != nil {
		return nil, &ModuleError{Name: strings.Join(names, ","), Dir: dir, Err: err}
	}
	builtin := readModulesBuiltin(dir)
	var out []Module
	seen := map[string]bool{}
	var add func(name string, chain []string) error
	add = func(name string, chain []string) error {
		name = modName(name)
		if seen[name] {
			return nil
		}
		if len(chain) > 64 {
			return errors.New("dependency loop: " + strings.Join(chain, " -> "))
		}
		m, ok := dep[name]
		if !ok {
			if builtin[name] {
				seen[name] = true
				return ErrNotModule
			}
			return errors.New("not in modules.dep")
		}
		for _, d := range m.Deps {
			if err := add(d, append(chain, name)); err != nil && err != ErrNotModule {
				return fmt.Errorf("dependency %s: %w", modName(d), err)
			}
		}
		seen[name] = true
		out = append(out, m)
		return nil
	}
	for _, n := range names {
		if err := add(n, nil); err != nil && err != ErrNotModule {
			return nil, &ModuleError{Name: n, Dir: dir, Err: err}
		}
	}
	return out, nil
}

// readModulesDep parses modules.dep ("kernel/fs/x.ko: kernel/y.ko ...").
func readModulesDep(dir string) (map[string]Module, error) {
	b, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	m := map[string]Module{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		file, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n := modName(file)
		m[n] = Module{Name: n, File: file, Deps: strings.Fields(deps)}
	}
	return m, sc.Err()
}

// readModulesBuiltin reads the names in modules.builtin, if there is one.
func readModulesBuiltin(dir string) map[string]bool {
	b, _ := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	m := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		m[modName(l)] = true
	}
	return m
}

// modName is the kernel's name for a module: the file's base name without
// .ko and any compression suffix, with - as _.
func modName(s string) string {
	s = path.Base(s)
	if i := strings.Index(s, ".ko"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// shippedName is the file name a module gets in the image: a .ko.gz is
// decompressed here, since finit_module(2) decompresses only from Linux 6.2
// on; .ko.xz and .ko.zst are shipped as they are, for the kernel (with
// CONFIG_MODULE_DECOMPRESS) to decompress.
func shippedName(file string) string {
	return strings.TrimSuffix(file, ".gz")
}

// AddModules adds the modules called names, with their dependencies, from
// root/RELEASE (root is normally /lib/modules) to /lib/modules/RELEASE of
// the image, with a modules.dep naming only them, and lists names in
// /etc/modules for nsinit to load at boot.
func (p *Plan) AddModules(root, release string, names []string) error {
	dir := filepath.Join(root, release)
	mods, err := ResolveModules(dir, names)
	if err != nil {
		return err
	}
	guest := path.Join(ModulesDir, release)
	var dep, list strings.Builder
	for _, m := range mods {
		host := filepath.Join(dir, m.File)
		e := Entry{Name: path.Join(guest, shippedName(m.File)), Mode: 0o644}
		if strings.HasSuffix(m.File, ".gz") {
			data, err := gunzip(host)
			if err != nil {
				return &ModuleError{Name: m.Name, Dir: dir, Err: err}
			}
			e.Data = data
		} else {
			st, err := os.Stat(host)
			if err != nil {
				return &ModuleError{Name: m.Name, Dir: dir, Err: err}
			}
			e.Src, e.Size = host, st.Size()
		}
		p.Add(e)
		fmt.Fprintf(&dep, "%s:", shippedName(m.File))
		for _, d := range m.Deps {
			fmt.Fprintf(&dep, " %s", shippedName(d))
		}
		dep.WriteString("\n")
	}
	for _, n := range names {
		if _, ok := findModule(mods, modName(n)); ok {
			fmt.Fprintf(&list, "%s\n", modName(n))
		}
	}
	p.AddFile(path.Join(guest, "modules.dep"), []byte(dep.String()), 0o644)
	p.AddFile("etc/modules", []byte(list.String()), 0o644)
	return nil
}

func findModule(mods []Module, name string) (Module, bool) {
	for _, m := range mods {
		if m.Name == name {
			return m, true
		}
	}
	return Module{}, false
}

func gunzip(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", name, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", name, err)
	}
	return b, nil
}

// HostRelease is the running kernel's release (uname -r).
func HostRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
