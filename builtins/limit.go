package builtins

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsh-project/nsh/limits"
)

var limitBuiltin = Builtin{
	Name: "limit",
	Synopsis: "limit [-n] [-g NAME] KEY=VALUE... [-- COMMAND [ARG...]]\n" +
		"limit [-j] [-g NAME]\n" +
		"limit [-g NAME] freeze|thaw|kill",
	Summary: "set resource limits: cgroups (v2, v1, hybrid), rlimits, OOM score",
	Help: `Sets resource limits, choosing the mechanism for each key: cgroup keys
go to the cgroup hierarchy that serves their controller (cgroup v2, v1, or
either on a hybrid host), rlimit keys to prlimit(2), oom_score_adj to /proc.

Without COMMAND the limits apply to every command the shell runs
afterwards: rlimits and oom_score_adj are set on the shell process, which
the commands inherit; the first cgroup key makes a group, nsh-PID or NAME,
under the cgroup the shell is in, and each command starts inside it (the
shell itself waits beside it, in NAME.shell, so that it survives the
limits). Later lines change the group's limits. With COMMAND they apply to
COMMAND only: it starts inside a new cgroup (nsh-PID-N or NAME) nested in
the shell's group, which is removed, with anything COMMAND left running in
it, when COMMAND ends. Either every key of a line is applied or none is.

cgroup keys: memory= memory.high= swap= (on top of memory) cpu=50% or
cpu=QUOTA/PERIOD (microseconds) or cpu=max, cpu.weight=1..10000, cpus=LIST,
mems=LIST, pids=N|max, io.weight=1..10000,
io.max=MAJ:MIN:rbps=N,wbps=N,riops=N,wiops=N, hugetlb.SIZE= (2MB, 1GB).
rlimit keys, SOFT[:HARD] or unlimited: nofile nproc core stack as data
fsize memlock cputime nice rtprio msgqueue. Also oom_score_adj=-1000..1000.
Sizes take K M G T (binary) or bytes; max or unlimited lifts a limit.

Without keys, prints the limits and usage of the shell's cgroup and its
rlimits, one KEY=VALUE per line: "limit $(limit)" sets them again (usage
keys are read-only and skipped). "freeze", "thaw" and "kill" act on the
shell's group, or on the group NAME: every process in it.

A command killed by the memory limit is reported as
"COMMAND: killed: out of memory (memory=32M)". The cgroups made are removed
when the shell exits. See docs/limit.md for the v1/v2 translations.

Exit status: COMMAND's; 2 for a key or value that does not parse; 1 when
the host cannot apply a limit (controller missing, cpu=150% on one cpu, a
write refused).`,
	Flags: func(fs *FlagSet) {
		fs.String('g', "group", "NAME", "", "name of the cgroup to make, join or act on")
		fs.Bool('j', "json", "print the limits as JSON")
		fs.Bool('n', "dry-run", "print the cgroup writes a line would make, and make none")
	},
	Run: runLimit,
}

func runLimit(c *Call) int {
	name := c.Opts.GetString("group")
	if strings.HasPrefix(name, "-") || strings.Contains("/"+name+"/", "/../") {
		return c.Usagef("bad group name %q", name)
	}
	words, cmd := c.Args, []string(nil)
	if i := slices.Index(words, "--"); i >= 0 {
		words, cmd = words[:i], words[i+1:]
		if len(cmd) == 0 {
			return c.Usagef("a command is needed after --")
		}
	} else if len(words) > 0 && !strings.Contains(words[0], "=") && !isLimitVerb(words[0]) {
		// "limit -- CMD": the option parser took the "--".
		words, cmd = nil, words
	}
	l, err := limits.Shell()
	if err != nil {
		return c.Fail(err)
	}
	if len(words) == 1 && isLimitVerb(words[0]) && cmd == nil {
		return limitVerb(c, l, words[0], name)
	}
	settings, err := limits.Parse(words)
	if err != nil {
		return limitFail(c, err)
	}
	switch {
	case c.Opts.GetBool("dry-run"):
		plan, err := l.Host().Plan(settings, nil)
		if err != nil {
			return limitFail(c, err)
		}
		c.Printf("# cgroups: %s\n", l.Host().Mode())
		for _, w := range plan.Writes {
			c.Printf("%s\n", w)
		}
		for _, s := range plan.Rlimits {
			c.Printf("prlimit %s\n", s)
		}
		if plan.OOMScore != nil {
			c.Printf("oom_score_adj %s\n", plan.OOMScore.Value)
		}
		return 0
	case cmd != nil:
		return limitCommand(c, l, settings, name, cmd)
	case len(settings) == 0:
		var g *limits.Group
		if name != "" {
			if g, err = l.Lookup(name); err != nil {
				return limitFail(c, err)
			}
		}
		return limitReport(c, l.Report(g))
	}
	if err := l.Set(settings, name); err != nil {
		return limitFail(c, err)
	}
	return 0
}

