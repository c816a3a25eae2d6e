// Command hyperboxd serves the Docker Engine API on containerd.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"
	"github.com/spf13/pflag"

	"github.com/hyperbox/hyperbox/compat"
	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/engine/builder"
	"github.com/hyperbox/hyperbox/engine/memtrim"
	"github.com/hyperbox/hyperbox/engine/network"
	"github.com/hyperbox/hyperbox/engine/portproxy"
	"github.com/hyperbox/hyperbox/engine/supervisor"
	"github.com/hyperbox/hyperbox/server"
	"github.com/hyperbox/hyperbox/server/metrics"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/routes/build"
	"github.com/hyperbox/hyperbox/server/routes/containers"
	"github.com/hyperbox/hyperbox/server/routes/images"
	"github.com/hyperbox/hyperbox/server/routes/networks"
	"github.com/hyperbox/hyperbox/server/routes/system"
	"github.com/hyperbox/hyperbox/server/routes/volumes"
	"github.com/hyperbox/hyperbox/storage"
)

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "hyperboxd:", err)
		os.Exit(1)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "hyperboxd:", err)
		os.Exit(1)
	}
}

func run(cfg *Config) error {
	if err := log.SetLevel(cfg.LogLevel); err != nil {
		return fmt.Errorf("invalid --log-level %q", cfg.LogLevel)
	}
	_ = log.SetFormat(log.TextFormat)
	if os.Geteuid() != 0 {
		return errors.New("hyperboxd needs to be started as root")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx = namespaces.WithNamespace(ctx, cfg.ContainerdNS)

	for _, d := range []string{cfg.DataRoot, cfg.ExecRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	runtimes, err := findRuntimes(cfg.DefaultRuntime)
	if err != nil {
		return err
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return err
	}
	// Open the API sockets first: a socket held by another daemon must
	// stop us before we touch any state.
	var idle memtrim.Idle
	srvCfg := server.Config{
		Hosts: cfg.Hosts, TLS: tlsCfg, SocketGroup: cfg.Group, Activity: idle.Touch,
		Versions: middleware.Versions{Min: compat.MinAPIVersion, Max: compat.APIVersion, ServerVersion: compat.EngineVersion},
	}
	if err := writePidfile(cfg.Pidfile); err != nil {
		return err
	}
	defer os.Remove(cfg.Pidfile)
	srv := server.New(srvCfg)
	if err := srv.Listen(ctx); err != nil {
		return err
	}

	engine.PrepareCgroups(ctx)

	address := cfg.Containerd
	var sup *supervisor.Supervisor
	if address == "" {
		bin, err := helperBinary("containerd")
		if err != nil {
			return err
		}
		sup, err = supervisor.Start(ctx, supervisor.Config{
			Binary:   bin,
			Root:     filepath.Join(cfg.DataRoot, "containerd"),
			State:    filepath.Join(cfg.ExecRoot, "containerd"),
			LogLevel: containerdLogLevel(cfg.LogLevel),
			LogFile:  filepath.Join(cfg.ExecRoot, "containerd.log"),
		})
		if err != nil {
			return err
		}
		defer sup.Stop(10 * time.Second)
		address = filepath.Join(cfg.ExecRoot, "containerd", "containerd.sock")
	}
	client, err := containerd.New(address, containerd.WithDefaultNamespace(cfg.ContainerdNS), containerd.WithTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	defer client.Close()
	ver, err := client.Version(ctx)
	if err != nil {
		return fmt.Errorf("containerd at %s does not answer: %w", address, err)
	}

	store := storage.New(client, storage.Options{Snapshotter: "overlayfs", InsecureRegistries: cfg.InsecureRegistries})
	maxSize, maxFiles, err := compat.ParseLogOpts(cfg.LogOpts)
	if err != nil {
		return fmt.Errorf("log-opts: %w", err)
	}
	if maxSize == 0 {
		// Unlike dockerd (unbounded json-file logs by default), rotate by
		// default with the limits of Docker's "local" driver: 20 MB x 5.
		maxSize, maxFiles = 20<<20, 5
	}
	netMgr, err := network.New(netOptions(cfg))
	if err != nil {
		return fmt.Errorf("networking: %w", err)
	}
	ports := portproxy.New()
	defer ports.Close()
	eng, err := engine.New(ctx, engine.Options{
		Client: client, Store: store, Namespace: cfg.ContainerdNS,
		Root:     filepath.Join(cfg.DataRoot, "containers"),
		ExecRoot: filepath.Join(cfg.ExecRoot, "containers"),
		Runtimes: runtimes, DefaultRuntime: cfg.DefaultRuntime,
		LogMaxSize: maxSize, LogMaxFiles: maxFiles, InitPath: findInit(),
		VolumesRoot: filepath.Join(cfg.DataRoot, "volumes"),
		Networks:    netMgr, Ports: engine.ProxyPublisher{M: ports}, DNS: dnsStarter,
		PrewarmEnabled: cfg.Prewarm, PrewarmIgnorePressure: cfg.PrewarmNoPressure,
		PauseBinary: embeddedHelper(cfg.Containerd, "hyperbox-pause"), ShimLinger: cfg.ShimLinger,
		ShimBinary: embeddedHelper(cfg.Containerd, "hyperbox-shim"),
	})
	if err != nil {
		return err
	}
	defer func() {
		eng.Close()
		// Without live containers the bridges and firewall rules go too.
		netMgr.Shutdown()
	}()

	host, _ := os.Hostname()
	d := compat.New(compat.Config{
		ID: daemonID(cfg.DataRoot), Name: host, DataRoot: cfg.DataRoot, ExecRoot: cfg.ExecRoot,
		Runtimes: runtimes, DefaultRuntime: cfg.DefaultRuntime, Debug: cfg.LogLevel == "debug",
		Labels: cfg.Labels, InsecureRegistries: cfg.InsecureRegistries, ContainerdVersion: ver.Version,
		LogOpts: cfg.LogOpts,
	}, eng, store)
	var bk build.BuildKit
	if b := startBuildKit(ctx, cfg, address, store, runtimes); b != nil {
		defer b.Close()
		d.WithBuilder(b)
		bk = b
	}
	if cfg.MetricsAddr != "" {
		if err := metrics.Serve(ctx, cfg.MetricsAddr, d); err != nil {
			return err
		}
	}
	srv.Register(system.New(d), containers.New(d), images.New(d), networks.New(d))
	srv.Register(volumes.New(d), build.New(d, bk))
	go idle.Run(ctx, idleTrimAfter, func() { trimResident(ctx, sup) })
	log.G(ctx).WithField("containerd", address).Info("hyperboxd is ready")
	err = srv.Serve(ctx)
	log.G(ctx).Info("hyperboxd shutting down; containers keep running")
	return err
}

// idleTrimAfter is how long the API must have been quiet before the daemon
// gives back memory it is not using (trimResident).
const idleTrimAfter = 5 * time.Second

// trimResident gives back what start-up and the last busy spell left
// behind: the heap's free pages, and the pages of hyperboxd's and its
// containerd's executables that were touched (engine/memtrim); what they
// use again comes back, from the page cache or disk.
func trimResident(ctx context.Context, sup *supervisor.Supervisor) {
	debug.FreeOSMemory()
	pids := []int{0} // this process
	if sup != nil && sup.Pid() > 0 {
		pids = append(pids, sup.Pid())
	}
	for _, pid := range pids {
		before, after, err := memtrim.PageOutExecutable(pid)
		lg := log.G(ctx).WithField("pid", pid)
		if err != nil {
			lg.WithError(err).Debug("could not page out start-up pages")
			continue
		}
		lg.WithField("before", before>>20).WithField("after", after>>20).Debug("paged out start-up pages (MiB of the executable resident)")
	}
}

// startBuildKit starts the embedded BuildKit on the daemon's containerd.
// Without it the daemon still serves the classic builder (and says so).
func startBuildKit(ctx context.Context, cfg *Config, address string, store *storage.Store, runtimes map[string]string) *builder.Builder {
	// Build steps run with runc: BuildKit writes runtime-spec documents
	// newer than Debian's crun accepts.
	rt := runtimes["runc"]
	if rt == "" {
		rt = runtimes[cfg.DefaultRuntime]
	}
	b, err := builder.New(ctx, builder.Options{
		Root:    filepath.Join(cfg.DataRoot, "buildkit"),
		Address: address, Namespace: cfg.ContainerdNS, Snapshotter: store.Snapshotter(),
		Runtime: rt, Images: store, InsecureRegistries: cfg.InsecureRegistries,
	})
	if err != nil {
		log.G(ctx).WithError(err).Error("BuildKit is disabled; only the classic builder (POST /build) is served")
		return nil
	}
	return b
}

func containerdLogLevel(l string) string {
	if l == "debug" {
		return "debug"
	}
	return "warn"
}

// helperBinary finds a binary built next to hyperboxd, then on the PATH.
func helperBinary(name string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found next to hyperboxd or on PATH (run make build)", name)
	}
	return p, nil
}

// findRuntimes locates crun and runc; the default one must exist.
func findRuntimes(def string) (map[string]string, error) {
	rt := map[string]string{}
	for _, name := range []string{"crun", "runc"} {
		if p, err := exec.LookPath(name); err == nil {
			rt[name] = p
		}
	}
	if _, ok := rt[def]; !ok {
		if def != "crun" && def != "runc" {
			return nil, fmt.Errorf("unknown --default-runtime %q: choose crun or runc", def)
		}
		return nil, fmt.Errorf("default runtime %s not found on PATH (install it: apt-get install %s)", def, def)
	}
	return rt, nil
}

// embeddedHelper finds the shim keeper's program or the shim front
// (engine.Options PauseBinary, ShimBinary), used only with the embedded
// containerd, whose shims are the ones built next to hyperboxd.
func embeddedHelper(externalContainerd, name string) string {
	if externalContainerd != "" {
		return ""
	}
	p, err := helperBinary(name)
	if err != nil {
		return ""
	}
	return p
}

func findInit() string {
	for _, n := range []string{"tini-static", "docker-init", "tini"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

func tlsConfig(cfg *Config) (*server.TLSConfig, error) {
	if !cfg.TLS && !cfg.TLSVerify {
		for _, h := range cfg.Hosts {
			if strings.HasPrefix(h, "tcp://") {
				return nil, fmt.Errorf("refusing to listen on %s without TLS: pass --tlsverify --tlscacert --tlscert --tlskey", h)
			}
		}
		return nil, nil
	}
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return nil, errors.New("--tls/--tlsverify need --tlscert and --tlskey")
	}
	if cfg.TLSVerify && cfg.TLSCACert == "" {
		return nil, errors.New("--tlsverify needs --tlscacert")
	}
	return &server.TLSConfig{Verify: cfg.TLSVerify, CACert: cfg.TLSCACert, Cert: cfg.TLSCert, Key: cfg.TLSKey}, nil
}

// writePidfile refuses to start when another live hyperboxd owns it.
func writePidfile(path string) error {
	if data, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid != os.Getpid() {
			if syscall.Kill(pid, 0) == nil {
				if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.Contains(filepath.Base(exe), "hyperboxd") {
					return fmt.Errorf("pid file found, ensure hyperboxd is not running or delete %s", path)
				}
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// daemonID is a stable random ID kept in the data root.
func daemonID(root string) string {
	p := filepath.Join(root, "engine-id")
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	_ = os.WriteFile(p, []byte(id), 0o600)
	return id
}
