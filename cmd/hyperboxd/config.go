package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is the daemon configuration: flags, optionally completed by a
// daemon.json with the dockerd keys hyperboxd supports.
type Config struct {
	Hosts              []string          `json:"hosts"`
	DataRoot           string            `json:"data-root"`
	ExecRoot           string            `json:"exec-root"`
	Containerd         string            `json:"containerd"`
	ContainerdNS       string            `json:"containerd-namespace"`
	DefaultRuntime     string            `json:"default-runtime"`
	LogLevel           string            `json:"log-level"`
	Debug              bool              `json:"debug"`
	TLS                bool              `json:"tls"`
	TLSVerify          bool              `json:"tlsverify"`
	TLSCACert          string            `json:"tlscacert"`
	TLSCert            string            `json:"tlscert"`
	TLSKey             string            `json:"tlskey"`
	InsecureRegistries []string          `json:"insecure-registries"`
	Group              string            `json:"group"`
	Pidfile            string            `json:"pidfile"`
	LogDriver          string            `json:"log-driver"`
	LogOpts            map[string]string `json:"log-opts"`
	LiveRestore        bool              `json:"live-restore"`
	Labels             []string          `json:"labels"`
	BIP                string            `json:"bip"`
	AddressPools       []AddressPool     `json:"default-address-pools"`
	MetricsAddr        string            `json:"metrics-addr"`
	Prewarm            bool              `json:"prewarm"`
	PrewarmNoPressure  bool              `json:"prewarm-ignore-pressure"`
	ShimLinger         time.Duration     `json:"-"`
	ConfigFile         string            `json:"-"`
}

// flagToKey maps flag names to daemon.json keys where they differ.
var flagToKey = map[string]string{
	"host": "hosts", "insecure-registry": "insecure-registries", "label": "labels",
}

func newFlags(cfg *Config) *pflag.FlagSet {
	fs := pflag.NewFlagSet("hyperboxd", pflag.ContinueOnError)
	fs.StringSliceVarP(&cfg.Hosts, "host", "H", nil, "Daemon socket(s) to listen on (unix:///path or tcp://addr:port with TLS)")
	fs.StringVar(&cfg.DataRoot, "data-root", "/var/lib/hyperbox", "Root directory of persistent state")
	fs.StringVar(&cfg.ExecRoot, "exec-root", "/run/hyperbox", "Root directory for execution state files")
	fs.StringVar(&cfg.Containerd, "containerd", "", "Address of an external containerd (default: run an embedded one)")
	fs.StringVar(&cfg.ContainerdNS, "containerd-namespace", "hyperbox", "containerd namespace to use")
	fs.StringVar(&cfg.DefaultRuntime, "default-runtime", "crun", "Default OCI runtime for containers (crun or runc)")
	fs.StringVarP(&cfg.LogLevel, "log-level", "l", "info", `Logging level ("debug", "info", "warn", "error", "fatal")`)
	fs.BoolVarP(&cfg.Debug, "debug", "D", false, "Enable debug mode")
	fs.BoolVar(&cfg.TLS, "tls", false, "Use TLS; implied by --tlsverify")
	fs.BoolVar(&cfg.TLSVerify, "tlsverify", false, "Use TLS and verify the remote")
	fs.StringVar(&cfg.TLSCACert, "tlscacert", "", "Trust certs signed only by this CA")
	fs.StringVar(&cfg.TLSCert, "tlscert", "", "Path to TLS certificate file")
	fs.StringVar(&cfg.TLSKey, "tlskey", "", "Path to TLS key file")
	fs.StringSliceVar(&cfg.InsecureRegistries, "insecure-registry", nil, "Registries reachable over plain HTTP or unverified TLS")
	fs.StringVarP(&cfg.Group, "group", "G", "docker", "Group for the unix socket")
	fs.StringVarP(&cfg.Pidfile, "pidfile", "p", "", "Path to use for daemon PID file (default: <exec-root>/hyperboxd.pid)")
	fs.StringSliceVar(&cfg.Labels, "label", nil, "Set key=value labels to the daemon")
	fs.StringVar(&cfg.BIP, "bip", "", "Address and prefix of the default bridge network (e.g. 172.17.0.1/16)")
	fs.StringVar(&cfg.ConfigFile, "config-file", "", "Daemon configuration file (daemon.json)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "Set default address and port to serve the metrics api on (Prometheus format at /metrics)")
	fs.BoolVar(&cfg.Prewarm, "prewarm", false, "Keep prepared root filesystem snapshots of recently used images and network namespaces wired to recently used networks (emptied under memory/io pressure)")
	fs.BoolVar(&cfg.PrewarmNoPressure, "prewarm-ignore-pressure", false, "Size the prewarm pools without pressure stall information (fixed pools of 2)")
	fs.DurationVar(&cfg.ShimLinger, "shim-linger", 60*time.Second, "How long the shared container shim is kept after the last container activity (0: not kept)")
	return fs
}

// parseConfig parses args and merges the config file. Unknown keys and
// keys given both as a flag and in the file are errors, as with dockerd.
func parseConfig(args []string) (*Config, error) {
	cfg := &Config{}
	fs := newFlags(cfg)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if cfg.ConfigFile != "" {
		if err := mergeFile(cfg, fs); err != nil {
			return nil, err
		}
	}
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []string{"unix:///var/run/docker.sock"}
	}
	if cfg.Debug {
		cfg.LogLevel = "debug"
	}
	if cfg.LogDriver != "" && cfg.LogDriver != "json-file" {
		return nil, fmt.Errorf("log-driver %q is not supported: only json-file", cfg.LogDriver)
	}
	if cfg.BIP != "" {
		if p, err := netip.ParsePrefix(cfg.BIP); err != nil || !p.Addr().Is4() || p.Addr() == p.Masked().Addr() {
			return nil, fmt.Errorf("invalid bip %q: want the bridge address and prefix, like 172.17.0.1/16", cfg.BIP)
		}
	}
	for _, p := range cfg.AddressPools {
		if b, err := netip.ParsePrefix(p.Base); err != nil || p.Size < b.Bits() || p.Size > 30 {
			return nil, fmt.Errorf("invalid default-address-pools entry {base: %q, size: %d}", p.Base, p.Size)
		}
	}
	if cfg.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.MetricsAddr); err != nil {
			return nil, fmt.Errorf("invalid metrics-addr %q: want host:port", cfg.MetricsAddr)
		}
	}
	if cfg.Pidfile == "" {
		cfg.Pidfile = cfg.ExecRoot + "/hyperboxd.pid"
	}
	return cfg, nil
}

