package builtins

import (
	"maps"
	"slices"
)

// registry maps each nsh builtin's name to it. It is filled from the table in
// init, since some builtins (help) read the registry themselves.
var registry = map[string]*Builtin{}

func init() {
	// The table: one line per builtin; each is defined in the file named
	// after it.
	for _, b := range []*Builtin{
		&bindBuiltin,
		&chrootBuiltin,
		&domainnameBuiltin,
		&execBuiltin,
		&helpBuiltin,
		&hostnameBuiltin,
		&imageBuiltin,
		&killBuiltin,
		&limitBuiltin,
		&ulimitBuiltin,
		&mountBuiltin,
		&nsBuiltin,
		&pivotBuiltin,
		&umaskBuiltin,
		&umountBuiltin,
		&unmountBuiltin,
		&enterBuiltin,
		&rforkBuiltin,
		&unshareBuiltin,
	} {
		registry[b.Name] = b
	}
}

// Lookup returns the nsh builtin called name, or nil.
func Lookup(name string) *Builtin { return registry[name] }

// Names returns the names of all nsh builtins, sorted.
func Names() []string { return slices.Sorted(maps.Keys(registry)) }
