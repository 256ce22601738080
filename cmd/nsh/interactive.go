package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/peterh/liner"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"

	"github.com/nsh-project/nsh/builtins"
)

// interact runs the prompt loop of an interactive session: read a complete
// program (PS2 asks for more), run it, repeat until Ctrl-D or exit.
func interact(sh *builtins.Shell, stdin *os.File, stdout, stderr io.Writer, noexec bool) int {
	// Ctrl-C goes to the foreground process group, the shell included: a
	// command it runs dies of it; the shell stops the line. SIGTERM and
	// SIGQUIT do not end an interactive shell (as in bash). The signals are
	// caught, not ignored, so the commands the shell starts get the
	// default dispositions.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGINT {
				sh.Interrupt()
			}
		}
	}()

	// The terminal mode the user had, for running commands, and the one
	// the line editor wants, for reading lines.
	cooked, cookedErr := liner.TerminalMode()
	ln := liner.NewLiner()
	defer ln.Close()
	raw, rawErr := liner.TerminalMode()
	ln.SetCtrlCAborts(true)
	ln.SetTabCompletionStyle(liner.TabPrints)
	ln.SetWordCompleter(func(line string, pos int) (string, []string, string) {
		return complete(sh, line, pos)
	})

	histPath := historyPath()
	if f, err := os.Open(histPath); err == nil {
		ln.ReadHistory(f)
		f.Close()
	}

	// The runner publishes its variables (PS1 from the environment among
	// them) when it has run something: run nothing once.
	sh.Run(context.Background(), &syntax.File{})
	status := 0
	defer func() { sh.RunExitTrap(context.Background()) }()
	parser := syntax.NewParser()
	for {
		src, err := readProgram(ln, sh)
		switch {
		case errors.Is(err, io.EOF):
			fmt.Fprintln(stdout)
			return status
		case errors.Is(err, liner.ErrPromptAborted):
			status = 130
			continue
		case err != nil:
			fmt.Fprintf(stderr, "nsh: reading a line: %v\n", err)
			return 1
		}
		if strings.TrimSpace(src) == "" {
			continue
		}
		prog, err := parser.Parse(strings.NewReader(src), "")
		ln.AppendHistory(historyLine(src, prog))
		saveHistory(ln, histPath, stderr)
		if err != nil {
			fmt.Fprintln(stderr, err)
			status = 2
			continue
		}
		if noexec {
			continue
		}
		prog.Name = "nsh"
		if cookedErr == nil {
			cooked.ApplyMode()
		}
		var exit bool
		status, exit = sh.Run(context.Background(), prog)
		if rawErr == nil {
			raw.ApplyMode()
		}
		if exit {
			return status
		}
	}
}

// readProgram reads lines until they parse as a complete program, with PS1
// for the first and PS2 for the rest.
func readProgram(ln *liner.State, sh *builtins.Shell) (string, error) {
	var src strings.Builder
	prompt := promptString(sh, "PS1")
	for {
		line, err := ln.Prompt(prompt)
		if err != nil {
			if errors.Is(err, io.EOF) && src.Len() > 0 {
				// Ctrl-D in the middle of a program: drop it.
				return "", liner.ErrPromptAborted
			}
			return "", err
		}
		src.WriteString(line)
		src.WriteByte('\n')
		_, err = syntax.NewParser().Parse(strings.NewReader(src.String()), "")
		if err == nil || !syntax.IsIncomplete(err) {
			return src.String(), nil
		}
		prompt = promptString(sh, "PS2")
	}
}

// promptString expands $PS1 or $PS2: bash's backslash escapes (\u \h \H \w
// \W \$ \s \n \t \d \\), then parameter expansion. Unset, PS1 is "\s\$ ":
// "nsh# " for root, "nsh$ " for others; PS2 is "> ". In a nested session
// (after "unshare" without a command) the depth follows the name: "nsh[2]# ".
func promptString(sh *builtins.Shell, name string) string {
	vr, ok := sh.Runner.Vars[name]
	ps := vr.String()
	if !ok || !vr.IsSet() {
		ps = map[string]string{"PS1": `\s\$ `, "PS2": "> "}[name]
	}
	ps = expandPromptEscapes(ps, sh)
	word, err := syntax.NewParser().Document(strings.NewReader(ps))
	if err != nil {
		return sanitizePrompt(ps)
	}
	cfg := &expand.Config{Env: expand.FuncEnviron(func(n string) string {
		return sh.Runner.Vars[n].String()
	})}
	out, err := expand.Document(cfg, word)
	if err != nil {
		return sanitizePrompt(ps)
	}
	return sanitizePrompt(out)
}

