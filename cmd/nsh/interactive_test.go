package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// session is an nsh session on a pseudo-terminal, read as a person would see
// it.
type session struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptm  *os.File
	mu   sync.Mutex
	buf  []byte // everything read so far
	seen int    // how much of buf earlier expects consumed
	done chan struct{}
}

// startTerm starts nsh on a new pseudo-terminal with a fresh history.
func startTerm(t *testing.T, ctx context.Context, state string) *session {
	t.Helper()
	cmd := nshCmd(ctx)
	// The default prompt is wanted: drop a PS1 the test inherited.
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "PS1=") })
	cmd.Env = append(cmd.Env, "XDG_STATE_HOME="+state, "HOME="+state)
	return startPty(t, cmd)
}

// startPty starts cmd on a new pseudo-terminal of 40x120 with TERM=xterm,
// and reads what it writes into the session's buffer.
func startPty(t *testing.T, cmd *exec.Cmd) *session {
	t.Helper()
	cmd.Env = append(cmd.Env, "TERM=xterm")
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatalf("starting nsh on a pty: %v", err)
	}
	tm := &session{t: t, cmd: cmd, ptm: ptm, done: make(chan struct{})}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			tm.mu.Lock()
			tm.buf = append(tm.buf, b[:n]...)
			tm.mu.Unlock()
			if err != nil {
				close(tm.done)
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		ptm.Close()
	})
	return tm
}

func (tm *session) send(s string) {
	tm.t.Helper()
	if _, err := tm.ptm.WriteString(s); err != nil {
		tm.t.Fatalf("writing %q to the terminal: %v", s, err)
	}
}

// expect waits until the output not yet consumed matches re, and consumes
// it up to the end of the match.
func (tm *session) expect(re string) []string {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(10 * time.Second)
	for {
		tm.mu.Lock()
		rest := tm.buf[tm.seen:]
		if m := rx.FindSubmatchIndex(rest); m != nil {
			var groups []string
			for i := 0; i < len(m); i += 2 {
				if m[i] >= 0 {
					groups = append(groups, string(rest[m[i]:m[i+1]]))
				}
			}
			tm.seen += m[1]
			tm.mu.Unlock()
			return groups
		}
		out := string(rest)
		tm.mu.Unlock()
		if time.Now().After(deadline) {
			tm.t.Fatalf("terminal: no %q in %q", re, out)
		}
		select {
		case <-tm.done:
			// One more look at what was read before the end.
			tm.mu.Lock()
			matched := rx.Match(tm.buf[tm.seen:])
			out = string(tm.buf[tm.seen:])
			tm.mu.Unlock()
			if !matched {
				tm.t.Fatalf("terminal closed: no %q in %q", re, out)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wait waits for nsh to exit and returns its status.
func (tm *session) wait() int {
	tm.t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- tm.cmd.Wait() }()
	select {
	case err := <-errc:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			tm.t.Fatalf("waiting for nsh: %v", err)
		}
		return 0
	case <-time.After(10 * time.Second):
		tm.t.Fatalf("nsh did not exit")
	}
	return -1
}

// childPids lists the children of pid.
func childPids(pid int) []string {
	var kids []string
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		kids = append(kids, strings.Fields(string(b))...)
	}
	return kids
}

func defaultPrompt() string {
	if os.Geteuid() == 0 {
		return `nsh# `
	}
	return `nsh\$ `
}

func TestInteractive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	state := t.TempDir()
	prompt := defaultPrompt()

	tm := startTerm(t, ctx, state)
	tm.expect(prompt)

	// A line runs; the output is the command's.
	tm.send("echo hel''lo $((6*7))\r")
	tm.expect(`hello 42\r\n`)
	tm.expect(prompt)

	// An EXIT trap runs when the session ends, not after each line.
	tm.send("trap 'echo bye-trap' EXIT\r")
	tm.expect(prompt)

	// Ctrl-C interrupts the running command, not the shell.
	tm.send("sleep 100; echo not-reached\r")
	deadline := time.Now().Add(10 * time.Second)
	for len(childPids(tm.cmd.Process.Pid)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("sleep did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	tm.send("\x03")
	tm.expect(prompt)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Ctrl-C took %v to return to the prompt", d)
	}
	tm.send("echo status=$?\r")
	tm.expect(`status=130\r\n`)
	tm.expect(prompt)

	// Ctrl-C at the prompt abandons the line.
	tm.send("echo abandoned\x03")
	tm.expect(prompt)

	// A parse error and a failing command do not end the session.
	tm.send("fi\r")
	tm.expect(`1:1: `)
	tm.expect(prompt)
	tm.send("nosuchcmd\r")
	tm.expect(`command not found`)
	tm.expect(prompt)

	// An incomplete line asks for more with PS2.
	tm.send("if true; then\r")
	tm.expect(`> `)
	tm.send("echo inside; fi\r")
	tm.expect(`inside\r\n`)
	tm.expect(prompt)

	// Tab completes builtins and paths.
	tm.send("uma\t")
	tm.expect(`umask `)
	tm.send("\r")
	tm.expect(`\d{4}\r\n`)
	tm.expect(prompt)

	// Ctrl-D exits with the last status.
	tm.send("false\r")
	tm.expect(prompt)
	tm.send("\x04")
	if st := tm.wait(); st != 1 {
		t.Fatalf("Ctrl-D: status %d, want 1 (the last command's)", st)
	}
	<-tm.done
	if n := strings.Count(string(tm.buf), "bye-trap\r\n"); n != 1 {
		t.Fatalf("the EXIT trap ran %d times, want once at the end: %q", n, tm.buf)
	}

	// History survives a restart.
	hist, err := os.ReadFile(filepath.Join(state, "nsh", "history"))
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	if !strings.Contains(string(hist), "echo hel''lo $((6*7))") {
		t.Fatalf("history file lacks the first line: %q", hist)
	}
	tm = startTerm(t, ctx, state)
	tm.expect(prompt)
	tm.send("\x1b[A\x1b[A") // up twice: "false", then "uma..."; go to "echo status"
	tm.send("\x1b[A\x1b[A\x1b[A\x1b[A\r")
	tm.expect(`status=0\r\n`)
	tm.expect(prompt)
	tm.send("exit 5\r")
	if st := tm.wait(); st != 5 {
		t.Fatalf("exit 5: status %d", st)
	}
}

// TestPromptFromEnvironment checks that $PS1 from the environment is the
// first prompt, not only the ones after a command ran.
func TestPromptFromEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := nshCmd(ctx)
	cmd.Env = append(cmd.Env, "XDG_STATE_HOME="+t.TempDir(), "PS1=box \\$ ")
	tm := startPty(t, cmd)
	tm.expect(`^box [#$] `)
	tm.send("exit\r")
	tm.wait()
}

