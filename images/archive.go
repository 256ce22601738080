package images

import (
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// Entry is one file of an archive being planned: its path inside the image
// and where its contents come from. An Entry prints as one line of the plan
// (`image initramfs -n`).
type Entry struct {
	// Name is the path inside the image, without a leading slash ("bin/nsh").
	Name string
	// Mode is the file type and permission bits (fs.ModeDir|0o755,
	// fs.ModeCharDevice|fs.ModeDevice|0o600, ...).
	Mode fs.FileMode
	// Major and Minor are a device node's numbers.
	Major, Minor uint32
	// Target is a symbolic link's target.
	Target string
	// Src is the host file a regular file is copied from, when Data is nil.
	Src string
	// Data is a regular file's contents, when Src is "".
	Data []byte
	// Size is the size of a regular file.
	Size int64
}

// String prints the entry as `ls -l` would, with where it comes from:
// "-rwxr-xr-x /init 3391676 from bin/nsinit", "crw------- /dev/console 5,1".
func (e Entry) String() string {
	m := lsMode(e.Mode)
	switch {
	case e.Mode.IsDir():
		return fmt.Sprintf("%s /%s", m, e.Name)
	case e.Mode&fs.ModeSymlink != 0:
		return fmt.Sprintf("%s /%s -> %s", m, e.Name, e.Target)
	case e.Mode&fs.ModeDevice != 0:
		return fmt.Sprintf("%s /%s %d,%d", m, e.Name, e.Major, e.Minor)
	case e.Src != "":
		return fmt.Sprintf("%s /%s %d from %s", m, e.Name, e.Size, e.Src)
	}
	return fmt.Sprintf("%s /%s %d", m, e.Name, e.Size)
}

// lsMode prints a mode as ls(1) does: drwxr-xr-x, crw-------, drwxrwxrwt.
func lsMode(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	}
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit fs.FileMode, at int, set, unset byte) {
		if m&bit != 0 {
			if b[at] == '-' {
				b[at] = unset
			} else {
				b[at] = set
			}
		}
	}
	special(fs.ModeSetuid, 3, 's', 'S')
	special(fs.ModeSetgid, 6, 's', 'S')
	special(fs.ModeSticky, 9, 't', 'T')
	return string(b)
}

// Plan is the list of entries of an archive. Adding an entry adds its
// missing parent directories; a later entry for the same path replaces an
// earlier one, as a later tree laid over an earlier one would.
type Plan struct {
	entries map[string]Entry
}

// Add adds e, and a directory (0755) for each missing parent of e.Name.
func (p *Plan) Add(e Entry) {
	if p.entries == nil {
		p.entries = map[string]Entry{}
	}
	e.Name = clean(e.Name)
	if e.Name == "" {
		return // the root itself is the initramfs's rootfs
	}
	for d := path.Dir(e.Name); d != "."; d = path.Dir(d) {
		if _, ok := p.entries[d]; !ok {
			p.entries[d] = Entry{Name: d, Mode: fs.ModeDir | 0o755}
		}
	}
	if e.Mode.IsRegular() && e.Src == "" {
		e.Size = int64(len(e.Data))
	}
	p.entries[e.Name] = e
}

// AddFile adds a regular file with the given contents.
func (p *Plan) AddFile(name string, data []byte, perm fs.FileMode) {
	p.Add(Entry{Name: name, Mode: perm & fs.ModePerm, Data: data})
}

// AddDir adds a directory.
func (p *Plan) AddDir(name string, perm fs.FileMode) {
	p.Add(Entry{Name: name, Mode: fs.ModeDir | perm&fs.ModePerm})
}

// AddCharDev adds a character device node.
func (p *Plan) AddCharDev(name string, perm fs.FileMode, major, minor uint32) {
	p.Add(Entry{Name: name, Mode: fs.ModeDevice | fs.ModeCharDevice | perm&fs.ModePerm, Major: major, Minor: minor})
}

// Get returns the entry for name, if the plan has one.
func (p *Plan) Get(name string) (Entry, bool) {
	e, ok := p.entries[clean(name)]
	return e, ok
}

