package builtins

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/syntax"

	"github.com/nsh-project/nsh/sig"
)

var unshareBuiltin = Builtin{
	Name: "unshare",
	Synopsis: `unshare [-muinpUCT] [-r] [--map-user=UID] [--map-group=GID] [--map-users=IN:OUT:N] [--map-groups=IN:OUT:N] [--setgroups=allow|deny] [--propagation=MODE] [--mount-proc[=DIR]] [--kill-child[=SIG]] [--no-init]
unshare [OPTIONS] -- CMD [ARG...]`,
	Summary: "run the rest of the script, or one command, in new namespaces",
	Help: `Creates new namespaces of the types given, as unshare(1) does.

With CMD, CMD runs in them; the shell waits and returns its status. With
-p, CMD runs under a small PID 1 (nsh, with the reaper nsinit uses) that
reaps orphans and forwards signals, unless --no-init: then CMD is PID 1.
A CMD that is an nsh builtin or a function of the script runs in a copy of
the shell, with its state ("unshare -n -- setup_net").

Without CMD, the rest of the script runs in the new namespaces, with
everything the script had: variables (strings, indexed and associative
arrays, exported and readonly), functions, set options (-e -u -x -o
pipefail), positional parameters, $0, working directory, umask, aliases.
nsh does this by starting a copy of itself in the namespaces and handing it
the state; the original process waits, forwards the signals it receives,
and ends with the copy's status (128+N if the copy was killed by signal N).
If the original dies, the copy is killed. In an interactive session a
nested session opens in the namespaces (the prompt shows the depth, as
nsh[2]#); "exit" returns to the outer one. Without CMD, unshare must be a
statement of its own at the top level of the script: inside a function,
loop, subshell, pipeline, && or || list, or if it is a usage error (exit
2); write "unshare FLAGS -- CMD" there.

-m makes / recursively private (nothing mounted afterwards reaches the
host) unless --propagation says otherwise. -n brings lo up. -p makes the
shell PID 1 of the new pid namespace ("echo $$" prints 1); it reaps
orphans. --mount-proc mounts a fresh /proc (it implies -m).

As a non-root user, any namespace comes with a new user namespace mapping
you to root (-r), so that "unshare -m" then "mount" works. Mapping more
than your own id (--map-users, --map-groups) uses newuidmap(1) and
newgidmap(1), and fails with a hint when they are missing.

A type given as --TYPE=FILE (--net=/run/netns/box) keeps the namespace
alive after its processes end, bind-mounted on FILE (created if missing;
a mount namespace file must be on a private mount). "umount FILE" releases
it.

Acts on: a new process (the copy), which goes on with the script or runs
CMD. The shell itself is never moved.`,
	Flags: func(fs *FlagSet) {
		for _, t := range flagOrder() {
			fs.Bool(t.short, "", "new "+t.what+" namespace")
			fs.Optional(0, t.long, "FILE", "", "the same; with FILE, the namespace is kept bound on FILE")
		}
		fs.Bool('r', "map-root-user", "map your user and group to root in a new user namespace")
		fs.String(0, "map-user", "UID", "", "map your user to UID in a new user namespace")
		fs.String(0, "map-group", "GID", "", "map your group to GID in a new user namespace")
		fs.List(0, "map-users", "IN:OUT:N", "map N users from OUT to IN (repeatable; newuidmap if not root)")
		fs.List(0, "map-groups", "IN:OUT:N", "map N groups from OUT to IN (repeatable; newgidmap if not root)")
		fs.String(0, "setgroups", "allow|deny", "", "allow or deny setgroups(2) in the new user namespace")
		fs.String(0, "propagation", "MODE", "private", "propagation of / in a new mount namespace: private, slave, shared, unchanged")
		fs.Optional(0, "mount-proc", "DIR", "/proc", "mount a new proc on DIR (default /proc); implies -m")
		fs.Optional(0, "kill-child", "SIG", "KILL", "the signal the copy gets when the shell dies (default KILL, always set)")
		fs.Bool(0, "no-init", "with -p and CMD, make CMD PID 1 (no reaping init)")
		fs.Bool('f', "fork", "accepted for util-linux compatibility: nsh always forks")
	},
	Run: runUnshare,
}

