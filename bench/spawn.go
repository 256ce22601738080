package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/nsh-project/nsh/internal/bbroot"
)

// spawnScript is the nsh side of the spawn suite: the full spawn of issue
// 5 written as an nsh script, one primitive per line. ROOT and MNT are
// replaced by the busybox root and an empty mount point.
const spawnScript = `unshare -muinp
bind ROOT MNT
mount -t proc proc MNT/proc
pivot MNT
exec /bin/true
`

// spawnSuite times the full spawn of a container-like environment: new
// mount, pid, uts, ipc and net namespaces, a busybox root bound in, a fresh
// /proc, pivot_root (or chroot) and exec /bin/true, with each tool doing as
// nearly the same work as its flags allow.
func spawnSuite(e *env) {
	root := filepath.Join(e.tmp, "root")
	if err := bbroot.Build(root); err != nil {
		e.skip("spawn", "cannot build the busybox root: "+err.Error())
		return
	}
	mnt := filepath.Join(e.tmp, "mnt")
	script := filepath.Join(e.tmp, "spawn.nsh")
	text := strings.NewReplacer("ROOT", root, "MNT", mnt).Replace(spawnScript)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		e.skip("spawn", err.Error())
		return
	}
	if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
		e.skip("spawn", err.Error())
		return
	}

	nsh := &subject{name: "nsh script", argv: []string{e.nsh, script}, skip: e.why["nsh"]}
	bwrap := &subject{name: "bwrap", argv: []string{look("bwrap"),
		"--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
		"--bind", root, "/", "--proc", "/proc", "/bin/true"}}
	if bwrap.argv[0] == "" {
		bwrap.skip = notInstalled("bwrap")
	}
	uchroot := &subject{name: "unshare+chroot", argv: []string{look("unshare"), "-muinpf",
		"--mount-proc=" + root + "/proc", look("chroot"), root, "/bin/true"}}
	if uchroot.argv[0] == "" || uchroot.argv[3] == "" {
		uchroot.skip = notInstalled("unshare") + " or " + notInstalled("chroot")
	}
	subs := []*subject{nsh, bwrap, uchroot}
	var cleanups []func()
	for _, rt := range []string{"runc", "crun"} {
		s, cleanup := ociSubject(e, rt, root)
		subs = append(subs, s)
		if cleanup != nil {
			cleanups = append(cleanups, cleanup)
		}
	}
	defer func() {
		for _, c := range cleanups {
			c()
		}
	}()

	runs := e.count(50)
	measure(subs, runs, nil)
	t, notes := timeTable(subs, bwrap, uchroot)
	e.printf("Wall time of one spawn, %d interleaved runs each. The root is busybox-static\n", runs)
	e.printf("installed with symlinks (internal/bbroot); nothing is mounted on /dev.\n\n%s\n", t)
	printCommands(e, subs)
	e.printf("  nsh script $TMP/spawn.nsh:\n")
	for _, l := range strings.Split(strings.TrimSpace(strings.ReplaceAll(text, e.tmp, "$TMP")), "\n") {
		e.printf("      %s\n", l)
	}
	e.printf("  bwrap: --unshare-all would add a user and a cgroup namespace, so the four\n")
	e.printf("  namespaces are named instead (bwrap always makes a mount namespace).\n")
	e.printf("  runc/crun: `runc spec` with args [/bin/true], root $TMP/root read-write,\n")
	e.printf("  namespaces pid, network, ipc, uts, mount; mounts only /proc; no masked or\n")
	e.printf("  read-only paths; state in $TMP (--root). They still create the default\n")
	e.printf("  device nodes and a cgroup, which the others do not.\n")
	printSkips(e, notes)
}

// ociSubject prepares an OCI bundle for runtime rt ("runc" or "crun") on
// root and returns the subject that runs it, and a cleanup that deletes
// any container left behind. A runtime that is missing, or refuses this
// host, comes back skipped with the reason.
func ociSubject(e *env, rt, root string) (*subject, func()) {
	s := &subject{name: rt}
	bin := look(rt)
	if bin == "" {
		s.skip = notInstalled(rt)
		return s, nil
	}
	bundle := filepath.Join(e.tmp, rt+"-bundle")
	state := filepath.Join(e.tmp, rt+"-state")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		s.skip = err.Error()
		return s, nil
	}
	if err := writeOCIConfig(bundle, root, rt); err != nil {
		s.skip = err.Error()
		return s, nil
	}
	id := "nsh-bench-" + rt
	s.argv = []string{bin, "--root", state, "run", "--bundle", bundle, id}
	cleanup := func() {
		exec.Command(bin, "--root", state, "delete", "--force", id).Run()
	}
	if _, _, err := runOnce(s.argv, nil); err != nil {
		s.skip = fmt.Sprintf("%s does not run on this host: %v", rt, err)
	}
	return s, cleanup
}

// writeOCIConfig writes bundle/config.json: the runtime's own default spec
// (`runc spec`) trimmed to the spawn suite's work.
func writeOCIConfig(bundle, root, rt string) error {
	// runc's default spec serves crun too: both read the same format,
	// and one config keeps the two rows comparable.
	specBin := look("runc")
	if specBin == "" {
		specBin = look(rt)
	}
	cmd := exec.Command(specBin, "spec")
	cmd.Dir = bundle
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s spec: %v: %s", specBin, err, lastLine(string(out)))
	}
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	proc, _ := spec["process"].(map[string]any)
	linux, _ := spec["linux"].(map[string]any)
	if proc == nil || linux == nil {
		return fmt.Errorf("%s: no process or linux section", path)
	}
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	spec["root"] = map[string]any{"path": root, "readonly": false}
	spec["mounts"] = []map[string]any{{"destination": "/proc", "type": "proc", "source": "proc"}}
	var ns []map[string]string
	for _, t := range []string{"pid", "network", "ipc", "uts", "mount"} {
		ns = append(ns, map[string]string{"type": t})
	}
	linux["namespaces"] = ns
	linux["maskedPaths"] = []string{}
	linux["readonlyPaths"] = []string{}
	linux["cgroupsPath"] = "/nsh-bench-" + rt
	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}
