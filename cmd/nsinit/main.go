// Command nsinit is a PID 1 for containers and VMs: it reaps orphans,
// forwards signals and exits with its command's status. See docs/nsinit.md.
package main

import (
	"os"

	"github.com/nsh-project/nsh/initd"
)

func main() { os.Exit(initd.Main(os.Args[1:])) }
