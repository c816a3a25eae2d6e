package jsonlog

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// ReadOptions select which entries Read returns.
type ReadOptions struct {
	// Tail is the number of most recent entries to return; < 0 means all.
	Tail int
	// Since and Until bound entry times (zero: unbounded). Until is exclusive.
	Since, Until time.Time
	// Follow keeps reading new entries until Done is closed (and what was
	// written before it closed has been read) or ctx ends.
	Follow bool
	// Done is closed when no more output will be written (container stopped).
	Done <-chan struct{}
}

// Read calls emit for each selected entry in order.
func Read(ctx context.Context, path string, opts ReadOptions, emit func(Entry) error) error {
	keep := func(e Entry) bool {
		if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
			return false
		}
		if !opts.Until.IsZero() && !e.Time.Before(opts.Until) {
			return false
		}
		return true
	}
	// Without a tail, entries are emitted as they are read; with one,
	// they are collected first to keep the last Tail.
	var entries []Entry
	var emitErr error
	collect := func(e Entry) {
		switch {
		case !keep(e) || emitErr != nil:
		case opts.Tail >= 0:
			entries = append(entries, e)
		default:
			emitErr = emit(e)
		}
	}
	var live *os.File
	var offset int64
	for _, p := range Files(path) {
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return err
		}
		n, err := scan(f, collect)
		if p == path {
			live, offset = f, n
		} else {
			f.Close()
		}
		if err != nil || emitErr != nil {
			if live != nil {
				live.Close()
			}
			return errors.Join(err, emitErr)
		}
	}
	if live != nil {
		defer func() { live.Close() }()
	}
	if opts.Tail >= 0 && len(entries) > opts.Tail {
		entries = entries[len(entries)-opts.Tail:]
	}
	for _, e := range entries {
		if err := emit(e); err != nil {
			return err
		}
	}
	if !opts.Follow || (!opts.Until.IsZero() && time.Now().After(opts.Until)) {
		return nil
	}
	return follow(ctx, path, live, offset, opts, keep, emit)
}

// follow polls the live file for appended entries; it reopens the file
// when it was rotated away.
func follow(ctx context.Context, path string, f *os.File, offset int64, opts ReadOptions, keep func(Entry) bool, emit func(Entry) error) error {
	var emitErr error
	send := func(e Entry) {
		if emitErr == nil && keep(e) {
			emitErr = emit(e)
		}
	}
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	done := opts.Done
	for {
		finished := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			finished = true
		case <-ticker.C:
		}
		if f == nil {
			if nf, err := os.Open(path); err == nil {
				f, offset = nf, 0
				defer nf.Close()
			}
		}
		if f != nil {
			if _, err := f.Seek(offset, io.SeekStart); err != nil {
				return err
			}
			n, err := scan(f, send)
			offset += n
			if err != nil {
				return err
			}
			if emitErr != nil {
				return emitErr
			}
			// Rotated: the path now names a new file.
			if st, err := os.Stat(path); err == nil {
				if cur, err2 := f.Stat(); err2 == nil && !os.SameFile(st, cur) {
					f = nil
					continue
				}
			}
		}
		if finished {
			return nil
		}
		if !opts.Until.IsZero() && time.Now().After(opts.Until) {
			return nil
		}
	}
}

// scan decodes complete lines from r and returns the bytes consumed (a
// trailing partial line is left for the next call).
func scan(r io.Reader, fn func(Entry)) (int64, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var consumed int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			consumed += int64(len(line))
			if e, ok := decode(line); ok {
				fn(e)
			}
		}
		if err == io.EOF {
			return consumed, nil
		}
		if err != nil {
			return consumed, err
		}
	}
}
