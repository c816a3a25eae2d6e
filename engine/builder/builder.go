// Package builder embeds a BuildKit controller, as dockerd does, whose
// worker runs on the daemon's containerd: the same namespace, content store
// and snapshotter as the containers, so an image a build exports is in the
// image store at once. The daemon serves its gRPC API (buildx's docker
// driver dials it through POST /grpc) and the clients' session callbacks
// (POST /session) over hijacked HTTP connections.
package builder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/moby/buildkit/cache/remotecache"
	inlineremotecache "github.com/moby/buildkit/cache/remotecache/inline"
	localremotecache "github.com/moby/buildkit/cache/remotecache/local"
	registryremotecache "github.com/moby/buildkit/cache/remotecache/registry"
	"github.com/moby/buildkit/cmd/buildkitd/config"
	"github.com/moby/buildkit/control"
	"github.com/moby/buildkit/frontend"
	dockerfile "github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/gateway"
	"github.com/moby/buildkit/frontend/gateway/forwarder"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/solver/bboltcachestorage"
	"github.com/moby/buildkit/util/db/boltutil"
	"github.com/moby/buildkit/util/disk"
	"github.com/moby/buildkit/util/grpcerrors"
	_ "github.com/moby/buildkit/util/grpcutil/encoding/proto" // BuildKit's gRPC codec
	"github.com/moby/buildkit/util/network/netproviders"
	"github.com/moby/buildkit/util/resolver"
	resolverconfig "github.com/moby/buildkit/util/resolver/config"
	"github.com/moby/buildkit/worker"
	"github.com/moby/buildkit/worker/base"
	ctdworker "github.com/moby/buildkit/worker/containerd"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
)

// Options configure the embedded BuildKit.
type Options struct {
	// Root holds BuildKit's metadata and cache databases.
	Root string
	// Address is containerd's socket; Namespace and Snapshotter the ones
	// the daemon's images and containers use.
	Address, Namespace, Snapshotter string
	// Runtime is the OCI runtime binary build steps run with.
	Runtime string
	// Images adopts the images builds export (names them the daemon's way).
	Images ImageAdopter
	// InsecureRegistries may be reached over plain HTTP.
	InsecureRegistries []string
}

// Builder is the embedded BuildKit controller.
type Builder struct {
	controller *control.Controller
	grpc       *grpc.Server
	sessions   *session.Manager
	worker     *mobyWorker
	closeOnce  sync.Once
	stop       chan struct{}
}

