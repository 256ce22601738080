package bbroot

import (
	"os/exec"
	"path/filepath"
	"testing"
)

func TestBuild(t *testing.T) {
	if _, err := Busybox(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	if err := Build(dir); err != nil {
		t.Fatal(err)
	}
	if err := Build(dir); err != nil {
		t.Fatalf("second Build into the same directory: %v", err)
	}
	if err := Check(dir); err != nil {
		t.Fatal(err)
	}
	// The binary runs as the applet its name says, without the host.
	out, err := exec.Command(filepath.Join(dir, "bin", "busybox"), "echo", "ok").Output()
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("busybox echo ok: %q, %v", out, err)
	}
}
