package containers

import "github.com/hyperbox/hyperbox/server/router"

// ExecBackend is what the exec: create, start (hijacked), inspect, resize routes need.
type ExecBackend interface{}

func (c *containerRouter) execRoutes() []router.Route {
	return nil
}
