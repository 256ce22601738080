package builtins

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// The interpreter handles redirections of descriptors 0, 1 and 2 only. nsh
// adds what scripts use of the others, descriptors 3 to 9 as POSIX names them:
//
//   - `exec 3>file` (and >>, <, <>, >|, 3>&1, 3<&0, 3>&-) opens, duplicates or
//     closes the process's real descriptor 3, which every command started
//     afterwards inherits;
//   - `cmd >&3`, `cmd 2>&3`, `cmd <&3` give the command a duplicate of it
//     (sharing the file offset, as dup(2) does): they are rewritten to the
//     path /dev/fd/3, which nsh's open handler answers with dup(3) rather
//     than by opening the file again, as bash does for /dev/fd/N.
//
// The statements are rewritten before they run: an `exec` with such
// redirections becomes a call of the internal builtin below.

// fdBuiltinName is the internal builtin that applies an exec's redirections
// of descriptors 3 to 9, given as OP N TARGET triples.
const fdBuiltinName = "__nsh_exec_fds"

// Descriptors 3 to 9 are the script's; nsh keeps them from the Go runtime
// (which would otherwise put its epoll or pidfd descriptors there) by holding
// each free one open on /dev/null, close-on-exec.
const (
	minScriptFd = 3
	maxScriptFd = 9
)

// closedFds records which of the descriptors 3 to 9 hold a placeholder, that
// is, are closed as far as the script is concerned.
var closedFds struct {
	sync.Mutex
	fd [maxScriptFd + 1]bool
}

// ReserveFds holds the descriptors 3 to 9 that are free, so that scripts can
// use them. Call it first thing in main, before the runtime opens anything.
func ReserveFds() {
	for fd := minScriptFd; fd <= maxScriptFd; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			continue // in use: inherited (nsh marks it close-on-exec)
		}
		placeholder(fd)
	}
}

func setClosed(fd int, closed bool) {
	closedFds.Lock()
	closedFds.fd[fd] = closed
	closedFds.Unlock()
}

// placeholder puts /dev/null, close-on-exec, at fd: the script's fd is
// closed, and the runtime cannot take the number.
func placeholder(fd int) error {
	setClosed(fd, true)
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/dev/null", Err: err}
	}
	if null == fd {
		return nil // the lowest free descriptor was fd itself
	}
	defer unix.Close(null)
	if err := unix.Dup3(null, fd, unix.O_CLOEXEC); err != nil {
		return os.NewSyscallError("dup3", err)
	}
	return nil
}

var fdBuiltin = Builtin{
	Name:     "exec", // errors read "exec: ..."; registered as fdBuiltinName
	Synopsis: fdBuiltinName + " OP N TARGET...",
	Summary:  "apply exec's redirections of descriptors 3 to 9 (internal)",
	Help:     "Internal: what `exec 3>file` is rewritten to.",
	Run:      runExecFds,
}

func runExecFds(c *Call) int {
	args := c.Args
	if len(args)%3 != 0 {
		return c.Usagef("want OP N TARGET triples")
	}
	for ; len(args) > 0; args = args[3:] {
		op, target := args[0], args[2]
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 || n > maxScriptFd {
			return c.Failf("%s: bad file descriptor (nsh supports 0 to %d)", args[1], maxScriptFd)
		}
		if err := redirectFd(c, op, n, target); err != nil {
			return c.Fail(err)
		}
	}
	return 0
}

func redirectFd(c *Call, op string, n int, target string) error {
	var flags int
	switch op {
	case ">", ">|":
		flags = unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC
	case ">>":
		flags = unix.O_WRONLY | unix.O_CREAT | unix.O_APPEND
	case "<":
		flags = unix.O_RDONLY
	case "<>":
		flags = unix.O_RDWR | unix.O_CREAT
	case ">&", "<&":
		if target == "-" {
			return placeholder(n)
		}
		m, err := strconv.Atoi(target)
		if err != nil || m < 0 || m > maxScriptFd {
			return fmt.Errorf("%s: bad file descriptor", target)
		}
		src := m
		if m <= 2 {
			// 0, 1 and 2 are the interpreter's streams, which may be
			// redirected files rather than the process's descriptors.
			if f, ok := []any{c.Stdin, c.Stdout, c.Stderr}[m].(*os.File); ok {
				src = int(f.Fd())
			}
		}
		if src == n {
			return nil
		}
		if m > 2 && isClosed(m) {
			return fmt.Errorf("%d%s%d: %w", n, op, m, unix.EBADF)
		}
		if err := unix.Dup3(src, n, 0); err != nil {
			return fmt.Errorf("%d%s%d: %w", n, op, m, err)
		}
		setClosed(n, false)
		return nil
	default:
		return fmt.Errorf("%s: unsupported redirection", op)
	}
	path := target
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.Dir, path)
	}
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return &os.PathError{Op: "open", Path: target, Err: err}
	}
	if fd == n {
		// n was free (not held by ReserveFds): open took it.
		err = clearCloexec(n)
	} else {
		err = unix.Dup3(fd, n, 0)
		unix.Close(fd)
	}
	if err != nil {
		return os.NewSyscallError("dup3", err)
	}
	setClosed(n, false)
	return nil
}

