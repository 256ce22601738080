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
// its console output and exit status; a test of any package can use it to
// try what needs a kernel of its own, such as cgroup v2 (the VM's kernel
// mounts cgroup2 at /sys/fs/cgroup, with the memory, pids, cpu and io
// controllers):
//
//	func TestLimitsV2(t *testing.T) {
//		if err := images.Available(); err != nil {
//			t.Skip(err) // qemu or the kernel is not installed
//		}
//		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
//		defer cancel()
//		tools, err := images.BuildTools(ctx, t.TempDir())
//		if err != nil {
//			t.Fatal(err)
//		}
//		out, status, err := images.RunRecipe(ctx, "limit memory=64M\ncat /sys/fs/cgroup/...", &images.RecipeOptions{Tools: tools})
//		if err != nil {
//			t.Fatal(err) // no power-off, a panic, a timeout: err has the console's tail
//		}
//		...
//	}
//
// Each boot takes two to three seconds under TCG. Without Tools, RunRecipe
// builds nsinit and nsh once per test process.
//
// # The boot benchmark
//
// [Busybox] builds the comparison initramfs whose /init is a busybox shell
// script making the same mounts; [Boot] of each, interleaved, gives the
// boot-to-power-off times ([Result.Elapsed]).
package images
