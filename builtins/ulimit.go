package builtins

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nsh-project/nsh/limits"
)

var ulimitBuiltin = Builtin{
	Name:     "ulimit",
	Synopsis: "ulimit [-HS] [-a | -cdeflnqrstuv [LIMIT]]",
	Summary:  "print or set the shell's rlimits, with bash's options",
	Help: `Prints or sets a resource limit (rlimit) of the shell process, which every
command started afterwards inherits; the rlimit part of "limit", with bash's
options and units. -c -d -f -l -s -v count 1024-byte blocks, -t seconds,
-q bytes, the others are plain numbers. LIMIT is a number, "unlimited",
"hard" or "soft" (the current hard or soft limit). Without -H or -S, setting
changes both the soft and the hard limit and printing shows the soft one.
Without a resource option, -f is meant.

Raising a hard limit needs CAP_SYS_RESOURCE. The shell's own soft limit of
open files is raised by the Go runtime at start; the commands it runs get
the soft limit nsh was started with, until one is set.

Exit status: 0; 2 for a bad option or LIMIT; 1 if the kernel refuses.`,
	Flags: func(fs *FlagSet) {
		fs.Bool('H', "", "the hard limit")
		fs.Bool('S', "", "the soft limit")
		fs.Bool('a', "", "print every limit")
		for _, d := range limits.Rlimits {
			unit := ""
			if d.UnitName != "" {
				unit = " (" + d.UnitName + ")"
			}
			fs.Bool(rune(d.Flag), "", d.Desc+unit)
		}
	},
	Run: runUlimit,
}

func runUlimit(c *Call) int {
	hard, soft := c.Opts.GetBool("H"), c.Opts.GetBool("S")
	var chosen []limits.RlimitDef
	for _, d := range limits.Rlimits {
		if c.Opts.GetBool(string(d.Flag)) {
			chosen = append(chosen, d)
		}
	}
	all := c.Opts.GetBool("a")
	if all {
		chosen = limits.Rlimits
	}
	if len(chosen) == 0 {
		d, _ := limits.RlimitByFlag('f')
		chosen = []limits.RlimitDef{d}
	}
	if len(c.Args) > 1 {
		return c.Usagef("too many arguments")
	}
	if len(c.Args) == 0 {
		for _, d := range chosen {
			s, h, err := limits.GetRlimit(0, d.Key)
			if err != nil {
				return c.Fail(err)
			}
			v := s
			if hard && !soft {
				v = h
			}
			val := "unlimited"
			if v != limits.Max {
				val = strconv.FormatUint(v/d.Unit, 10)
			}
			if len(chosen) == 1 && !all {
				c.Printf("%s\n", val)
				continue
			}
			unit := fmt.Sprintf("(-%c) ", d.Flag)
			if d.UnitName != "" {
				unit = fmt.Sprintf("(%s, -%c) ", d.UnitName, d.Flag)
			}
			c.Printf("%-20s %20s%s\n", d.Desc, unit, val)
		}
		return 0
	}
	if all || len(chosen) > 1 {
		return c.Usagef("one resource at a time can be set")
	}
	d := chosen[0]
	cs, ch, err := limits.GetRlimit(0, d.Key)
	if err != nil {
		return c.Fail(err)
	}
	var n uint64
	switch arg := c.Args[0]; arg {
	case "unlimited":
		n = limits.Max
	case "hard":
		n = ch
	case "soft":
		n = cs
	default:
		v, err := strconv.ParseUint(arg, 10, 64)
		if err != nil || (d.Unit > 1 && v > limits.Max/d.Unit) {
			return c.Usagef("%s: invalid number", arg)
		}
		n = v * d.Unit
	}
	s := limits.Setting{Key: d.Key, Value: c.Args[0], Kind: limits.Rlimit, Resource: d.Resource}
	if soft || !hard {
		s.N, s.SetN = n, true
	}
	if hard || !soft {
		s.M, s.SetM = n, true
	}
	if err := limits.SetRlimits([]limits.Setting{s}); err != nil {
		return c.Fail(fmt.Errorf("%s: %w", strings.TrimSpace(d.Desc), err))
	}
	return 0
}