// Entries returns the entries sorted by name, so that every directory
// comes before what it holds (the kernel's unpacker creates no missing
// parents) and the same plan always gives the same archive.
func (p *Plan) Entries() []Entry {
	es := make([]Entry, 0, len(p.entries))
	for _, e := range p.entries {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return es
}

// clean makes name relative to the root of the image, as cpio stores it.
func clean(name string) string {
	name = path.Clean("/" + name)
	return strings.TrimPrefix(name, "/")
}

// WriteCPIO writes the plan as a newc cpio archive, gzip-compressed when
// compress is set. The archive is reproducible: entries in name order,
// inode numbers in that order, owner root, every mtime set to mtime (use 0,
// or $SOURCE_DATE_EPOCH), and a gzip header with no name or time.
func (p *Plan) WriteCPIO(w io.Writer, compress bool, mtime int64) error {
	var gz *gzip.Writer
	if compress {
		var err error
		gz, err = gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return err
		}
		w = gz
	}
	rw := cpio.Newc.Writer(w)
	for i, e := range p.Entries() {
		rec, err := e.record(uint64(i+1), uint64(mtime))
		if err != nil {
			return err
		}
		if err := rw.WriteRecord(rec); err != nil {
			return fmt.Errorf("cpio: write /%s: %w", e.Name, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("cpio: write trailer: %w", err)
	}
	if gz != nil {
		return gz.Close()
	}
	return nil
}

// record turns an entry into a cpio record. A host file is opened only when
// the writer reads it, so that an archive of many files keeps one open.
func (e Entry) record(ino, mtime uint64) (cpio.Record, error) {
	info := cpio.Info{Ino: ino, NLink: 1, MTime: mtime, Name: e.Name, Mode: uint64(e.Mode.Perm())}
	if e.Mode&fs.ModeSetuid != 0 {
		info.Mode |= cpio.S_ISUID
	}
	if e.Mode&fs.ModeSetgid != 0 {
		info.Mode |= cpio.S_ISGID
	}
	if e.Mode&fs.ModeSticky != 0 {
		info.Mode |= cpio.S_ISVTX
	}
	switch {
	case e.Mode.IsDir():
		info.Mode |= cpio.S_IFDIR
		info.NLink = 2
		return cpio.Record{Info: info}, nil
	case e.Mode&fs.ModeSymlink != 0:
		info.Mode |= cpio.S_IFLNK
		info.FileSize = uint64(len(e.Target))
		return cpio.Record{ReaderAt: strings.NewReader(e.Target), Info: info}, nil
	case e.Mode&fs.ModeCharDevice != 0:
		info.Mode |= cpio.S_IFCHR
		info.Rmajor, info.Rminor = uint64(e.Major), uint64(e.Minor)
		return cpio.Record{Info: info}, nil
	case e.Mode&fs.ModeDevice != 0:
		info.Mode |= cpio.S_IFBLK
		info.Rmajor, info.Rminor = uint64(e.Major), uint64(e.Minor)
		return cpio.Record{Info: info}, nil
	case e.Mode&fs.ModeNamedPipe != 0:
		info.Mode |= cpio.S_IFIFO
		return cpio.Record{Info: info}, nil
	case e.Mode.IsRegular():
		info.Mode |= cpio.S_IFREG
		if e.Size > 0xffffffff {
			return cpio.Record{}, fmt.Errorf("cpio: /%s: %d bytes is more than newc's 4 GiB", e.Name, e.Size)
		}
		info.FileSize = uint64(e.Size)
		if e.Src != "" {
			return cpio.Record{ReaderAt: &lazyFile{path: e.Src}, Info: info}, nil
		}
		return cpio.Record{ReaderAt: strings.NewReader(string(e.Data)), Info: info}, nil
	}
	return cpio.Record{}, fmt.Errorf("cpio: /%s: cannot archive a file of mode %v", e.Name, e.Mode)
}

// lazyFile is a host file opened at its first read and closed by the cpio
// writer when it is done with it.
type lazyFile struct {
	path string
	f    *os.File
}

// ReadAt opens the file at the first read.
func (l *lazyFile) ReadAt(b []byte, off int64) (int, error) {
	if l.f == nil {
		f, err := os.Open(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.ReadAt(b, off)
}

// Close closes the file if it was opened.
func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
