// Package router defines the route type every resource router returns.
package router

import (
	"net/http"

	"github.com/hyperbox/hyperbox/server/httputil"
)

// Route is one endpoint.
type Route struct {
	Method  string
	Path    string
	Handler httputil.APIFunc
}

// Router is a group of routes for one resource.
type Router interface {
	Routes() []Route
}

// NewRoute builds a route.
func NewRoute(method, path string, h httputil.APIFunc) Route {
	return Route{Method: method, Path: path, Handler: h}
}

// Get, Post, Put, Delete and Head are shorthands for NewRoute.
func Get(path string, h httputil.APIFunc) Route    { return NewRoute(http.MethodGet, path, h) }
func Post(path string, h httputil.APIFunc) Route   { return NewRoute(http.MethodPost, path, h) }
func Put(path string, h httputil.APIFunc) Route    { return NewRoute(http.MethodPut, path, h) }
func Delete(path string, h httputil.APIFunc) Route { return NewRoute(http.MethodDelete, path, h) }
func Head(path string, h httputil.APIFunc) Route   { return NewRoute(http.MethodHead, path, h) }