func runUnshare(c *Call) int {
	spec := &copySpec{nsFiles: map[string]string{}}
	var flags uintptr
	for _, t := range nsTypes {
		if c.Opts.GetBool(string(t.short)) {
			flags |= t.flag
		}
		if c.Opts.Changed(t.long) {
			flags |= t.flag
			if f := c.Opts.GetString(t.long); f != "" {
				spec.nsFiles[t.name] = f
			}
		}
	}
	setup := copySetup{Umask: currentUmask()}
	if c.Opts.Changed("mount-proc") {
		flags |= unix.CLONE_NEWNS
		setup.MountProc = c.Opts.GetString("mount-proc")
	}
	if flags&unix.CLONE_NEWNS != 0 {
		switch p := c.Opts.GetString("propagation"); p {
		case "private":
			setup.Propagation = unix.MS_PRIVATE
		case "slave":
			setup.Propagation = unix.MS_SLAVE
		case "shared":
			setup.Propagation = unix.MS_SHARED
		case "unchanged":
		default:
			return c.Usagef("invalid --propagation %q: want private, slave, shared or unchanged", p)
		}
	}
	setup.LoUp = flags&unix.CLONE_NEWNET != 0
	if c.Opts.Changed("kill-child") {
		s, err := sig.Parse(c.Opts.GetString("kill-child"))
		if err != nil || s == 0 {
			return c.Usagef("--kill-child: %v", err)
		}
		spec.attr.Pdeathsig = s
	}
	if err := userMaps(c, &flags, spec); err != nil {
		return c.Usagef("%v", err)
	}
	if flags&unix.CLONE_NEWUSER != 0 && spec.newuidmap == nil && spec.newgidmap == nil &&
		os.Geteuid() != 0 && c.Opts.GetString("setgroups") == "allow" {
		return c.Usagef("--setgroups=allow: an unprivileged user can map groups only with setgroups denied (use --map-groups, which uses newgidmap)")
	}
	spec.attr.Cloneflags = flags
	return startCopy(c, spec, setup, c.Args, flags&unix.CLONE_NEWPID != 0 && !c.Opts.GetBool("no-init"))
}

// flagOrder lists the namespace types in util-linux's order for --help.
func flagOrder() []nsType {
	var out []nsType
	for _, short := range "muinpUCT" {
		for _, t := range nsTypes {
			if t.short == short {
				out = append(out, t)
			}
		}
	}
	return out
}

// userMaps works out the user namespace and its maps from the options: a
// non-root user always gets one (rootless), mapping it to root unless said
// otherwise.
func userMaps(c *Call, flags *uintptr, spec *copySpec) error {
	uid, gid := os.Geteuid(), os.Getegid()
	var uidMaps, gidMaps []idMap
	mapRoot := c.Opts.GetBool("r")
	if mapRoot {
		uidMaps = append(uidMaps, idMap{0, uid, 1})
		gidMaps = append(gidMaps, idMap{0, gid, 1})
	}
	if v := c.Opts.GetString("map-user"); v != "" {
		n, err := parseID(v, "/etc/passwd")
		if err != nil {
			return fmt.Errorf("--map-user: %v", err)
		}
		uidMaps = []idMap{{n, uid, 1}}
		if gidMaps == nil && !c.Opts.Changed("map-group") {
			gidMaps = []idMap{{n, gid, 1}}
		}
	}
	if v := c.Opts.GetString("map-group"); v != "" {
		n, err := parseID(v, "/etc/group")
		if err != nil {
			return fmt.Errorf("--map-group: %v", err)
		}
		gidMaps = []idMap{{n, gid, 1}}
	}
	for _, s := range c.Opts.GetList("map-users") {
		m, err := parseIDMap(s)
		if err != nil {
			return fmt.Errorf("--map-users: %v", err)
		}
		uidMaps = append(uidMaps, m)
	}
	for _, s := range c.Opts.GetList("map-groups") {
		m, err := parseIDMap(s)
		if err != nil {
			return fmt.Errorf("--map-groups: %v", err)
		}
		gidMaps = append(gidMaps, m)
	}
	// Rootless: a non-root user is mapped to root where the options map
	// nothing else.
	if uid != 0 && (*flags != 0 || uidMaps != nil || gidMaps != nil) {
		if uidMaps == nil {
			uidMaps, mapRoot = []idMap{{0, uid, 1}}, true
		}
		if gidMaps == nil {
			gidMaps = []idMap{{0, gid, 1}}
		}
	}
	if uidMaps != nil || gidMaps != nil {
		*flags |= unix.CLONE_NEWUSER
	}
	if *flags&unix.CLONE_NEWUSER == 0 {
		return nil
	}
	setgroups := c.Opts.GetString("setgroups")
	switch setgroups {
	case "", "allow", "deny":
	default:
		return fmt.Errorf("invalid --setgroups %q: want allow or deny", setgroups)
	}
	// root writes any map itself; others only their own id, and need the
	// setuid helpers for more.
	if uid == 0 || (onlySelf(uidMaps, uid) || uidMaps == nil) && (onlySelf(gidMaps, gid) || gidMaps == nil) {
		spec.attr.UidMappings = sysMaps(uidMaps)
		spec.attr.GidMappings = sysMaps(gidMaps)
		spec.attr.GidMappingsEnableSetgroups = setgroups == "allow" || (setgroups == "" && uid == 0 && !mapRoot)
		return nil
	}
	spec.newuidmap, spec.newgidmap = uidMaps, gidMaps
	if setgroups == "deny" {
		return fmt.Errorf("--setgroups=deny with --map-users/--map-groups: newgidmap decides setgroups")
	}
	spec.plan.Reexec = true
	return nil
}

