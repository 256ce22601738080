package bind_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nsh-project/nsh/images"
)

// TestSwitchRoot boots a VM whose initramfs recipe builds a root on a
// tmpfs and pivots into it: in an initramfs, pivot does what switch_root
// does (move /proc and the rest, delete the initramfs's files with
// --clean, move the root onto /, chroot).
func TestSwitchRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	if err := images.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, status, err := images.RunRecipe(ctx, `
mount -t tmpfs tmpfs /newroot
for d in dev proc sys run etc; do mount -t tmpfs tmpfs /newroot/$d; done
echo new >/newroot/etc/marker
bind /bin/nsh /newroot/bin/nsh
read -r init </proc/1/comm
echo before: $init $([ -e /etc/nsinit.nsh ] && echo initramfs)
pivot --clean /newroot
echo status $?
echo pwd $PWD
read -r m </etc/marker
echo marker $m
echo root: /*
[ -e /proc/1/comm ] && echo proc moved
while read -r src dst type rest; do [ "$dst" = / ] && echo "/ is $type"; done </proc/mounts
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"before: init initramfs\n", "status 0\n", "pwd /\n", "marker new\n",
		"root: /bin /dev /etc /proc /run /sys\n", "proc moved\n", "/ is tmpfs\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if status != 0 || t.Failed() {
		t.Errorf("status %d, output:\n%s", status, out)
	}
}
