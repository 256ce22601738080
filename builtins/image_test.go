package builtins

import (
	"os"
	"path/filepath"
	"testing"
)

func TestImage(t *testing.T) {
	d := t.TempDir()
	for _, f := range []string{"nsinit", "nsh", "demo.nsh"} {
		if err := os.WriteFile(filepath.Join(d, f), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(d, "tree/srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	tools := " --nsinit nsinit --nsh nsh"
	runTable(t, []scriptTest{
		{"image", "", `^image: no subcommand\nusage: image initramfs`, 2},
		{"image frob", "", `unknown subcommand "frob"`, 2},
		{"image boot --module overlay x", "", `boot takes no --module`, 2},
		{"image boot", "", `boot: want one INITRAMFS`, 2},
		{"image boot --timeout soon x", "", `--timeout "soon"`, 2},
		{"image initramfs", "", `no -o OUT`, 2},
		{"image initramfs -o x --script a --cmd b", "", `use one`, 2},
		{"image initramfs -o x ':x'", "", `want DIR or HOST:GUEST`, 2},
		{"image host /tmp", "", `want DIR and at least one PROG`, 2},
		{"image unpack x", "", `want SRC and DIR`, 2},
		// Paths are the shell's: relative to its working directory.
		{"cd " + d + "; image initramfs -n" + tools + " --script demo.nsh tree:/t",
			`(?m)^crw------- /dev/console 5,1\n(.|\n)*^-rwxr-xr-x /etc/nsinit.nsh 10\n-rwxr-xr-x /init 10 from ` + d + `/nsinit\n(.|\n)*^drwxr-xr-x /t/srv\n`, "", 0},
		{"cd " + d + "; image initramfs -o out.cpio.gz" + tools + " --cmd 'echo hi' && [[ -s out.cpio.gz ]] && echo ok", `^ok\n$`, "", 0},
		{"cd " + d + "; image initramfs -o x --nsinit nope" + tools[len(" --nsinit nsinit"):], "", `^image: stat .*nope: no such file or directory\n$`, 1},
		{"image initramfs -n --nsinit " + d + "/nsinit --nsh " + d + "/nsh --module nosuch --kernel-release 0.0-none", "",
			`^image: module nosuch: open .*modules.dep: no such file or directory .*\nimage: hint: `, 1},
		{"image host " + d + "/h no-such-program-here", "", `no-such-program-here: not found in \$PATH`, 1},
		{"image unpack " + d + "/nope " + d + "/u", "", `^image: stat .*nope: no such file or directory\n$`, 1},
	})
}