// TestNoTerminalNoEscapes checks that nsh writes no terminal escape codes
// when its input is not a terminal, even if its output is one.
func TestNoTerminalNoEscapes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := nshCmd(ctx)
	cmd.Stdin = strings.NewReader("echo plain\n")
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	cmd.Stdout, cmd.Stderr = tty, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var out []byte
	b := make([]byte, 1024)
	for {
		n, err := ptm.Read(b)
		out = append(out, b[:n]...)
		if err != nil {
			break
		}
	}
	cmd.Wait()
	if string(out) != "plain\r\n" {
		t.Fatalf("output %q, want only %q", out, "plain\r\n")
	}
}

// TestScriptCtrlC checks what Ctrl-C does to a script, as bash does: a
// command that dies of it ends the script (which then dies of SIGINT); a
// command that handles it, such as a shell the script started, keeps the
// script going. The same holds across unshare's copy.
func TestScriptCtrlC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	handles := `sh -c 'trap "echo child-caught" INT; echo ready; sleep 20 & wait'; echo script-goes-on`

	tests := []struct {
		name   string
		script string
		want   string
		status int // -1: killed by SIGINT
		root   bool
	}{
		{"command dies", "echo ready; sleep 20; echo not-reached", `^$`, -1, false},
		{"command handles it", handles, `child-caught\r\nscript-goes-on\r\n$`, 0, false},
		{"across unshare", "unshare -m\n" + handles, `child-caught\r\nscript-goes-on\r\n$`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("needs root for unshare -m")
			}
			tm := startPty(t, nshCmd(ctx, "-c", tt.script))
			tm.expect(`ready\r\n`)
			// Wait until the command that should get the Ctrl-C runs.
			deadline := time.Now().Add(10 * time.Second)
			for !hasDescendant(tm.cmd.Process.Pid, "sleep") {
				if time.Now().After(deadline) {
					t.Fatal("sleep did not start")
				}
				time.Sleep(10 * time.Millisecond)
			}
			tm.send("\x03")
			err := tm.cmd.Wait()
			<-tm.done
			out := strings.ReplaceAll(string(tm.buf[tm.seen:]), "^C", "")
			if !regexp.MustCompile(tt.want).MatchString(out) || strings.Contains(out, "not-reached") {
				t.Errorf("output after Ctrl-C %q, want %q", out, tt.want)
			}
			ws := tm.cmd.ProcessState.Sys().(syscall.WaitStatus)
			switch {
			case tt.status == -1 && !(ws.Signaled() && ws.Signal() == syscall.SIGINT):
				t.Errorf("nsh ended with %v, want killed by SIGINT", err)
			case tt.status >= 0 && (ws.Signaled() || ws.ExitStatus() != tt.status):
				t.Errorf("nsh ended with %v, want status %d", err, tt.status)
			}
		})
	}
}

// hasDescendant reports whether a process named comm descends from pid.
func hasDescendant(pid int, comm string) bool {
	for _, kid := range childPids(pid) {
		b, _ := os.ReadFile("/proc/" + kid + "/comm")
		if strings.TrimSpace(string(b)) == comm {
			return true
		}
		n, _ := strconv.Atoi(kid)
		if hasDescendant(n, comm) {
			return true
		}
	}
	return false
}
