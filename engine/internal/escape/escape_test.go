package escape

import (
	"errors"
	"io"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func TestParseKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []byte
		bad  bool
	}{
		{in: "", want: []byte{16, 17}},
		{in: "ctrl-p,ctrl-q", want: []byte{16, 17}},
		{in: "ctrl-a,x", want: []byte{1, 'x'}},
		{in: "ctrl-@,ctrl-[", want: []byte{0, 27}},
		{in: "ctrl-", bad: true},
		{in: "ab", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseKeys(tc.in)
			if tc.bad {
				assert.Assert(t, err != nil)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		want     string
		detached bool
	}{
		{name: "plain", in: "hello", want: "hello"},
		{name: "detach", in: "ab\x10\x11cd", want: "ab", detached: true},
		{name: "partial then other", in: "a\x10b", want: "a\x10b"},
		{name: "partial at end", in: "a\x10", want: "a\x10"},
		{name: "double prefix", in: "\x10\x10\x11z", want: "\x10", detached: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), DefaultKeys)
			got, err := io.ReadAll(r)
			assert.Equal(t, string(got), tc.want)
			assert.Equal(t, errors.Is(err, ErrDetached), tc.detached)
		})
	}
}
