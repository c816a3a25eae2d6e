package engine

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
)

func TestRuntimeError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		invalid        bool
	}{
		{name: "crun", in: "OCI runtime create failed: executable file `nope` not found in $PATH: No such file or directory",
			want: "failed to create task for container: OCI runtime create failed: exec: \"nope\": executable file not found in $PATH: No such file or directory", invalid: true},
		{name: "runc", in: `runc create failed: exec: "nope": executable file not found in $PATH`,
			want: `failed to create task for container: runc create failed: exec: "nope": executable file not found in $PATH`, invalid: true},
		{name: "other", in: "cgroup trouble", want: "cgroup trouble"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runtimeError(errors.New(tc.in))
			assert.Equal(t, errdefs.IsInvalidArgument(got), tc.invalid)
			want := tc.want
			if tc.invalid {
				want += ": invalid argument"
			}
			assert.Equal(t, got.Error(), want)
		})
	}
}
