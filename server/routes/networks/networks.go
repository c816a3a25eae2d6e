// Package networks serves the /networks endpoints.
package networks

import (
	"context"
	"fmt"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/router"
)

// Backend is what the network routes need.
type Backend interface {
	NetworkList(ctx context.Context, filters map[string]map[string]bool) ([]network.Summary, error)
	// NetworkInspect finds a network by name, ID or ID prefix. Errors: NotFound.
	NetworkInspect(ctx context.Context, ref string) (*network.Inspect, error)
	// NetworkCreate errors: Conflict (name), InvalidArgument, NotFound (driver).
	NetworkCreate(ctx context.Context, req *network.CreateRequest) (network.CreateResponse, error)
	// NetworkRemove errors: NotFound, PermissionDenied (in use, predefined).
	NetworkRemove(ctx context.Context, ref string) error
	NetworkConnect(ctx context.Context, ref string, req *network.ConnectRequest) error
	NetworkDisconnect(ctx context.Context, ref string, req *network.DisconnectRequest) error
	NetworkPrune(ctx context.Context, filters map[string]map[string]bool) (*network.PruneReport, error)
}

type networkRouter struct{ b Backend }

// New returns the networks router.
func New(b Backend) router.Router { return &networkRouter{b: b} }

func (n *networkRouter) Routes() []router.Route {
	return []router.Route{
		router.Get("/networks", n.getNetworksList),
		router.Get("/networks/", n.getNetworksList),
		router.Post("/networks/create", n.postNetworkCreate),
		router.Post("/networks/prune", n.postNetworksPrune),
		router.Get("/networks/{id:.+}", n.getNetwork),
		router.Post("/networks/{id:.*}/connect", n.postNetworkConnect),
		router.Post("/networks/{id:.*}/disconnect", n.postNetworkDisconnect),
		router.Delete("/networks/{id:.*}", n.deleteNetwork),
	}
}

func (n *networkRouter) filters(r *http.Request) (map[string]map[string]bool, error) {
	if err := httputil.ParseForm(r); err != nil {
		return nil, err
	}
	return httputil.ParseFilters(r.Form.Get("filters"))
}

func (n *networkRouter) getNetworksList(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := n.filters(r)
	if err != nil {
		return err
	}
	list, err := n.b.NetworkList(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, list)
}

func (n *networkRouter) getNetwork(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	resp, err := n.b.NetworkInspect(ctx, vars["id"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}

func (n *networkRouter) postNetworkCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req network.CreateRequest
	if err := httputil.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return fmt.Errorf("network name must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	resp, err := n.b.NetworkCreate(ctx, &req)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, resp)
}

func (n *networkRouter) deleteNetwork(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := n.b.NetworkRemove(ctx, vars["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (n *networkRouter) postNetworkConnect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var req network.ConnectRequest
	if err := httputil.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := n.b.NetworkConnect(ctx, vars["id"], &req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (n *networkRouter) postNetworkDisconnect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var req network.DisconnectRequest
	if err := httputil.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := n.b.NetworkDisconnect(ctx, vars["id"], &req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (n *networkRouter) postNetworksPrune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := n.filters(r)
	if err != nil {
		return err
	}
	rep, err := n.b.NetworkPrune(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, rep)
}
