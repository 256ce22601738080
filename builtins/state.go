package builtins

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// shellState is what a copy needs to go on as the shell that started it.
// The interpreter has no API to save itself, so the state is taken from
// its exported parts (the environment with attributes, Funcs, Dir, Params)
// and from what `set +o` and `alias` print, which replay as commands.
type shellState struct {
	// Vars are the variables with their attributes: strings, indexed and
	// associative arrays, exported, readonly.
	Vars map[string]expand.Variable
	// Funcs are the function bodies, printed.
	Funcs map[string]string
	// Prelude replays what has no other way in: aliases, the set and
	// shopt options, and IFS (which a Runner's reset overwrites).
	Prelude string
	Dir     string
	Params  []string
	// Arg0 is $0.
	Arg0 string
	// Rest is the rest of the program, printed: the statements after the
	// one that made the copy.
	Rest        string
	Interactive bool
	// Depth is the value of NSH_DEPTH in the copy.
	Depth int
}

// notCarried are variables the interpreter sets itself on reset, from the
// copy's own process (its uid and gid may differ in a user namespace).
var notCarried = map[string]bool{"UID": true, "EUID": true, "GID": true, "PWD": true, "OPTIND": true}

// snapshot takes the state of the shell running c; rest are the
// statements still to run.
func snapshot(c *Call, rest []*syntax.Stmt) (*shellState, error) {
	st := &shellState{
		Vars:        map[string]expand.Variable{},
		Funcs:       map[string]string{},
		Dir:         c.Dir,
		Params:      append([]string{}, c.Shell.Runner.Params...),
		Interactive: c.Shell.Interactive,
		Depth:       nshDepth() + 1,
	}
	if p := c.Shell.Program(); p != nil {
		st.Arg0 = p.Name
	}
	for name, vr := range c.Env.Each {
		st.Vars[name] = vr // a later entry (the shell's) wins over the environment's
	}
	for name, vr := range st.Vars {
		if !vr.Declared() || vr.Local || notCarried[name] {
			delete(st.Vars, name)
		}
	}
	st.Vars["NSH_DEPTH"] = expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: strconv.Itoa(st.Depth)}

	printer := syntax.NewPrinter()
	for name, body := range c.Shell.Runner.Funcs {
		var b bytes.Buffer
		if err := printer.Print(&b, body); err != nil {
			return nil, fmt.Errorf("print function %s: %w", name, err)
		}
		st.Funcs[name] = b.String()
	}
	var b bytes.Buffer
	if err := printer.Print(&b, &syntax.File{Stmts: rest}); err != nil {
		return nil, fmt.Errorf("print the rest of the script: %w", err)
	}
	st.Rest = b.String()

	// Options and aliases, as the interpreter prints them (`set +o`,
	// `shopt`, `alias`), from a copy of the runner with its own output.
	var prelude bytes.Buffer
	sub := c.Shell.Runner.Subshell()
	if err := interp.StdIO(nil, &prelude, io.Discard)(sub); err != nil {
		return nil, err
	}
	prog, err := syntax.NewParser().Parse(strings.NewReader("alias\nset +o\nshopt\n"), "")
	if err != nil {
		return nil, err
	}
	if err := sub.Run(c.Ctx, prog); err != nil {
		return nil, fmt.Errorf("read the shell's options: %w", err)
	}
	// Tracing is switched on last, so that the replay itself is not traced.
	lines := strings.Split(prelude.String(), "\n")
	var out []string
	trace := false
	for _, l := range lines {
		name, state, isShopt := strings.Cut(l, "\t")
		switch {
		case l == "":
		case l == "set -o xtrace":
			trace = true
		case isShopt && state == "on":
			out = append(out, "shopt -s "+name)
		case isShopt && state == "off":
			out = append(out, "shopt -u "+name)
		case isShopt:
			// An option the interpreter lists but does not support
			// changing: it is as the copy's interpreter has it.
		default:
			out = append(out, l)
		}
	}
	if ifs, ok := st.Vars["IFS"]; ok && ifs.Kind == expand.String && ifs.Str != " \t\n" {
		q, err := syntax.Quote(ifs.Str, syntax.LangBash)
		if err == nil {
			out = append(out, "IFS="+q)
		}
	}
	if trace {
		out = append(out, "set -o xtrace")
	}
	st.Prelude = strings.Join(out, "\n") + "\n"
	return st, nil
}

// mapEnviron is a read-only environment made of restored variables: the
// parent environment of the copy's interpreter, so that every variable
// keeps its kind and attributes (a readonly variable stays readonly).
type mapEnviron map[string]expand.Variable

func (m mapEnviron) Get(name string) expand.Variable { return m[name] }

func (m mapEnviron) Each(f func(name string, vr expand.Variable) bool) {
	for name, vr := range m {
		if !f(name, vr) {
			return
		}
	}
}

// restore builds the shell described by st, with the copy's standard
// streams, and returns it with the rest of the program to run.
func restore(st *shellState, stdin *os.File, stdout, stderr io.Writer) (*Shell, *syntax.File, error) {
	if st.Vars == nil {
		st.Vars = map[string]expand.Variable{}
	}
	// The process starts wherever the original forked it from (for enter,
	// a directory of the original's /proc): it moves to the shell's
	// directory, or to / when that does not exist in the new namespaces.
	if err := os.Chdir(st.Dir); err != nil {
		fmt.Fprintf(stderr, "nsh: %s: %v; going on in /\n", st.Dir, unwrapExec(err))
		st.Dir = "/"
		if err := os.Chdir("/"); err != nil {
			return nil, nil, fmt.Errorf("chdir /: %w", err)
		}
	}
	sh, err := New(Options{
		Interactive: st.Interactive,
		Stdin:       stdin,
		Stdout:      stdout,
		Stderr:      stderr,
		Params:      append([]string{"--"}, st.Params...),
		Env:         mapEnviron(st.Vars),
		Dir:         st.Dir,
	})
	if err != nil {
		return nil, nil, err
	}
	r := sh.Runner
	r.Reset()
	parser := syntax.NewParser()
	for name, src := range st.Funcs {
		f, err := parser.Parse(strings.NewReader(src), name)
		if err != nil || len(f.Stmts) != 1 {
			return nil, nil, fmt.Errorf("restore function %s: %v", name, err)
		}
		if r.Funcs == nil {
			r.Funcs = map[string]*syntax.Stmt{}
		}
		r.Funcs[name] = f.Stmts[0]
	}
	prelude, err := parser.Parse(strings.NewReader(st.Prelude), "prelude")
	if err != nil {
		return nil, nil, fmt.Errorf("restore options and aliases: %w", err)
	}
	for _, stmt := range prelude.Stmts {
		if err := r.Run(context.Background(), stmt); err != nil {
			return nil, nil, fmt.Errorf("restore %q: %w", printNode(stmt), err)
		}
	}
	rest, err := parser.Parse(strings.NewReader(st.Rest), st.Arg0)
	if err != nil {
		return nil, nil, fmt.Errorf("parse the rest of the script: %w", err)
	}
	rest.Name = st.Arg0
	return sh, rest, nil
}

func printNode(n syntax.Node) string {
	var b bytes.Buffer
	syntax.NewPrinter().Print(&b, n)
	return strings.TrimSpace(b.String())
}

// nshDepth is how many shells deep this one is: NSH_DEPTH, 1 when unset.
func nshDepth() int {
	n, err := strconv.Atoi(os.Getenv("NSH_DEPTH"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}
