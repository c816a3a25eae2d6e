package compat

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestCheckPSArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args string
		want string // error, "" for none
	}{
		{name: "default", args: "-ef"},
		{name: "columns", args: "-o pid,comm,args"},
		{name: "pid renamed to PID", args: "-o pid=PID,comm"},
		{name: "user column named PID", args: "-o user=PID", want: `specifying "user=PID" is not allowed`},
		{name: "name after a space", args: "-o user= PIDX", want: `specifying "user=PIDX" is not allowed`},
		{name: "other header", args: "-o user=USERNAME"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkPSArgs(strings.Fields(tc.args))
			if tc.want == "" {
				assert.Check(t, err)
				return
			}
			assert.Check(t, is.Error(err, tc.want))
		})
	}
}