func isLimitVerb(w string) bool { return w == "freeze" || w == "thaw" || w == "kill" }

// limitFail reports err: 2 for a limit that does not parse, 1 otherwise.
func limitFail(c *Call, err error) int {
	var ue *limits.UsageError
	if errors.As(err, &ue) {
		return c.Usagef("%v", err)
	}
	return c.Fail(err)
}

func limitVerb(c *Call, l *limits.Limiter, verb, name string) int {
	g, err := l.Lookup(name)
	if err != nil {
		return limitFail(c, err)
	}
	if l.Holds(g) {
		return c.Failf("%s %s: the shell is in that group; it would %s itself", verb, name, map[string]string{"freeze": "stop", "thaw": "thaw", "kill": "kill"}[verb])
	}
	switch verb {
	case "freeze":
		err = g.Freeze(true)
	case "thaw":
		err = g.Freeze(false)
	case "kill":
		err = g.Kill()
	}
	if err != nil {
		return c.Fail(err)
	}
	return 0
}

func limitReport(c *Call, kvs []limits.KV) int {
	if !c.Opts.GetBool("json") {
		for _, kv := range kvs {
			c.Printf("%s\n", kv)
		}
		return 0
	}
	lim, st := map[string]any{}, map[string]any{}
	for _, kv := range kvs {
		m := lim
		if kv.Stat {
			m = st
		}
		if old, ok := m[kv.Key].(string); ok {
			m[kv.Key] = old + " " + kv.Value // io.max of several devices
		} else {
			m[kv.Key] = kv.Value
		}
	}
	out, _ := json.MarshalIndent(map[string]any{"limits": lim, "usage": st}, "", "  ")
	c.Printf("%s\n", out)
	return 0
}

// limitCommand runs a command in a cgroup of its own and reports how it
// ended as the shell does, naming an OOM kill.
func limitCommand(c *Call, l *limits.Limiter, settings []limits.Setting, name string, args []string) int {
	path, status := lookCommand(c.hc, args[0])
	if status != 0 {
		return status
	}
	cmd := &exec.Cmd{Path: path, Args: args, Env: environ(c.Env), Dir: c.Dir,
		Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr}
	var (
		g    *limits.Group
		ws   syscall.WaitStatus
		werr error
	)
	c.Shell.foreground.Add(1)
	defer c.Shell.foreground.Add(-1)
	if pid1Reaper != nil {
		// PID 1 of a pid namespace: the reaper starts and waits.
		var place func(int) error
		var err error
		if g, place, err = l.Prepare(settings, name, cmd); err != nil {
			return limitFail(c, err)
		}
		p, err := pid1Reaper.Start(cmd)
		if err != nil {
			place(0)
			l.Remove(g)
			fmt.Fprintf(c.Stderr, "nsh: %s: %v\n", args[0], unwrapExec(err))
			return 126
		}
		if err := place(p.Pid); err != nil {
			p.Signal(unix.SIGKILL)
			p.Wait()
			l.Remove(g)
			return c.Fail(err)
		}
		select {
		case <-p.Done():
		case <-c.Ctx.Done():
			p.Signal(unix.SIGTERM)
			select {
			case <-p.Done():
			case <-time.After(killDelay):
				p.Signal(unix.SIGKILL)
			}
		}
		e, err := p.Wait()
		ws, werr = syscall.WaitStatus(e.Status), err
	} else {
		var err error
		if g, err = l.Start(settings, name, cmd); err != nil {
			var le *limits.Error
			var ue *limits.UnavailableError
			var se *limits.UsageError
			if errors.As(err, &le) || errors.As(err, &ue) || errors.As(err, &se) {
				return limitFail(c, err)
			}
			// The command could not be started (exec.Cmd.Start).
			fmt.Fprintf(c.Stderr, "nsh: %s: %v\n", args[0], unwrapExec(err))
			return 126
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-c.Ctx.Done():
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(killDelay):
					cmd.Process.Kill()
				}
			}
		}()
		werr = cmd.Wait()
		close(done)
		var xe *exec.ExitError
		if werr == nil || errors.As(werr, &xe) {
			ws, werr = cmd.ProcessState.Sys().(syscall.WaitStatus), nil
		}
	}
	why := ""
	if werr == nil && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		why = g.Explain()
	}
	if err := l.Remove(g); err != nil {
		c.Fail(err)
	}
	if werr != nil {
		return c.Fail(werr)
	}
	if ws.Signaled() {
		sig := ws.Signal()
		switch {
		case why != "":
			fmt.Fprintf(c.Stderr, "nsh: %s: killed: %s\n", args[0], why)
		case sig != syscall.SIGINT && sig != syscall.SIGPIPE:
			fmt.Fprintf(c.Stderr, "nsh: %s: killed by %s\n", args[0], unix.SignalName(sig))
		}
		return 128 + int(sig)
	}
	return ws.ExitStatus()
}
