package compat

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/storage"
)

// SystemVersion answers GET /version.
func (d *Daemon) SystemVersion(ctx context.Context) system.VersionResponse {
	kernel := kernelVersion()
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "HyperBox Engine"},
		Version:       EngineVersion,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		GitCommit:     d.gitCommit(),
		GoVersion:     runtime.Version(),
		KernelVersion: kernel,
		BuildTime:     "",
		Components: []system.ComponentVersion{
			{Name: "Engine", Version: EngineVersion, Details: map[string]string{
				"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": runtime.GOOS,
				"Arch": runtime.GOARCH, "GoVersion": runtime.Version(), "KernelVersion": kernel,
				"GitCommit": d.gitCommit(), "Experimental": "false",
			}},
			{Name: "hyperbox", Version: HyperboxVersion},
			{Name: "containerd", Version: d.cfg.ContainerdVersion},
		},
	}
}

// SystemInfo answers GET /info with the fields clients read.
func (d *Daemon) SystemInfo(ctx context.Context) (*system.Info, error) {
	all := d.engine.List(ctx)
	info := &system.Info{
		ID:                 d.cfg.ID,
		Containers:         len(all),
		Driver:             d.store.Snapshotter(),
		DriverStatus:       [][2]string{},
		Plugins:            system.PluginsInfo{Volume: []string{"local"}, Network: []string{"host", "null"}, Log: []string{"json-file"}},
		MemoryLimit:        true,
		SwapLimit:          true,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		Debug:              d.cfg.Debug,
		NEventsListener:    d.engine.Events().Subscribers(),
		NGoroutines:        runtime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgroupVersion(),
		KernelVersion:      kernelVersion(),
		OperatingSystem:    osName(),
		OSVersion:          osVersion(),
		OSType:             "linux",
		Architecture:       arch(),
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     &registry.ServiceConfig{InsecureRegistryCIDRs: nil, IndexConfigs: map[string]*registry.IndexInfo{}, Mirrors: []string{}},
		NCPU:               runtime.NumCPU(),
		MemTotal:           memTotal(),
		DockerRootDir:      d.cfg.DataRoot,
		Name:               d.cfg.Name,
		Labels:             nonNil(d.cfg.Labels),
		ServerVersion:      EngineVersion,
		Runtimes:           map[string]system.RuntimeWithStatus{},
		DefaultRuntime:     d.cfg.DefaultRuntime,
		Swarm:              swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		LiveRestoreEnabled: true,
		Isolation:          "",
		InitBinary:         "",
		SecurityOptions:    []string{},
		CDISpecDirs:        []string{},
		Warnings:           []string{},
	}
	for _, c := range all {
		switch {
		case c.State.Paused:
			info.ContainersPaused++
		case c.State.Running:
			info.ContainersRunning++
		default:
			info.ContainersStopped++
		}
	}
	rows, warnings := prewarmInfo(d.engine.PrewarmStats())
	info.DriverStatus = append(info.DriverStatus, rows...)
	info.Warnings = append(info.Warnings, warnings...)
	for name, path := range d.cfg.Runtimes {
		info.Runtimes[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: path}}
	}
	if imgs, err := d.store.List(ctx); err == nil {
		info.Images = len(imgs)
	}
	return info, nil
}

// Auth answers POST /auth (docker login): the credentials are checked
// against the registry; nothing is stored or logged.
func (d *Daemon) Auth(ctx context.Context, cfg *registry.AuthConfig) (registry.AuthResponse, error) {
	server := cfg.ServerAddress
	if server == "" || strings.Contains(server, "index.docker.io") {
		server = "docker.io"
	}
	server = strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	server = strings.TrimSuffix(strings.TrimSuffix(server, "/"), "/v1")
	server = strings.TrimSuffix(server, "/v2")
	token, err := d.store.Login(ctx, server, *toStorageAuth(cfg))
	if err != nil {
		return registry.AuthResponse{}, err
	}
	return registry.AuthResponse{Status: "Login Succeeded", IdentityToken: token}, nil
}

func toStorageAuth(a *registry.AuthConfig) *storage.Auth {
	if a == nil {
		return nil
	}
	return &storage.Auth{
		Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken,
		RegistryToken: a.RegistryToken, ServerAddress: a.ServerAddress,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func arch() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func osRelease(key string) string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && k == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func osName() string {
	if n := osRelease("PRETTY_NAME"); n != "" {
		return n
	}
	return "Linux"
}

func osVersion() string { return osRelease("VERSION_ID") }

func memTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// cgroupVersion is "2" only on a pure v2 host; the hybrid layout runs
// containers on v1 controllers.
func cgroupVersion() string {
	if cgroups.Mode() == cgroups.Unified {
		return "2"
	}
	return "1"
}

var _ = engine.StatusRunning

func (d *Daemon) gitCommit() string {
	if d.cfg.GitCommit != "" {
		return d.cfg.GitCommit
	}
	return "hyperbox-" + HyperboxVersion
}
