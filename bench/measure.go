package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// subject is one command line under test, with the wall times of its runs.
type subject struct {
	name string
	argv []string
	// attr, when set, is applied to the child (new namespaces and the like).
	attr *syscall.SysProcAttr
	// skip is why the subject was not measured; empty when it was.
	skip  string
	times []time.Duration
}

// median returns the median wall time in milliseconds, NaN if skipped.
func (s *subject) median() float64 {
	if s.skip != "" {
		return nan
	}
	return median(ms(s.times))
}

// runTimeout bounds one run of any subject: a hung peer must not hang the
// bench.
const runTimeout = 60 * time.Second

// runOnce runs argv once, with env added to the bench's environment, and
// returns its wall time, from just before the fork to just after wait, and
// its standard output. A non-zero exit is an error carrying the last line
// of the command's stderr.
func runOnce(argv []string, attr *syscall.SysProcAttr, env ...string) (time.Duration, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = attr
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		msg := lastLine(stderr.String())
		if msg == "" {
			msg = lastLine(stdout.String())
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v", runTimeout)
		}
		if msg != "" {
			return d, stdout.Bytes(), fmt.Errorf("%w: %s", err, msg)
		}
		return d, stdout.Bytes(), err
	}
	return d, stdout.Bytes(), nil
}

// lastLine returns the last non-empty line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// measure runs every subject that is not skipped: one untimed warm-up run
// each (which also probes that it works: a failing subject is skipped with
// the error as reason), then runs rounds, each round running every subject
// once, starting one subject later each round so that no subject always
// runs first or right after the same neighbour. Interleaving spreads the
// machine's noise (other processes, frequency changes) over all subjects
// alike, so their ratios stay meaningful when absolute times drift.
func measure(subjects []*subject, runs int, progress func(string)) {
	var live []*subject
	for _, s := range subjects {
		if s.skip != "" {
			continue
		}
		if _, _, err := runOnce(s.argv, s.attr); err != nil {
			s.skip = "fails: " + err.Error()
			continue
		}
		live = append(live, s)
	}
	for r := 0; r < runs; r++ {
		if progress != nil {
			progress(fmt.Sprintf("round %d/%d", r+1, runs))
		}
		for i := range live {
			s := live[(r+i)%len(live)]
			if s.skip != "" {
				continue
			}
			d, _, err := runOnce(s.argv, s.attr)
			if err != nil {
				s.skip = fmt.Sprintf("failed in run %d: %v", r+1, err)
				s.times = nil
				continue
			}
			s.times = append(s.times, d)
		}
	}
}