func clearCloexec(fd int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
	return err
}

func isClosed(fd int) bool {
	closedFds.Lock()
	defer closedFds.Unlock()
	return closedFds.fd[fd]
}

// openHandler answers /dev/fd/N for N from 3 to 9 with a duplicate of the
// descriptor, and opens other paths as the interpreter does.
func openHandler(next interp.OpenHandlerFunc) interp.OpenHandlerFunc {
	return func(ctx context.Context, path string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
		n, ok := strings.CutPrefix(path, "/dev/fd/")
		fd, err := strconv.Atoi(n)
		if !ok || err != nil || fd < minScriptFd || fd > maxScriptFd {
			return next(ctx, path, flag, perm)
		}
		if isClosed(fd) {
			return nil, &os.PathError{Op: "open", Path: path, Err: unix.EBADF}
		}
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 10)
		if err != nil {
			return nil, &os.PathError{Op: "dup", Path: path, Err: err}
		}
		return os.NewFile(uintptr(dup), path), nil
	}
}

// rewriteFds rewrites the redirections of descriptors 3 to 9 in prog into
// what nsh runs itself; see the comment at the top of this file.
func rewriteFds(prog *syntax.File) {
	syntax.Walk(prog, func(node syntax.Node) bool {
		st, ok := node.(*syntax.Stmt)
		if !ok {
			return true
		}
		if isBareExec(st) {
			rewriteExec(st)
		}
		for _, r := range st.Redirs {
			rewriteDup(r)
		}
		return true
	})
}

func litNumber(l *syntax.Lit) (int, bool) {
	if l == nil {
		return 0, false
	}
	n, err := strconv.Atoi(l.Value)
	return n, err == nil
}

func wordLit(w *syntax.Word) string {
	if w == nil {
		return ""
	}
	return w.Lit()
}

// highFd reports whether r redirects a descriptor from 3 to 9.
func highFd(r *syntax.Redirect) bool {
	n, ok := litNumber(r.N)
	return ok && n >= minScriptFd
}

func isBareExec(st *syntax.Stmt) bool {
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) != 1 || len(call.Assigns) > 0 || call.Args[0].Lit() != "exec" {
		return false
	}
	for _, r := range st.Redirs {
		if highFd(r) {
			return true
		}
	}
	return false
}

// rewriteExec turns `exec 3>f 2>&1` into `{ __nsh_exec_fds '>' 3 f; exec 2>&1; }`.
func rewriteExec(st *syntax.Stmt) {
	call := &syntax.CallExpr{Args: []*syntax.Word{lit(fdBuiltinName)}}
	var rest []*syntax.Redirect
	for _, r := range st.Redirs {
		if !highFd(r) {
			rest = append(rest, r)
			continue
		}
		// The operator is quoted: the statement may be printed and parsed
		// again (the rest of a script carried by unshare).
		op := &syntax.Word{Parts: []syntax.WordPart{&syntax.SglQuoted{Value: r.Op.String()}}}
		call.Args = append(call.Args, op, lit(r.N.Value), r.Word)
	}
	st.Redirs = nil
	if len(rest) == 0 {
		st.Cmd = call
		return
	}
	exec := &syntax.Stmt{Cmd: &syntax.CallExpr{Args: []*syntax.Word{lit("exec")}}, Redirs: rest}
	st.Cmd = &syntax.Block{Stmts: []*syntax.Stmt{{Cmd: call}, exec}}
}

// rewriteDup turns `>&3` into `>/dev/fd/3` and `<&3` into `</dev/fd/3`, for a
// command's descriptors 0 to 2.
func rewriteDup(r *syntax.Redirect) {
	if highFd(r) || (r.Op != syntax.DplOut && r.Op != syntax.DplIn) {
		return
	}
	m, err := strconv.Atoi(wordLit(r.Word))
	if err != nil || m < minScriptFd || m > maxScriptFd {
		return
	}
	if r.Op == syntax.DplOut {
		r.Op = syntax.RdrOut
	} else {
		r.Op = syntax.RdrIn
	}
	r.Word = lit("/dev/fd/" + strconv.Itoa(m))
}

func lit(s string) *syntax.Word {
	return &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{Value: s}}}
}