// New starts BuildKit on containerd at opts.Address.
func New(ctx context.Context, opts Options) (*Builder, error) {
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, err
	}
	sm, err := session.NewManager()
	if err != nil {
		return nil, err
	}
	hosts := registryHosts(opts.InsecureRegistries)
	wopt, err := ctdworker.NewWorkerOpt(ctdworker.WorkerOptions{
		Root:            opts.Root,
		Address:         opts.Address,
		SnapshotterName: opts.Snapshotter,
		Namespace:       opts.Namespace,
		NetworkOpt:      netproviders.Opt{Mode: "host"},
		Runtime: &ctdworker.RuntimeInfo{
			Name:    "io.containerd.runc.v2",
			Options: &runcoptions.Options{BinaryName: opts.Runtime},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("buildkit worker: %w", err)
	}
	// Without the snapshotter label buildx treats the worker as dockerd's
	// classic image store: images are identified by their config digest,
	// exported through the "moby" exporter, with no attestations.
	delete(wopt.Labels, "org.mobyproject.buildkit.worker.snapshotter")
	wopt.RegistryHosts = hosts
	dstat, _ := disk.GetDiskStat(opts.Root)
	for _, p := range config.DefaultGCPolicy(config.GCConfig{}, dstat) {
		wopt.GCPolicy = append(wopt.GCPolicy, pruneInfo(p, dstat))
	}
	bw, err := base.NewWorker(ctx, wopt)
	if err != nil {
		return nil, fmt.Errorf("buildkit worker: %w", err)
	}
	w := &mobyWorker{Worker: bw, images: opts.Images}
	wc := &worker.Controller{}
	if err := wc.Add(w); err != nil {
		return nil, err
	}
	frontends := map[string]frontend.Frontend{
		"dockerfile.v0": forwarder.NewGatewayForwarder(wc.Infos(), dockerfile.Build),
	}
	gw, err := gateway.NewGatewayFrontend(wc.Infos(), nil)
	if err != nil {
		return nil, err
	}
	frontends["gateway.v0"] = gw
	cacheStore, err := bboltcachestorage.NewStore(filepath.Join(opts.Root, "cache.db"))
	if err != nil {
		return nil, err
	}
	historyDB, err := boltutil.SafeOpen(filepath.Join(opts.Root, "history.db"), 0o600, &bolt.Options{
		FreelistType: bolt.FreelistMapType, NoFreelistSync: true,
	})
	if err != nil {
		return nil, err
	}
	b := &Builder{sessions: sm, worker: w, stop: make(chan struct{})}
	b.controller, err = control.NewController(control.Opt{
		SessionManager:   sm,
		WorkerController: wc,
		Frontends:        frontends,
		CacheManager:     solver.NewCacheManager(ctx, "local", cacheStore, worker.NewCacheResultStorage(wc)),
		ResolveCacheExporterFuncs: map[string]remotecache.ResolveCacheExporterFunc{
			"registry": registryremotecache.ResolveCacheExporterFunc(sm, hosts),
			"local":    localremotecache.ResolveCacheExporterFunc(sm),
			"inline":   inlineremotecache.ResolveCacheExporterFunc(),
		},
		ResolveCacheImporterFuncs: map[string]remotecache.ResolveCacheImporterFunc{
			"registry": registryremotecache.ResolveCacheImporterFunc(sm, w.ContentStore(), hosts),
			"local":    localremotecache.ResolveCacheImporterFunc(sm),
		},
		// dockerd lets builds use the host's network (--network=host).
		Entitlements:   []string{"network.host"},
		HistoryDB:      historyDB,
		CacheStore:     cacheStore,
		LeaseManager:   w.LeaseManager(),
		ContentStore:   w.ContentStore(),
		GarbageCollect: w.GarbageCollect,
		GracefulStop:   b.stop,
	})
	if err != nil {
		return nil, fmt.Errorf("buildkit controller: %w", err)
	}
	b.grpc = grpc.NewServer(
		grpc.ChainUnaryInterceptor(preferLocalImages, grpcerrors.UnaryServerInterceptor),
		grpc.StreamInterceptor(grpcerrors.StreamServerInterceptor),
	)
	b.controller.Register(b.grpc)
	return b, nil
}

// ServeGRPC serves BuildKit's control API over HTTP/2 (h2c) on conn, a
// connection hijacked from POST /grpc, until the client closes it.
func (b *Builder) ServeGRPC(ctx context.Context, conn net.Conn) {
	var srv http2.Server
	srv.ServeConn(conn, &http2.ServeConnOpts{Context: ctx, Handler: b.grpc})
}

// HandleSession runs a client's session (its file sync, auth and secrets
// callbacks) on conn, a connection hijacked from POST /session; meta are
// the request's headers (X-Docker-Expose-Session-*).
func (b *Builder) HandleSession(ctx context.Context, conn net.Conn, meta map[string][]string) error {
	return b.sessions.HandleConn(ctx, conn, meta)
}

// Close stops the controller; builds in progress are cancelled.
func (b *Builder) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.stop)
		b.grpc.Stop()
		err = errors.Join(b.controller.Close(), b.worker.Close())
	})
	return err
}

// registryHosts resolves registries as BuildKit does by default (plain
// HTTP for localhost), plus the daemon's insecure registries.
func registryHosts(insecure []string) docker.RegistryHosts {
	cfg := map[string]resolverconfig.RegistryConfig{}
	yes := true
	for _, r := range insecure {
		cfg[r] = resolverconfig.RegistryConfig{PlainHTTP: &yes, Insecure: &yes}
	}
	return resolver.NewRegistryConfig(cfg)
}
