package builtins

import (
	"fmt"
	"io"
	"strings"
)

// FlagSet parses a builtin's options the way util-linux tools do with
// getopt_long and a leading "+": short options cluster (`-mpu`), a short
// option's value may be attached (`-n5`) or follow (`-n 5`), long options
// take `--name=value` or `--name value`, `--` ends the options, and parsing
// stops at the first operand so that a command's own flags
// (`unshare -m ls -l`) are left alone. `--help` is always accepted.
type FlagSet struct {
	call *Call
	opts []*flagOpt
	// Interspersed lets options follow operands (`umount /mnt -l`).
	Interspersed bool
}

type flagKind int

const (
	kindBool     flagKind = iota // no value
	kindString                   // a value is required
	kindOptional                 // a value may be given as --long=VALUE only
	kindList                     // a value is required; repeatable
	kindCount                    // no value; counts repeats
)

type flagOpt struct {
	short rune
	long  string
	kind  flagKind
	arg   string // the value's name in --help
	help  string
	set   bool

	b   *bool
	s   *string
	l   *[]string
	n   *int
	def string // the value of an optional flag given without one
}

// Bool declares an option without a value. short may be 0 and long "".
func (fs *FlagSet) Bool(short rune, long, help string) *bool {
	o := &flagOpt{short: short, long: long, kind: kindBool, help: help, b: new(bool)}
	fs.opts = append(fs.opts, o)
	return o.b
}

// String declares an option that needs a value, named arg in --help.
func (fs *FlagSet) String(short rune, long, arg, def, help string) *string {
	s := def
	o := &flagOpt{short: short, long: long, kind: kindString, arg: arg, help: help, s: &s}
	fs.opts = append(fs.opts, o)
	return o.s
}

// Optional declares an option whose value is optional, as util-linux's
// `--mount-proc[=DIR]`: given bare, its value is def. Use [FlagSet.Changed]
// to know whether it was given.
func (fs *FlagSet) Optional(short rune, long, arg, def, help string) *string {
	s := ""
	o := &flagOpt{short: short, long: long, kind: kindOptional, arg: arg, help: help, s: &s, def: def}
	fs.opts = append(fs.opts, o)
	return o.s
}

// List declares a repeatable option with a value; each use appends.
func (fs *FlagSet) List(short rune, long, arg, help string) *[]string {
	o := &flagOpt{short: short, long: long, kind: kindList, arg: arg, help: help, l: new([]string)}
	fs.opts = append(fs.opts, o)
	return o.l
}

// Count declares an option without a value that counts its repeats (-vvv).
func (fs *FlagSet) Count(short rune, long, help string) *int {
	o := &flagOpt{short: short, long: long, kind: kindCount, help: help, n: new(int)}
	fs.opts = append(fs.opts, o)
	return o.n
}

// lookup returns the option with this long name or, for a name of one
// letter, this short name. Asking for an undeclared option is a bug in the
// builtin, so it panics.
func (fs *FlagSet) lookup(name string) *flagOpt {
	for _, o := range fs.opts {
		if o.long == name || (len(name) == 1 && o.short == rune(name[0])) {
			return o
		}
	}
	panic(fmt.Sprintf("builtins: option %q is not declared", name))
}

// Changed reports whether the option called name was given. name is the
// long name, or the letter of an option that has no long name.
func (fs *FlagSet) Changed(name string) bool { return fs.lookup(name).set }

// GetBool returns the value of a Bool option.
func (fs *FlagSet) GetBool(name string) bool { return *fs.lookup(name).b }

// GetString returns the value of a String or Optional option.
func (fs *FlagSet) GetString(name string) string { return *fs.lookup(name).s }

// GetList returns the values of a List option.
func (fs *FlagSet) GetList(name string) []string { return *fs.lookup(name).l }

// GetCount returns how often a Count option was given.
func (fs *FlagSet) GetCount(name string) int { return *fs.lookup(name).n }

// Parse parses args and returns the operands. When ok is false the caller
// returns status at once: 0 after --help was printed, 2 after a usage error
// was reported.
func (fs *FlagSet) Parse(args []string) (operands []string, status int, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(operands, args[i+1:]...), 0, true
		case a == "--help":
			if fs.call != nil {
				fs.call.Builtin.WriteHelp(fs.call.Stdout)
			}
			return nil, 0, false
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o := fs.byLong(name)
			if o == nil {
				return nil, fs.usage("unknown option --%s", name), false
			}
			switch o.kind {
			case kindBool, kindCount:
				if hasVal {
					return nil, fs.usage("option --%s takes no value", name), false
				}
				o.setFlag()
			case kindOptional:
				if !hasVal {
					val = o.def
				}
				o.setValue(val)
			default:
				if !hasVal {
					if i+1 >= len(args) {
						return nil, fs.usage("option --%s needs a value", name), false
					}
					i++
					val = args[i]
				}
				o.setValue(val)
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				r := rune(a[j])
				o := fs.byShort(r)
				if o == nil {
					return nil, fs.usage("unknown option -%c", r), false
				}
				if o.kind == kindBool || o.kind == kindCount {
					o.setFlag()
					continue
				}
				val := a[j+1:]
				if val == "" && o.kind == kindOptional {
					val = o.def
				} else if val == "" {
					if i+1 >= len(args) {
						return nil, fs.usage("option -%c needs a value", r), false
					}
					i++
					val = args[i]
				}
				o.setValue(val)
				break
			}
		default:
			if !fs.Interspersed {
				return append(operands, args[i:]...), 0, true
			}
			operands = append(operands, a)
		}
	}
	return operands, 0, true
}

func (o *flagOpt) setFlag() {
	o.set = true
	if o.b != nil {
		*o.b = true
	}
	if o.n != nil {
		*o.n++
	}
}

func (o *flagOpt) setValue(v string) {
	o.set = true
	if o.l != nil {
		*o.l = append(*o.l, v)
		return
	}
	*o.s = v
}

func (fs *FlagSet) byLong(name string) *flagOpt {
	for _, o := range fs.opts {
		if o.long != "" && o.long == name {
			return o
		}
	}
	return nil
}

func (fs *FlagSet) byShort(r rune) *flagOpt {
	for _, o := range fs.opts {
		if o.short != 0 && o.short == r {
			return o
		}
	}
	return nil
}

func (fs *FlagSet) usage(format string, args ...any) int {
	if fs.call == nil {
		return 2
	}
	return fs.call.Usagef(format, args...)
}

// writeOptions lists the options, one per line, for --help.
func (fs *FlagSet) writeOptions(w io.Writer) {
	var lines [][2]string
	width := 0
	for _, o := range fs.opts {
		var names []string
		if o.short != 0 {
			n := "-" + string(o.short)
			if o.long == "" && (o.kind == kindString || o.kind == kindList) {
				n += " " + o.arg
			}
			names = append(names, n)
		}
		if o.long != "" {
			n := "--" + o.long
			switch o.kind {
			case kindString, kindList:
				n += "=" + o.arg
			case kindOptional:
				n += "[=" + o.arg + "]"
			}
			names = append(names, n)
		}
		left := strings.Join(names, ", ")
		width = max(width, len(left))
		lines = append(lines, [2]string{left, o.help})
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
}
