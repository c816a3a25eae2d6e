package system

import "github.com/hyperbox/hyperbox/server/router"

// DiskUsageBackend is what GET /system/df needs.
type DiskUsageBackend interface{}

func (s *systemRouter) diskUsageRoutes() []router.Route {
	return nil
}
