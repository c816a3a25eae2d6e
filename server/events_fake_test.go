package server

import (
	"context"

	"github.com/containerd/errdefs"

	systemroutes "github.com/hyperbox/hyperbox/server/routes/system"
)

// SubscribeEvents completes fakeSystem for the events routes (kept apart
// from server_test.go so each feature group adds its own fake methods).
func (fakeSystem) SubscribeEvents(context.Context, systemroutes.EventsOptions) (*systemroutes.EventSubscription, error) {
	return nil, errdefs.ErrNotImplemented
}
