package jsonlog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// decode parses one log line. Lines this package wrote have a fixed shape,
// {"log":"…","stream":"…","time":"…"}, which a hand-written scanner reads
// several times faster than encoding/json; any other shape (files written
// by another tool) goes through encoding/json.
func decode(line []byte) (Entry, bool) {
	if e, ok := decodeFast(line); ok {
		return e, true
	}
	var e Entry
	if err := json.Unmarshal(bytes.TrimSpace(line), &e); err != nil {
		return Entry{}, false
	}
	return e, true
}

func decodeFast(line []byte) (Entry, bool) {
	var e Entry
	rest, ok := bytes.CutPrefix(line, []byte(`{"log":"`))
	if !ok {
		return e, false
	}
	log, rest, ok := unquote(rest)
	if !ok {
		return e, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"stream":"`)); !ok {
		return e, false
	}
	stream, rest, ok := unquote(rest)
	if !ok {
		return e, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"time":"`)); !ok {
		return e, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return e, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	if err != nil {
		return e, false
	}
	if tail := bytes.TrimSpace(rest[end+1:]); string(tail) != "}" {
		return e, false
	}
	e.Log, e.Stream, e.Time = log, stream, t
	return e, true
}

// unquote reads a JSON string body up to its closing quote and returns it
// with the bytes after the quote.
func unquote(b []byte) (string, []byte, bool) {
	// Fast path: no escapes.
	for i, c := range b {
		switch {
		case c == '"':
			return string(b[:i]), b[i+1:], true
		case c == '\\':
			return unquoteSlow(b, i)
		case c < 0x20:
			return "", nil, false
		}
	}
	return "", nil, false
}

func unquoteSlow(b []byte, i int) (string, []byte, bool) {
	out := make([]byte, i, len(b))
	copy(out, b[:i])
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return string(out), b[i+1:], true
		case c < 0x20:
			return "", nil, false
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case '"', '\\', '/':
			out = append(out, b[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n, ok := unicodeEscape(b[i:])
			if !ok {
				return "", nil, false
			}
			out = utf8.AppendRune(out, r)
			i += n
			continue
		default:
			return "", nil, false
		}
		i += 2
	}
	return "", nil, false
}

// unicodeEscape decodes \uXXXX (and a following low surrogate) at b.
func unicodeEscape(b []byte) (rune, int, bool) {
	r, ok := hex4(b)
	if !ok {
		return 0, 0, false
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex4(b[6:]); ok {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12, true
			}
		}
		return utf8.RuneError, 6, true
	}
	return r, 6, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[2:6]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}