// currentUmask reads the process's umask (umask(2) can only read it by
// setting it).
func currentUmask() int {
	old := unix.Umask(0o22)
	unix.Umask(old)
	return old
}

// startCopy starts the copy for unshare, rfork or enter. With argv, the
// copy runs it (under a reaping init when init is set); without, the
// call must be a top-level statement and the copy resumes the shell with
// the rest of the program, which this shell then does not run.
func startCopy(c *Call, spec *copySpec, setup copySetup, argv []string, init bool) int {
	spec.plan.Name = c.Name()
	spec.plan.Setup = setup
	env := environ(c.Env)
	if len(argv) > 0 && (Lookup(argv[0]) != nil || c.Shell.Runner.Funcs[argv[0]] != nil) {
		// An nsh builtin or a function of the script: the copy is a shell
		// with the script's state that runs just that command.
		return runShellCommand(c, spec, argv)
	}
	if len(argv) > 0 {
		spec.plan.Argv = argv
		spec.plan.Env = env
		spec.plan.Dir = c.Dir
		spec.plan.Init = init
		spec.env = env
		status, err := runCopy(c, spec)
		if err != nil {
			return c.Fail(err)
		}
		return status
	}
	rest, err := continuation(c)
	if err != nil {
		return c.Usagef("%v", err)
	}
	st, err := snapshot(c, rest)
	if err != nil {
		return c.Fail(err)
	}
	if spec.clearEnv {
		for name, vr := range st.Vars {
			if vr.Exported && name != "NSH_DEPTH" {
				delete(st.Vars, name)
			}
		}
		env = nil
	}
	if spec.dir != "" {
		st.Dir = spec.dir
	}
	spec.plan.State = st
	spec.env = withVar(env, "NSH_DEPTH", strconv.Itoa(st.Depth))
	status, err := runCopy(c, spec)
	if err != nil {
		// The rest of the script must not run outside the namespaces it
		// was written for (its mounts would reach the host): a script
		// ends here; an interactive session stays where it is.
		c.Fail(err)
		if !c.Shell.Interactive {
			c.Shell.Exit(1)
		}
		return 1
	}
	if c.Shell.Interactive {
		// The nested session ran the rest of the line: stop it here and
		// go back to the prompt with the session's status.
		c.Shell.EndLine(status)
		return status
	}
	c.Shell.Exit(status)
	return status
}

// runShellCommand runs argv, a builtin or function, in a copy that has the
// shell's state, and returns its status.
func runShellCommand(c *Call, spec *copySpec, argv []string) int {
	words := make([]string, len(argv))
	for i, a := range argv {
		q, err := syntax.Quote(a, syntax.LangBash)
		if err != nil {
			return c.Usagef("%q cannot be quoted: %v", a, err)
		}
		words[i] = q
	}
	prog, err := syntax.NewParser().Parse(strings.NewReader(strings.Join(words, " ")), "")
	if err != nil {
		return c.Fail(err)
	}
	st, err := snapshot(c, prog.Stmts)
	if err != nil {
		return c.Fail(err)
	}
	st.Interactive = false
	spec.plan.State = st
	spec.env = withVar(environ(c.Env), "NSH_DEPTH", strconv.Itoa(st.Depth))
	status, err := runCopy(c, spec)
	if err != nil {
		return c.Fail(err)
	}
	return status
}

// withVar sets NAME=value in an environment list.
func withVar(env []string, name, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}
