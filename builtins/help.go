package builtins

import (
	"strings"
)

// interpBuiltins are the builtins the interpreter implements itself (bash
// syntax and semantics), listed by `help` after nsh's.
var interpBuiltins = strings.Fields(`: . [ alias break builtin cd command continue declare
	dirs echo eval exit export false getopts hash let local mapfile popd printf
	pushd pwd read readarray readonly return set shift shopt source test times
	trap true type typeset unalias unset wait`)

var helpBuiltin = Builtin{
	Name:     "help",
	Synopsis: "help [NAME...]",
	Summary:  "list the builtins, or describe one",
	Help: `Without NAME, lists nsh's builtins with a line each, then the shell
builtins the interpreter provides (bash syntax). With NAME, prints the
synopsis and description of that builtin, the same text as "NAME --help"
and the page docs/NAME.md.`,
	Flags: func(*FlagSet) {},
	Run:   runHelp,
}

// ShellBuiltins returns the names of the builtins the interpreter itself
// implements, such as cd and read, that nsh does not replace.
func ShellBuiltins() []string {
	var names []string
	for _, n := range interpBuiltins {
		if Lookup(n) == nil {
			names = append(names, n)
		}
	}
	return names
}

func runHelp(c *Call) int {
	if len(c.Args) == 0 {
		c.Printf("nsh builtins (NAME --help or help NAME for more):\n")
		for _, name := range Names() {
			c.Printf("  %-12s %s\n", name, registry[name].Summary)
		}
		c.Printf("\nShell builtins (bash syntax; help NAME for each):\n")
		line := " "
		for _, name := range ShellBuiltins() {
			if len(line)+len(name)+1 > 76 {
				c.Printf("%s\n", line)
				line = " "
			}
			line += " " + name
		}
		c.Printf("%s\n", line)
		return 0
	}
	status := 0
	for i, name := range c.Args {
		if i > 0 {
			c.Printf("\n")
		}
		if b := Lookup(name); b != nil {
			b.WriteHelp(c.Stdout)
			continue
		}
		if st := c.InterpBuiltin("help", name); st != 0 {
			status = st
		}
	}
	return status
}
