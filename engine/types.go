package engine

import (
	"time"
)

// ContainerSpec is what the engine needs to create and run a container. The
// compat layer builds it from a Docker create request merged with the image.
type ContainerSpec struct {
	Name  string
	Image string // image reference or ID as given (resolved by storage)
	// ImageName is how the user named the image (for events and lists).
	ImageName  string
	Args       []string
	Env        []string
	WorkingDir string
	User       string
	Hostname   string
	Domainname string
	Labels     map[string]string
	Tty        bool
	OpenStdin  bool
	StdinOnce  bool
	StopSignal string // name or number; empty = SIGTERM
	// StopTimeout in seconds; nil = 10.
	StopTimeout *int

	Memory     int64
	MemorySwap int64
	NanoCPUs   int64
	CPUShares  int64
	CPUQuota   int64
	CPUPeriod  int64
	CpusetCpus string
	PidsLimit  *int64

	Privileged     bool
	CapAdd         []string
	CapDrop        []string
	ReadonlyRootfs bool
	ExtraHosts     []string // "host:ip"
	DNS            []string
	DNSSearch      []string
	DNSOptions     []string
	AutoRemove     bool
	Init           bool
	Runtime        string // "crun" or "runc"; empty = daemon default
	NetworkMode    string // "none", "host" or "" (private network namespace)
	ShmSize        int64
	Tmpfs          map[string]string
	Sysctls        map[string]string
	GroupAdd       []string
	LogMaxSize     int64
	LogMaxFiles    int
	ConsoleHeight  uint
	ConsoleWidth   uint
	Healthcheck    *Healthcheck
	RestartPolicy  RestartPolicy
	// Mounts are the container's volumes, binds and tmpfs mounts
	// (engine/mounts.go); create resolves them (volume names, HostPath).
	Mounts []Mount
	// Networks to attach at start (bridge mode); empty = the default bridge.
	Networks     []NetworkAttachment
	PortBindings []PortSpec
	// Links are legacy "name:alias" links (default bridge: /etc/hosts lines).
	Links []string
}

// Status values use Docker's vocabulary, which clients compare against.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusPaused     = "paused"
	StatusRestarting = "restarting"
	StatusRemoving   = "removing"
	StatusExited     = "exited"
	StatusDead       = "dead"
)

// State is a container's run state.
type State struct {
	Status     string
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	// Health is set for containers with a health check.
	Health *Health
}

// Health statuses.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Health is the state of a container's health check.
type Health struct {
	Status        string
	FailingStreak int
	Log           []HealthResult
}

// HealthResult is one probe run.
type HealthResult struct {
	Start    time.Time
	End      time.Time
	ExitCode int
	Output   string
}

// Healthcheck configures probes (durations already defaulted by compat).
type Healthcheck struct {
	// Test is the command: exec form, or ["/bin/sh","-c",cmd] for CMD-SHELL.
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// RestartPolicy says when the daemon restarts a container that exited.
type RestartPolicy struct {
	// Name is "no", "always", "unless-stopped" or "on-failure".
	Name       string
	MaxRetries int
}

// Container is the engine's persistent record of a container.
type Container struct {
	ID        string
	Name      string // without the leading '/'
	Created   time.Time
	ImageID   string // sha256:...
	ImageName string // containerd image record the snapshot came from
	Spec      ContainerSpec
	State     State
	// Runtime is the OCI runtime the container runs with.
	Runtime      string
	RestartCount int
	// ManuallyStopped is set by stop and kill: restart policies then wait
	// for an explicit start (or, for "always", a daemon restart).
	ManuallyStopped bool
	// NetNS is the pinned network namespace while the container runs.
	NetNS string
	// Endpoints by network name, while running.
	Endpoints map[string]EndpointInfo
	// Ports are the published ports as opened.
	Ports        []PortBinding
	LogPath      string
	HostsPath    string
	HostnamePath string
	ResolvPath   string
	// Meta is opaque data that upper layers keep with the container (compat
	// stores the Docker Config and HostConfig exactly as created).
	Meta map[string][]byte
}

// ExitStatus is what a wait returns.
type ExitStatus struct {
	ExitCode int
	Error    string
}