// sanitizePrompt drops control characters, which the line editor refuses
// in a prompt (it cannot measure them).
func sanitizePrompt(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func expandPromptEscapes(ps string, sh *builtins.Shell) string {
	var b strings.Builder
	for i := 0; i < len(ps); i++ {
		if ps[i] != '\\' || i+1 == len(ps) {
			b.WriteByte(ps[i])
			continue
		}
		i++
		switch ps[i] {
		case 's':
			b.WriteString("nsh")
			if d := os.Getenv("NSH_DEPTH"); d != "" && d != "0" && d != "1" {
				b.WriteString("[" + d + "]")
			}
		case 'u':
			b.WriteString(sh.Runner.Vars["USER"].String())
		case 'h', 'H':
			h, _ := os.Hostname()
			if ps[i] == 'h' {
				h, _, _ = strings.Cut(h, ".")
			}
			b.WriteString(h)
		case 'w', 'W':
			dir := sh.Runner.Dir
			if home := sh.Runner.Vars["HOME"].String(); home != "" && home != "/" &&
				(dir == home || strings.HasPrefix(dir, home+"/")) {
				dir = "~" + dir[len(home):]
			}
			if ps[i] == 'W' && dir != "/" && dir != "~" {
				dir = filepath.Base(dir)
			}
			b.WriteString(dir)
		case '$':
			if os.Geteuid() == 0 {
				b.WriteByte('#')
			} else {
				b.WriteByte('$')
			}
		case 't':
			b.WriteString(time.Now().Format("15:04:05"))
		case 'd':
			b.WriteString(time.Now().Format("Mon Jan 02"))
		case '\\':
			b.WriteByte('\\')
		case '[', ']':
			// Non-printing sequence markers: nothing to print.
		default:
			b.WriteByte('\\')
			b.WriteByte(ps[i])
		}
	}
	return b.String()
}

// historyLine is how a program is kept in the history, which has one
// entry per line: a program typed over several lines is printed on one.
func historyLine(src string, prog *syntax.File) string {
	src = strings.TrimRight(src, "\n")
	if !strings.Contains(src, "\n") || prog == nil {
		return src
	}
	var b strings.Builder
	if err := syntax.NewPrinter(syntax.SingleLine(true)).Print(&b, prog); err != nil {
		return src
	}
	line := strings.TrimRight(b.String(), "\n")
	if strings.Contains(line, "\n") { // a here-document cannot be on one line
		return strings.ReplaceAll(src, "\n", " ")
	}
	return line
}

// historyPath is $XDG_STATE_HOME/nsh/history, or ~/.local/state/nsh/history.
func historyPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "nsh", "history")
}

// saveHistory writes the history after each line, so that a session that
// is killed loses nothing. A failure is reported once.
func saveHistory(ln *liner.State, path string, stderr io.Writer) {
	if path == "" {
		return
	}
	err := os.MkdirAll(filepath.Dir(path), 0o700)
	if err == nil {
		var f *os.File
		tmp := path + ".tmp"
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			_, err = ln.WriteHistory(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp, path)
			}
		}
	}
	if err != nil && !historyWarned {
		historyWarned = true
		fmt.Fprintf(stderr, "nsh: history not saved: %v\n", err)
	}
}

var historyWarned bool

// complete completes the word before the cursor: a command name (nsh and
// interpreter builtins, functions, programs on $PATH) in command position,
// else a path.
func complete(sh *builtins.Shell, line string, pos int) (head string, completions []string, tail string) {
	head, tail = line[:pos], line[pos:]
	start := strings.LastIndexAny(head, " \t\n;|&()<>") + 1
	word := head[start:]
	head = head[:start]
	before := strings.TrimRight(head, " \t")
	commandPos := before == "" || strings.ContainsAny(before[len(before)-1:], ";|&(") ||
		slices.Contains([]string{"then", "do", "else", "exec", "command", "builtin", "time", "!"}, lastWord(before))

	if commandPos && !strings.Contains(word, "/") {
		seen := map[string]bool{}
		add := func(name string) {
			if strings.HasPrefix(name, word) && !seen[name] {
				seen[name] = true
				completions = append(completions, name+" ")
			}
		}
		for _, n := range builtins.Names() {
			add(n)
		}
		for _, n := range builtins.ShellBuiltins() {
			add(n)
		}
		for n := range sh.Runner.Funcs {
			add(n)
		}
		for _, dir := range filepath.SplitList(sh.Runner.Vars["PATH"].String()) {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), word) {
					continue
				}
				if fi, err := e.Info(); err == nil && fi.Mode()&0o111 != 0 && !fi.IsDir() {
					add(e.Name())
				}
			}
		}
		slices.Sort(completions)
		return head, completions, tail
	}
	return head, completePath(sh.Runner.Dir, word), tail
}

func lastWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// completePath lists the files starting with word; directories end in "/".
func completePath(cwd, word string) []string {
	dir, prefix := filepath.Split(word)
	look := dir
	switch {
	case look == "":
		look = cwd
	case strings.HasPrefix(look, "~/"):
		home, _ := os.UserHomeDir()
		look = filepath.Join(home, look[2:])
	case !filepath.IsAbs(look):
		look = filepath.Join(cwd, look)
	}
	entries, err := os.ReadDir(look)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, prefix) || (strings.HasPrefix(n, ".") && !strings.HasPrefix(prefix, ".")) {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(look, n)); err == nil {
				isDir = fi.IsDir()
			}
		}
		if isDir {
			out = append(out, dir+n+"/")
		} else {
			out = append(out, dir+n+" ")
		}
	}
	slices.Sort(out)
	return out
}
