package engine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeHostFiles writes the /etc/hosts, /etc/hostname and /etc/resolv.conf
// the container gets, as dockerd does for a container on its own network.
func (e *Engine) writeHostFiles(rec *Container) error {
	dir := e.dir(rec.ID)
	rec.HostnamePath = filepath.Join(dir, "hostname")
	rec.HostsPath = filepath.Join(dir, "hosts")
	rec.ResolvPath = filepath.Join(dir, "resolv.conf")
	s := &rec.Spec
	hostname := rec.hostname()
	if s.NetworkMode == "host" && s.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	}
	if err := os.WriteFile(rec.HostnamePath, []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	var hosts strings.Builder
	if s.NetworkMode == "host" {
		if data, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts.Write(data)
		}
	} else {
		hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		hosts.WriteString("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
		if ip := rec.primaryIP(); ip.IsValid() {
			hosts.WriteString(ip.String() + "\t" + hostname + "\n")
		} else {
			hosts.WriteString("127.0.1.1\t" + hostname + "\n")
		}
	}
	for _, l := range s.Links {
		// Legacy links on the default bridge: the linked container's
		// address under its alias and name, as dockerd writes them.
		name, alias, _ := strings.Cut(l, ":")
		name = strings.TrimPrefix(name, "/")
		if other, err := e.lookup(name); err == nil && other != nil && other.rec.ID != rec.ID {
			other.mu.Lock()
			ip, oname, oid := other.rec.primaryIP(), other.rec.Name, other.rec.ID
			other.mu.Unlock()
			if ip.IsValid() {
				if alias == "" || alias == oname {
					fmt.Fprintf(&hosts, "%s\t%s %s\n", ip, oname, oid[:12])
				} else {
					fmt.Fprintf(&hosts, "%s\t%s %s %s\n", ip, alias, oid[:12], oname)
				}
			}
		}
	}
	for _, h := range s.ExtraHosts {
		// "name:ip" (IPv6 addresses contain ':' so split at the first one).
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("invalid extra host %q", h)
		}
		if ip == "host-gateway" {
			// The host as seen from containers: the default bridge's gateway.
			ip = e.hostGateway()
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", ip, name)
	}
	if err := os.WriteFile(rec.HostsPath, []byte(hosts.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(rec.ResolvPath, []byte(resolvConf(s, e.opts.Networks != nil && rec.onUserNetwork(e))), 0o644)
}

// hostGateway is the address "host-gateway" stands for.
func (e *Engine) hostGateway() string {
	if e.opts.Networks != nil {
		if n, err := e.opts.Networks.Get("bridge"); err == nil && n.Gateway.IsValid() {
			return n.Gateway.String()
		}
	}
	return "127.0.0.1"
}

// resolvConf derives the container's resolv.conf from the host's, dropping
// loopback nameservers the container cannot reach, unless --dns is given.
func resolvConf(s *ContainerSpec, embeddedDNS bool) string {
	var ns, search, opts []string
	if f, err := os.Open("/etc/resolv.conf"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			switch fields[0] {
			case "nameserver":
				if s.NetworkMode == "host" || !(strings.HasPrefix(fields[1], "127.") || fields[1] == "::1") {
					ns = append(ns, fields[1])
				}
			case "search":
				search = fields[1:]
			case "options":
				opts = fields[1:]
			}
		}
		f.Close()
	}
	if embeddedDNS {
		// dockerd's embedded DNS answers for the networks and forwards
		// the rest (to --dns servers or the host's).
		ns = []string{"127.0.0.11"}
		opts = append(opts, "ndots:0")
	} else if len(s.DNS) > 0 {
		ns = s.DNS
	}
	if len(s.DNSSearch) > 0 {
		search = s.DNSSearch
	}
	if len(s.DNSOptions) > 0 {
		opts = s.DNSOptions
	}
	var b strings.Builder
	for _, n := range ns {
		b.WriteString("nameserver " + n + "\n")
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if len(opts) > 0 {
		b.WriteString("options " + strings.Join(opts, " ") + "\n")
	}
	return b.String()
}
