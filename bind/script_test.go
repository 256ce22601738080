package bind

import (
	"strings"
	"testing"
)

const sampleMountinfo = `26 1 254:0 / / rw,relatime - ext4 /dev/vda rw
21 26 0:20 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
60 26 0:40 / /data rw,relatime - ext4 /dev/vdb rw
61 26 254:0 /tmp/a /srv/x ro,relatime - ext4 /dev/vda rw
62 26 0:40 /sub /srv/r/usr rw,relatime - ext4 /dev/vdb rw
63 60 0:41 / /data/sub/inner rw,relatime shared:5 - tmpfs tmpfs rw,size=1024k
64 62 0:41 / /srv/r/usr/inner rw,relatime - tmpfs tmpfs rw,size=1024k
65 26 0:42 / /tmp/u rw,relatime - overlay union rw,lowerdir=/tmp/a:/tmp/u:/tmp/b,upperdir=/tmp/w,workdir=/tmp/.w.nsh-work,uuid=on
66 26 0:43 / /srv/r/dev rw,nosuid,nodev - tmpfs tmpfs rw,size=1024k,mode=755
67 66 0:6 /null /srv/r/dev/null rw - devtmpfs udev rw
68 66 0:44 / /srv/r/dev/pts rw,nosuid,noexec - devpts devpts rw,mode=620,ptmxmode=666
69 66 0:45 / /srv/r/dev/shm rw,nosuid,nodev - tmpfs tmpfs rw,mode=1777
70 26 0:46 / /with\040space rw - tmpfs tmpfs rw
`

func TestParseMountInfo(t *testing.T) {
	list, err := ParseMountInfo(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 13 {
		t.Fatalf("%d entries", len(list))
	}
	m := list[5]
	if m.ID != 63 || m.Parent != 60 || m.Major != 0 || m.Minor != 41 || m.Point != "/data/sub/inner" ||
		m.FSType != "tmpfs" || m.Super != "rw,size=1024k" || !m.Shared() {
		t.Errorf("entry = %+v", m)
	}
	if list[12].Point != "/with space" {
		t.Errorf("escaped point = %q", list[12].Point)
	}
	if _, err := ParseMountInfo(strings.NewReader("garbage\n")); err == nil {
		t.Error("garbage parsed")
	}
	if top := Top(list, "/srv/x"); top == nil || top.ID != 61 {
		t.Errorf("Top = %+v", top)
	}
	rootfs := []MountInfo{{ID: 1, Parent: 1, Point: "/", FSType: "rootfs"}, {ID: 2, Parent: 1, Point: "/proc"}}
	if top := Top(rootfs, "/"); top == nil || top.ID != 1 {
		t.Errorf("Top of an initramfs = %+v", top)
	}
}

func TestScript(t *testing.T) {
	list, err := ParseMountInfo(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	want := `# / is / of 254:0 (ext4 /dev/vda)
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t ext4 /dev/vdb /data
mount -t tmpfs -o 'size=1024k' tmpfs /data/sub/inner
bind -r /tmp/a /srv/x
bind /data/sub /srv/r/usr
bind -b /tmp/a /tmp/u
bind -a /tmp/b /tmp/u
bind -bc /tmp/w /tmp/u
bind '#c' /srv/r/dev
mount -t tmpfs tmpfs '/with space'
cd /tmp
`
	if got := Script(list, "/tmp", false); got != want {
		t.Errorf("Script:\n%s\nwant:\n%s", got, want)
	}
	raw := Script(list, "", true)
	for _, l := range []string{
		"mount --bind /data/sub /srv/r/usr\n",
		"mount --bind /data/sub/inner /srv/r/usr/inner\n",
		"mount -t overlay -o 'lowerdir=/tmp/a:/tmp/u:/tmp/b,upperdir=/tmp/w,workdir=/tmp/.w.nsh-work,uuid=on' union /tmp/u\n",
		"mount -t devpts -o 'nosuid,noexec,mode=620,ptmxmode=666' devpts /srv/r/dev/pts\n",
	} {
		if !strings.Contains(raw, l) {
			t.Errorf("raw script lacks %q:\n%s", l, raw)
		}
	}
}

func TestTreeOrder(t *testing.T) {
	list := []MountInfo{{ID: 3, Parent: 2, Point: "/a/b"}, {ID: 2, Parent: 1, Point: "/a"}, {ID: 1, Parent: 0, Point: "/"}}
	var got []string
	for _, m := range TreeOrder(list) {
		got = append(got, m.Point)
	}
	if strings.Join(got, " ") != "/ /a /a/b" {
		t.Errorf("TreeOrder = %v", got)
	}
}
