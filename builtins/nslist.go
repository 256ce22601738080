package builtins

// nsList is `ns -l`. This is a stub: the namespaces builtins replace this
// file with the real list.
func nsList(c *Call) int {
	return c.Failf("-l: not yet available")
}