func mergeFile(cfg *Config, fs *pflag.FlagSet) error {
	data, err := os.ReadFile(cfg.ConfigFile)
	if err != nil {
		return fmt.Errorf("unable to configure the daemon with file %s: %w", cfg.ConfigFile, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("unable to configure the daemon with file %s: %w", cfg.ConfigFile, err)
	}
	known := knownKeys()
	var unknown, conflicts []string
	for k := range raw {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	fs.Visit(func(f *pflag.Flag) {
		key := f.Name
		if k, ok := flagToKey[key]; ok {
			key = k
		}
		if _, inFile := raw[key]; inFile {
			conflicts = append(conflicts, fmt.Sprintf("%s: (from flag: %s, from file: %s)", key, f.Value.String(), string(raw[key])))
		}
	})
	sort.Strings(unknown)
	if len(unknown) > 0 {
		return fmt.Errorf("the following directives don't match any configuration option: %s", strings.Join(unknown, ", "))
	}
	if len(conflicts) > 0 {
		sort.Strings(conflicts)
		return fmt.Errorf("the following directives are specified both as a flag and in the configuration file: %s", strings.Join(conflicts, ", "))
	}
	// Decode onto a copy so flag defaults survive for keys the file lacks.
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("unable to configure the daemon with file %s: %w", cfg.ConfigFile, err)
	}
	return nil
}

func knownKeys() map[string]bool {
	return map[string]bool{
		"hosts": true, "data-root": true, "exec-root": true, "containerd": true, "containerd-namespace": true,
		"default-runtime": true, "log-level": true, "debug": true, "tls": true, "tlsverify": true,
		"tlscacert": true, "tlscert": true, "tlskey": true, "insecure-registries": true, "group": true,
		"pidfile": true, "log-driver": true, "log-opts": true, "live-restore": true, "labels": true,
		"bip": true, "default-address-pools": true, "metrics-addr": true, "prewarm": true, "prewarm-ignore-pressure": true,
	}
}

// AddressPool is one entry of daemon.json default-address-pools.
type AddressPool struct {
	Base string `json:"base"`
	Size int    `json:"size"`
}
