package compat

import (
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"

	"github.com/hyperbox/hyperbox/engine"
)

func TestContainerErrorWording(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ref     string
		err     error
		want    string
		isClass func(error) bool
	}{
		{
			name: "not found", ref: "nosuch",
			err:  fmt.Errorf("container %q: %w", "nosuch", errdefs.ErrNotFound),
			want: "No such container: nosuch", isClass: errdefs.IsNotFound,
		},
		{
			name: "name conflict", ref: "x",
			err:     &engine.NameConflictError{Name: "x", ID: "abc"},
			want:    `Conflict. The container name "/x" is already in use by container "abc". You have to remove (or rename) that container to be able to reuse that name.`,
			isClass: errdefs.IsConflict,
		},
		{
			name: "remove running", ref: "web",
			err:     &engine.RunningError{ID: "abc", Status: "running"},
			want:    `cannot remove container "/web": container is running: stop the container before removing or force remove`,
			isClass: errdefs.IsConflict,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := containerError(tc.ref, tc.err)
			assert.Equal(t, got.Error(), tc.want)
			assert.Assert(t, tc.isClass(got))
		})
	}
	assert.Equal(t, imageNotFound("busybox:latest").Error(), "No such image: busybox:latest")
	assert.Assert(t, errdefs.IsNotFound(imageNotFound("x")))
}
