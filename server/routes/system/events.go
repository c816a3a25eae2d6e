package system

import "github.com/hyperbox/hyperbox/server/router"

// EventsBackend is what GET /events needs.
type EventsBackend interface{}

func (s *systemRouter) eventsRoutes() []router.Route {
	return nil
}
