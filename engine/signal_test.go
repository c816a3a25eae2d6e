package engine

import (
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
)

func TestParseSignal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want syscall.Signal
		bad  bool
	}{
		{in: "", want: syscall.SIGTERM},
		{in: "KILL", want: syscall.SIGKILL},
		{in: "SIGUSR1", want: syscall.SIGUSR1},
		{in: "sigint", want: syscall.SIGINT},
		{in: "9", want: syscall.SIGKILL},
		{in: "0", bad: true},
		{in: "65", bad: true},
		{in: "SIGBOGUS", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSignal(tc.in)
			if tc.bad {
				assert.Assert(t, errdefs.IsInvalidArgument(err))
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, tc.want)
		})
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	caps, _, err := capabilities(&ContainerSpec{CapDrop: []string{"ALL"}, CapAdd: []string{"net_bind_service"}})
	assert.NilError(t, err)
	assert.DeepEqual(t, caps, []string{"CAP_NET_BIND_SERVICE"})
	caps, _, err = capabilities(&ContainerSpec{CapDrop: []string{"NET_RAW"}})
	assert.NilError(t, err)
	assert.Assert(t, len(caps) == len(defaultCaps)-1)
	_, _, err = capabilities(&ContainerSpec{CapAdd: []string{"CAP_NOPE"}})
	assert.Assert(t, errdefs.IsInvalidArgument(err))
	// Privileged gets what the daemon holds, never more.
	caps, _, err = capabilities(&ContainerSpec{Privileged: true})
	assert.NilError(t, err)
	assert.Assert(t, len(caps) > len(defaultCaps))
}
