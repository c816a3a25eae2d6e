package containers

import "github.com/hyperbox/hyperbox/server/router"

// ArchiveBackend is what the files: archive GET/HEAD/PUT, export, changes, commit routes need.
type ArchiveBackend interface{}

func (c *containerRouter) archiveRoutes() []router.Route {
	return nil
}
