package jsonlog

import (
	"encoding/json"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// The fast decoder reads exactly what encoding/json reads, for every kind
// of payload the writer can produce.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	payloads := []string{
		"plain line\n", "", "tab\tquote\" backslash\\ slash/\r\n",
		"<html> & \u2028 \u2029", "é ü 日本 😀", "ctl \x00\x01\x1f", "bad utf8 \xff\xfe",
		`{"log":"nested"}`,
	}
	ts := time.Date(2026, 11, 22, 18, 0, 0, 123456789, time.UTC)
	for _, p := range payloads {
		line, err := json.Marshal(Entry{Log: p, Stream: "stderr", Time: ts})
		assert.NilError(t, err)
		var want Entry
		assert.NilError(t, json.Unmarshal(line, &want))
		got, ok := decodeFast(append(line, '\n'))
		assert.Assert(t, ok, "fast path refused %q", line)
		assert.Check(t, is.DeepEqual(got, want), "%q", line)
	}
	// Other shapes fall back to encoding/json.
	e, ok := decode([]byte(`{"stream":"stdout","log":"x\n","time":"2026-11-22T18:00:00Z"}` + "\n"))
	assert.Assert(t, ok)
	assert.Check(t, is.Equal(e.Log, "x\n"))
	_, ok = decode([]byte("garbage\n"))
	assert.Check(t, !ok)
	_, ok = decodeFast([]byte(`{"log":"unterminated`))
	assert.Check(t, !ok)
}

func BenchmarkDecode(b *testing.B) {
	line, _ := json.Marshal(Entry{Log: "line 12345 of the benchmark output\n", Stream: "stdout", Time: time.Now().UTC()})
	line = append(line, '\n')
	for b.Loop() {
		decode(line)
	}
}
