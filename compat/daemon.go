// Package compat implements the server routes' Backends on top of the
// engine and storage: Docker requests become engine specs, engine state
// becomes Docker responses, with Docker's wording and per-version quirks.
package compat

import (
	"github.com/hyperbox/hyperbox/engine"
	buildkit "github.com/hyperbox/hyperbox/engine/builder"
	"github.com/hyperbox/hyperbox/storage"
)

// Version facts the daemon reports.
const (
	// APIVersion is the API version of the pinned moby API types
	// (github.com/moby/moby/api v1.56.x).
	APIVersion = "1.56"
	// MinAPIVersion is the oldest API version served (dockerd 28's default).
	MinAPIVersion = "1.24"
	// EngineVersion is the Docker Engine release whose API we serve;
	// clients gate features on it.
	EngineVersion = "28.5.2"
	// HyperboxVersion is this daemon's own version.
	HyperboxVersion = "0.1.0"
)

// Config is static daemon information for /info and /version.
type Config struct {
	ID                 string
	Name               string
	DataRoot           string
	ExecRoot           string
	Runtimes           map[string]string
	DefaultRuntime     string
	Debug              bool
	Labels             []string
	InsecureRegistries []string
	// LogOpts are the daemon's default json-file options (daemon.json
	// log-opts); they are copied into each new container's LogConfig.
	LogOpts           map[string]string
	ContainerdVersion string
	GitCommit         string
}

// Daemon implements every Backend.
type Daemon struct {
	cfg     Config
	engine  *engine.Engine
	store   *storage.Store
	builder *buildkit.Builder
}

// WithBuilder makes d report and manage the embedded BuildKit b: the
// builder version _ping advertises, its cache in system df, build prune.
func (d *Daemon) WithBuilder(b *buildkit.Builder) *Daemon {
	d.builder = b
	return d
}

// BuilderVersion is "2" with BuildKit, else "1" (classic builder only).
func (d *Daemon) BuilderVersion() string {
	if d.builder != nil {
		return "2"
	}
	return "1"
}

// New builds the compat layer.
func New(cfg Config, e *engine.Engine, s *storage.Store) *Daemon {
	return &Daemon{cfg: cfg, engine: e, store: s}
}
