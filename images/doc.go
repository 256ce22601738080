// Package images builds roots and initramfs images and boots them in qemu.
//
// An [Initramfs] is nsinit as /init, nsh as /bin/nsh, /dev/console and
// /dev/null, a script as /etc/nsinit.nsh, kernel modules with their
// dependencies (listed in /etc/modules for nsinit to load) and host trees,
// written as a reproducible gzip-compressed newc cpio archive with u-root's
// cpio package: entries in name order, owner root, fixed times. Building
// one needs no privilege. Everything is planned first, as a [Plan] of
// [Entry] values that print as `ls -l` lines, then written.
//
// [Boot] boots an initramfs with Debian's linux-image-cloud-amd64 kernel in
// qemu-system-x86_64 (KVM when /dev/kvm is usable, else TCG), reads the
// serial console and says how the boot went: the guest command's status
// from nsinit's "nsinit: CMD exited with status N" line, a clean power-off
// from "reboot: Power down", a "Kernel panic".
//
// # Running a recipe in a VM from a test
//
// [RunRecipe] runs an nsh script as the init command of a VM and returns
// what it printed (standard output and standard error, from the serial
// console) and its exit status; a test of any package can use it to try
// what needs a kernel of its own. The VM's kernel (Debian's 6.1 cloud
// kernel) has a pure cgroup v2 hierarchy, mounted by nsinit at
// /sys/fs/cgroup, whose root offers the cpuset, cpu, io, memory, hugetlb,
// pids, rdma and misc controllers, none of them enabled in its
// cgroup.subtree_control; the recipe runs as root in the root cgroup, in
// the initial namespaces, as a child of nsinit (PID 1). There is no
// program in the VM but nsh and nsinit: use nsh's builtins, or add host
// programs with their libraries with RecipeOptions.Programs
// (Programs: []string{"busybox"}, then `busybox sh -c ...` in the recipe).
//
//	func TestLimitsV2(t *testing.T) {
//		if err := images.Available(); err != nil {
//			t.Skip(err) // qemu-system-x86 or linux-image-cloud-amd64 is not installed
//		}
//		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
//		defer cancel()
//		tools, err := images.BuildTools(ctx, t.TempDir()) // nsinit and nsh from this module's source
//		if err != nil {
//			t.Fatal(err)
//		}
//		out, status, err := images.RunRecipe(ctx, `
//	limit memory=32M pids=16
//	read -r max </sys/fs/cgroup/nsh-$$/memory.max
//	echo "max=$max"
//	`, &images.RecipeOptions{Tools: tools})
//		if err != nil {
//			t.Fatal(err) // no power-off, a panic, a timeout: err has the console's tail
//		}
//		if status != 0 || !strings.Contains(out, "max=33554432\n") {
//			t.Errorf("status %d, output:\n%s", status, out)
//		}
//	}
//
// Each boot takes two to three seconds under TCG on an idle machine (more on
// a busy one; the timeout defaults to two minutes). Without Tools, RunRecipe
// builds nsinit and nsh once per test process into a temporary directory.
// RecipeOptions.Console (a writer) receives the console as it comes, which
// helps when a recipe hangs; Modules adds kernel modules, Trees host trees.
//
// # The boot benchmark
//
// The VM boot benchmark compares the nsinit initramfs with one whose /init
// is a busybox shell script doing what nsinit does in a VM (the same
// mounts, the same modules, a command, a status line, power-off). Build
// both, then boot them alternately with [Boot] and compare the medians of
// [Result.Elapsed] (wall time, qemu start to exit) or [Result.CPU] (qemu's
// processor time, steadier on a loaded machine); [Result.Err] says whether
// a boot ended cleanly:
//
//	nsinitImg := &images.Initramfs{Init: "bin/nsinit", Nsh: "bin/nsh", Cmd: "true", Modules: []string{"overlay"}}
//	busyboxImg := &images.Busybox{Cmd: "true", Modules: []string{"overlay"}} // busybox-static
//	nsinitImg.WriteFile(a)
//	busyboxImg.WriteFile(b)
//	r, err := images.Boot(ctx, images.BootOptions{Initramfs: a})
//
// Most of the difference between the two is the size of the archive the
// kernel unpacks (nsh and nsinit are some 7.7 MB of Go, busybox 2 MB):
// under TCG the kernel's gunzip takes about 0.1 s per MB of archive, which
// Uncompressed halves.
package images
