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
		hosts.WriteString("127.0.1.1\t" + hostname + "\n")
	}
	for _, h := range s.ExtraHosts {
		// "name:ip" (IPv6 addresses contain ':' so split at the first one).
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("invalid extra host %q", h)
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", ip, name)
	}
	if err := os.WriteFile(rec.HostsPath, []byte(hosts.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(rec.ResolvPath, []byte(resolvConf(s)), 0o644)
}

// resolvConf derives the container's resolv.conf from the host's, dropping
// loopback nameservers the container cannot reach, unless --dns is given.
func resolvConf(s *ContainerSpec) string {
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
	if len(s.DNS) > 0 {
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
