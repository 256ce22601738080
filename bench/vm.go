package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nsh-project/nsh/images"
)

// vmSuite times VM boots from qemu's start to its exit after power-off:
// an initramfs with nsinit as /init running `true` with nsh, and one with
// nsinit alone (its command is nsinit itself printing its version),
// against one whose /init is a busybox shell script making the same mounts
// and running `true`. Both images are built by package images (the busybox one is its
// [images.Busybox], made for this comparison), with no kernel modules.
func vmSuite(e *env) {
	if err := images.Available(); err != nil {
		e.skip("vm", err.Error())
		return
	}
	for _, n := range []string{"nsinit", "nsh"} {
		if e.why[n] != "" {
			e.skip("vm", e.why[n])
			return
		}
	}
	nsImg := filepath.Join(e.tmp, "nsinit.cpio.gz")
	initImg := filepath.Join(e.tmp, "nsinit-alone.cpio.gz")
	bbImg := filepath.Join(e.tmp, "busybox.cpio.gz")
	if err := (&images.Initramfs{Init: e.nsinit, Nsh: e.nsh, Cmd: "true"}).WriteFile(nsImg); err != nil {
		e.skip("vm", "cannot build the nsinit initramfs: "+err.Error())
		return
	}
	if err := (&images.Initramfs{Init: e.nsinit}).WriteFile(initImg); err != nil {
		e.skip("vm", "cannot build the nsinit initramfs: "+err.Error())
		return
	}
	if err := (&images.Busybox{}).WriteFile(bbImg); err != nil {
		e.skip("vm", "cannot build the busybox initramfs: "+err.Error())
		return
	}
	subs := []*subject{{name: "nsinit + nsh"}, {name: "nsinit alone"}, {name: "busybox sh"}}
	boots := []images.BootOptions{
		{Initramfs: nsImg},
		// Without nsh, the command is nsinit itself, run again as an
		// ordinary program: it prints its version and exits.
		{Initramfs: initImg, Cmd: "/init --version"},
		{Initramfs: bbImg},
	}
	boot := func(i int) (time.Duration, error) {
		o := boots[i]
		o.Timeout = 2 * time.Minute
		r, err := images.Boot(context.Background(), o)
		switch {
		case err != nil:
			return 0, err
		case i < 2 && r.Err() != nil:
			return 0, r.Err()
		case r.Panicked || r.TimedOut || !r.PoweredOff:
			return 0, fmt.Errorf("no clean power-off:\n%s", lastLine(r.Log))
		}
		return r.Elapsed, nil
	}
	// One untimed boot each, then interleaved rounds, as measure does.
	for i, s := range subs {
		if _, err := boot(i); err != nil {
			s.skip = "fails: " + err.Error()
		}
	}
	runs := e.count(10)
	for r := 0; r < runs; r++ {
		e.progress(fmt.Sprintf("boot round %d/%d", r+1, runs))
		for k := range subs {
			i := (r + k) % len(subs)
			if subs[i].skip != "" {
				continue
			}
			d, err := boot(i)
			if err != nil {
				subs[i].skip = fmt.Sprintf("failed in run %d: %v", r+1, err)
				subs[i].times = nil
				continue
			}
			subs[i].times = append(subs[i].times, d)
		}
	}
	t, notes := timeTable(subs, subs[2])
	e.printf("Boot to power-off (qemu start to exit), %d interleaved boots each.\n\n%s\n", runs, t)
	e.printf("  qemu-system-x86_64 %s\n", e.shellQuote(images.QEMUArgs("KERNEL", "IMAGE", "console=ttyS0 quiet panic=-1", 0)))
	e.printf("  nsinit + nsh: images.Initramfs{Init: bin/nsinit, Nsh: bin/nsh, Cmd: \"true\"}\n")
	e.printf("  nsinit alone: images.Initramfs{Init: bin/nsinit}, booted with nsinit.cmd=\"/init --version\"\n")
	e.printf("  busybox sh:   images.Busybox{} (/init mounts what nsinit mounts, runs true, powers off)\n")
	printSkips(e, notes)
}
