package containers

import "github.com/hyperbox/hyperbox/server/router"

// ObserveBackend is what the observing: top, stats, prune routes need.
type ObserveBackend interface{}

func (c *containerRouter) observeRoutes() []router.Route {
	return nil
}
