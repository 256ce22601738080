package builtins

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

var umaskBuiltin = Builtin{
	Name:     "umask",
	Synopsis: "umask [-p] [-S] [MODE]",
	Summary:  "print or set the file mode creation mask",
	Help: `Sets the file mode creation mask of the shell process, which every
command started afterwards inherits, to MODE: an octal number (022) or a
symbolic mode as chmod(1) takes it, naming the permissions to allow
(u=rwx,g=rx,o= is 027; g-w adds write for the group to the mask).
Without MODE, prints the mask.

The mask is per process (umask(2)): it is part of what "unshare" carries
into the new namespaces.`,
	Flags: func(fs *FlagSet) {
		fs.Bool('S', "", "print the mask symbolically, as the permissions allowed")
		fs.Bool('p', "", "print in a form that can be reused as input")
	},
	Run: runUmask,
}

func runUmask(c *Call) int {
	if len(c.Args) > 1 {
		return c.Usagef("too many arguments")
	}
	old := unix.Umask(0)
	unix.Umask(old)
	if len(c.Args) == 0 {
		out := fmt.Sprintf("%04o", old)
		if c.Opts.GetBool("S") {
			out = symbolicMode(0o777 &^ uint32(old))
		}
		if c.Opts.GetBool("p") {
			out = "umask " + map[bool]string{true: "-S ", false: ""}[c.Opts.GetBool("S")] + out
		}
		c.Printf("%s\n", out)
		return 0
	}
	mask, err := parseUmask(c.Args[0], uint32(old))
	if err != nil {
		return c.Usagef("%v", err)
	}
	unix.Umask(int(mask))
	if c.Opts.GetBool("S") {
		c.Printf("%s\n", symbolicMode(0o777&^mask))
	}
	return 0
}

// parseUmask reads an octal mask or a symbolic mode applied to the
// permissions the old mask allows.
func parseUmask(s string, old uint32) (uint32, error) {
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		n, err := strconv.ParseUint(s, 8, 32)
		if err != nil || n > 0o777 {
			return 0, fmt.Errorf("%s: octal number out of range (000 to 777)", s)
		}
		return uint32(n), nil
	}
	perm := 0o777 &^ old
	for _, clause := range strings.Split(s, ",") {
		i := 0
		var who uint32
		for ; i < len(clause) && strings.IndexByte("ugoa", clause[i]) >= 0; i++ {
			who |= map[byte]uint32{'u': 0o700, 'g': 0o070, 'o': 0o007, 'a': 0o777}[clause[i]]
		}
		if who == 0 {
			who = 0o777
		}
		if i == len(clause) {
			return 0, fmt.Errorf("%s: invalid symbolic mode: %q has no operator (+, - or =)", s, clause)
		}
		for i < len(clause) {
			op := clause[i]
			if op != '+' && op != '-' && op != '=' {
				return 0, fmt.Errorf("%s: invalid symbolic mode: unexpected %q", s, op)
			}
			i++
			var bits uint32
			for ; i < len(clause) && strings.IndexByte("rwx", clause[i]) >= 0; i++ {
				bits |= map[byte]uint32{'r': 0o444, 'w': 0o222, 'x': 0o111}[clause[i]]
			}
			switch op {
			case '+':
				perm |= bits & who
			case '-':
				perm &^= bits & who
			case '=':
				perm = perm&^who | bits&who
			}
		}
	}
	return 0o777 &^ perm, nil
}

// symbolicMode prints permissions as "u=rwx,g=rx,o=rx".
func symbolicMode(perm uint32) string {
	var parts []string
	for i, who := range []string{"u", "g", "o"} {
		bits := perm >> (6 - 3*i) & 7
		p := who + "="
		for j, r := range "rwx" {
			if bits&(4>>j) != 0 {
				p += string(r)
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}
