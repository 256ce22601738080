package builtins

import (
	"fmt"

	"mvdan.cc/sh/v3/syntax"
)

// Pos returns the position of the command being run in the program, as the
// interpreter reports it (the start of its syntax.CallExpr).
func (c *Call) Pos() syntax.Pos { return c.hc.Pos }

// continuation finds the statement running c in the program the shell
// runs, and returns the statements after it: what a copy made by
// `unshare`, `rfork` or `enter` without a command goes on with. The
// statement must be a plain top-level command; anywhere else (a function,
// loop, subshell, pipeline, && or || list, if, command substitution, the
// background) the rest of the script has no well-defined meaning in
// another process, and the error says why.
func continuation(c *Call) ([]*syntax.Stmt, error) {
	prog := c.Shell.Program()
	pos := c.Pos()
	if prog == nil || !pos.IsValid() {
		return nil, fmt.Errorf("not running a script: write `%s FLAGS -- CMD` instead", c.Name())
	}
	for i, st := range prog.Stmts {
		if !contains(st, pos) {
			continue
		}
		call, ok := st.Cmd.(*syntax.CallExpr)
		if ok && samePos(call.Pos(), pos) && callsName(call, c.Name()) {
			switch {
			case st.Background:
				return nil, c.whereError("in the background (&)")
			case st.Negated:
				return nil, c.whereError("after !")
			case st.Coprocess:
				return nil, c.whereError("as a coprocess")
			}
			return prog.Stmts[i+1:], nil
		}
		return nil, c.whereError(describe(st.Cmd))
	}
	// Not within any top-level statement: the body of a function defined
	// earlier (in another program, such as an earlier interactive line).
	return nil, c.whereError("inside a function or a sourced file")
}

// callsName reports whether call is `name ...`, `builtin name ...` or
// `command name ...`: a statement of a sourced file can have the same
// position as one of the script.
func callsName(call *syntax.CallExpr, name string) bool {
	var words []string
	for _, w := range call.Args {
		lit := w.Lit()
		if lit == "" {
			break
		}
		words = append(words, lit)
		if len(words) == 2 {
			break
		}
	}
	switch {
	case len(words) > 0 && words[0] == name:
		return true
	case len(words) == 2 && (words[0] == "builtin" || words[0] == "command"):
		return words[1] == name
	}
	return false
}

func (c *Call) whereError(where string) error {
	return fmt.Errorf("without a command, %s must be a statement of its own at the top level of the script, not %s: the rest of the script runs in a new process and cannot return here; write `%s FLAGS -- CMD` to run one command in the new namespaces",
		c.Name(), where, c.Name())
}

func describe(cmd syntax.Command) string {
	switch cmd := cmd.(type) {
	case *syntax.FuncDecl:
		return "inside a function (" + cmd.Name.Value + ")"
	case *syntax.ForClause, *syntax.WhileClause:
		return "inside a loop"
	case *syntax.Subshell:
		return "in a subshell"
	case *syntax.Block:
		return "inside a { } group"
	case *syntax.IfClause:
		return "inside an if"
	case *syntax.CaseClause:
		return "inside a case"
	case *syntax.BinaryCmd:
		switch cmd.Op {
		case syntax.Pipe, syntax.PipeAll:
			return "in a pipeline"
		}
		return "in an && or || list"
	case *syntax.CallExpr:
		if callsName(cmd, "source") || callsName(cmd, ".") {
			return "in a sourced file"
		}
		return "in a command substitution"
	case *syntax.DeclClause:
		return "in a command substitution"
	}
	return "inside a compound command"
}

func contains(n syntax.Node, p syntax.Pos) bool {
	s, e := n.Pos(), n.End()
	return s.Offset() <= p.Offset() && p.Offset() < e.Offset()
}

func samePos(a, b syntax.Pos) bool {
	return a.Offset() == b.Offset() && a.Line() == b.Line() && a.Col() == b.Col()
}
