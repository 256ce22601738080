package main

// vmSuite is the hook for the VM boot benchmark.
func vmSuite(e *env) {
	e.skip("vm", "not yet")
}
