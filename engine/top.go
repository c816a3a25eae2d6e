package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// TopResult is the host's ps output cut down to a container's processes.
type TopResult struct {
	Titles    []string
	Processes [][]string
}

// Top runs the host's ps with args and keeps the header and the rows of
// the container's processes (PIDs as containerd's task reports them). It
// blocks on ps. Errors: NotFound, Conflict (not running, restarting), and
// unclassified errors when ps fails (its first line of stderr, prefixed
// "ps: ") or prints no PID column.
func (e *Engine) Top(ctx context.Context, ref string, args []string) (TopResult, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return TopResult{}, err
	}
	c.mu.Lock()
	rec, task := c.rec, c.task
	c.mu.Unlock()
	switch {
	case rec.State.Restarting:
		return TopResult{}, fmt.Errorf("Container %s is restarting, wait until the container is running: %w", rec.ID, errdefs.ErrConflict)
	case task == nil || !rec.State.Running:
		return TopResult{}, fmt.Errorf("container %s is not running: %w", rec.ID, errdefs.ErrConflict)
	}
	infos, err := task.Pids(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return TopResult{}, fmt.Errorf("container %s is not running: %w", rec.ID, errdefs.ErrConflict)
		}
		return TopResult{}, err
	}
	pids := make(map[int]bool, len(infos))
	list := make([]string, 0, len(infos))
	for _, p := range infos {
		pids[int(p.Pid)] = true
		list = append(list, strconv.FormatUint(uint64(p.Pid), 10))
	}
	out, err := runPS(ctx, args, list)
	if err != nil {
		return TopResult{}, err
	}
	res, err := parsePS(out, pids)
	if err != nil {
		return TopResult{}, err
	}
	e.emit(&rec, "top", nil)
	return res, nil
}

// runPS runs ps with args, first restricted to the given PIDs with -q (less
// work), then, as some options cannot be combined with -q, on all
// processes.
func runPS(ctx context.Context, args, pids []string) ([]byte, error) {
	if len(pids) > 0 {
		q := append(append([]string{}, args...), "-q", strings.Join(pids, ","))
		if out, err := exec.CommandContext(ctx, "ps", q...).Output(); err == nil {
			return out, nil
		}
	}
	out, err := exec.CommandContext(ctx, "ps", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if line, _, _ := bytes.Cut(ee.Stderr, []byte("\n")); len(line) > 0 {
				return nil, fmt.Errorf("ps: %s", line)
			}
		}
		return nil, fmt.Errorf("ps: %w", err)
	}
	return out, nil
}

// parsePS keeps the rows of ps output whose PID is in pids. Rows have as
// many columns as the header; the last column takes the rest of the line
// (the command and its arguments). Thread rows ("-" in the PID column, as
// with ps -L or m) follow the process row they belong to.
func parsePS(out []byte, pids map[int]bool) (TopResult, error) {
	lines := strings.Split(string(out), "\n")
	res := TopResult{Titles: psFields(lines[0]), Processes: [][]string{}}
	col := -1
	for i, t := range res.Titles {
		if t == "PID" {
			col = i
			break
		}
	}
	if col < 0 {
		return TopResult{}, errors.New("Couldn't find PID field in ps output")
	}
	keep := false
	for _, line := range lines[1:] {
		f := psFields(line)
		if len(f) <= col {
			continue
		}
		if f[col] != "-" {
			pid, err := strconv.Atoi(f[col])
			if err != nil {
				return TopResult{}, fmt.Errorf("Unexpected pid '%s': %s", f[col], err)
			}
			keep = pids[pid]
		}
		if !keep {
			continue
		}
		if n := len(res.Titles); len(f) > n {
			f = append(f[:n-1:n-1], strings.Join(f[n-1:], " "))
		}
		res.Processes = append(res.Processes, f)
	}
	return res, nil
}

// psFields splits on ASCII white space only: a command may contain other
// Unicode spaces.
func psFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
	})
}
