package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
)

// netDaemon starts a daemon of the test's own with networking (the shared
// oracle dockerd runs without bridges).
func netDaemon(t *testing.T) *daemon.Daemon {
	t.Helper()
	skip.If(t, shared == nil, "no daemon in -short mode")
	d := daemon.Start(t, daemon.WithNetworking())
	assert.NilError(t, loadBusybox(d))
	return d
}

func out(t *testing.T, d *daemon.Daemon, args ...string) string {
	t.Helper()
	res := d.Cmd(t, args...)
	res.Assert(t, icmd.Success)
	return strings.TrimSpace(res.Stdout())
}

// User-defined networks: create/inspect/ls/rm, DNS by name, alias (round
// robin over several containers), short ID; isolation between networks;
// internal networks; connect/disconnect of a running container; prune.
func TestUserDefinedNetworks(t *testing.T) {
	d := netDaemon(t)
	out(t, d, "network", "create", "--label", "team=a", "front")
	out(t, d, "network", "create", "--subnet", "10.123.45.0/24", "--gateway", "10.123.45.254", "back")
	out(t, d, "network", "create", "--internal", "closed")
	res := d.Cmd(t, "network", "create", "front")
	assert.Check(t, res.ExitCode != 0 && strings.Contains(res.Stderr(), "already exists"), res.Combined())

	assert.Check(t, is.Equal(out(t, d, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}}", "back"), "10.123.45.0/24 10.123.45.254"))
	assert.Check(t, is.Equal(out(t, d, "network", "ls", "--filter", "label=team=a", "--format", "{{.Name}}"), "front"))
	assert.Check(t, is.Equal(out(t, d, "network", "ls", "--filter", "driver=null", "--format", "{{.Name}}"), "none"))
	custom := out(t, d, "network", "ls", "--filter", "type=custom", "--format", "{{.Name}}")
	assert.Check(t, is.Contains(custom, "back"))
	assert.Check(t, !strings.Contains(custom, "bridge"), custom)
	if !daemon.IsOracle() {
		// hyperbox refuses IPv6 networks with a clear error (dockerd 20.10
		// creates them).
		res := d.Cmd(t, "network", "create", "--ipv6", "v6net")
		assert.Check(t, res.ExitCode != 0 && strings.Contains(res.Stderr(), "EnableIPv6"), res.Combined())
	}
	names := out(t, d, "network", "ls", "--format", "{{.Name}}")
	for _, n := range []string{"bridge", "host", "none", "front", "back", "closed"} {
		assert.Check(t, is.Contains(names, n))
	}

	out(t, d, "run", "-d", "--name", "web1", "--network", "front", "--network-alias", "web", "busybox", "sleep", "300")
	out(t, d, "run", "-d", "--name", "web2", "--network", "front", "--network-alias", "web", "busybox", "sleep", "300")
	out(t, d, "run", "-d", "--name", "other", "--network", "back", "--ip", "10.123.45.10", "busybox", "sleep", "300")
	assert.Check(t, is.Equal(out(t, d, "inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}", "other"), "10.123.45.10"))
	ip1 := out(t, d, "inspect", "-f", "{{.NetworkSettings.Networks.front.IPAddress}}", "web1")
	id1 := out(t, d, "inspect", "-f", "{{.Id}}", "web1")[:12]

	// By name, by short ID, by alias (both containers answer).
	got := out(t, d, "run", "--rm", "--network", "front", "busybox", "sh", "-c",
		"nslookup web1 | tail -n +3; nslookup "+id1+" | tail -n +3; nslookup web | tail -n +3; cat /etc/resolv.conf")
	assert.Check(t, strings.Count(got, ip1) >= 2, got)
	assert.Check(t, strings.Count(got, "Address") >= 4, got)
	assert.Check(t, is.Contains(got, "nameserver 127.0.0.11"))
	assert.Check(t, d.Cmd(t, "run", "--rm", "--network", "front", "busybox", "ping", "-c", "1", "-W", "2", "web2").ExitCode == 0)

	// Another network cannot reach them, by name or address.
	res = d.Cmd(t, "run", "--rm", "--network", "back", "busybox", "ping", "-c", "1", "-W", "1", ip1)
	assert.Check(t, res.ExitCode != 0, "back reached front: %s", res.Combined())
	res = d.Cmd(t, "run", "--rm", "--network", "back", "busybox", "nslookup", "web1")
	assert.Check(t, res.ExitCode != 0, "back resolved front's names: %s", res.Combined())

	// An internal network has no way out (the host's gateway address).
	gw := out(t, d, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "front")
	assert.Check(t, d.Cmd(t, "run", "--rm", "--network", "front", "busybox", "ping", "-c", "1", "-W", "2", gw).ExitCode == 0)
	hostIP := hostAddress(t)
	assert.Check(t, d.Cmd(t, "run", "--rm", "--network", "front", "busybox", "ping", "-c", "1", "-W", "2", hostIP).ExitCode == 0)
	if outside := defaultGateway(); outside != "" {
		// The host's own router is outside: reachable from a normal
		// network, not from an internal one.
		assert.Check(t, d.Cmd(t, "run", "--rm", "--network", "front", "busybox", "ping", "-c", "1", "-W", "2", outside).ExitCode == 0)
		res = d.Cmd(t, "run", "--rm", "--network", "closed", "busybox", "ping", "-c", "1", "-W", "1", outside)
		assert.Check(t, res.ExitCode != 0, "internal network reached %s", outside)
	}

	// Connect a running container to a second network, then disconnect.
	out(t, d, "network", "connect", "--alias", "db", "back", "web1")
	assert.Check(t, d.Cmd(t, "exec", "web1", "ping", "-c", "1", "-W", "2", "10.123.45.10").ExitCode == 0)
	got = out(t, d, "exec", "other", "nslookup", "db")
	assert.Check(t, is.Contains(got, "10.123.45."), got)
	assert.Check(t, is.Contains(out(t, d, "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "back"), "web1"))
	out(t, d, "network", "disconnect", "back", "web1")
	assert.Check(t, d.Cmd(t, "exec", "web1", "ping", "-c", "1", "-W", "1", "10.123.45.10").ExitCode != 0)

	// A network with containers cannot go; prune removes only unused ones.
	res = d.Cmd(t, "network", "rm", "front")
	assert.Check(t, res.ExitCode != 0 && strings.Contains(res.Stderr(), "active endpoints"), res.Combined())
	res = d.Cmd(t, "network", "rm", "bridge")
	assert.Check(t, res.ExitCode != 0 && strings.Contains(res.Stderr(), "pre-defined"), res.Combined())
	pruned := out(t, d, "network", "prune", "-f")
	assert.Check(t, is.Contains(pruned, "closed"))
	assert.Check(t, !strings.Contains(pruned, "front"))
	out(t, d, "rm", "-f", "web1", "web2", "other")
	out(t, d, "network", "rm", "front", "back")
}

// defaultGateway is the host's default router ("" without one).
func defaultGateway() string {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 2 && f[1] == "00000000" {
			v, err := strconv.ParseUint(f[2], 16, 32)
			if err != nil {
				return ""
			}
			return net.IPv4(byte(v), byte(v>>8), byte(v>>16), byte(v>>24)).String()
		}
	}
	return ""
}

// hostAddress is an address of the host outside the container networks.
func hostAddress(t *testing.T) string {
	t.Helper()
	c, err := net.Dial("udp", "192.0.2.1:9")
	if err == nil {
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).IP.String()
	}
	return "127.0.0.1"
}

// freePort asks the kernel for a free TCP port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	assert.NilError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpGet(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET /hostname HTTP/1.0\r\n\r\n")
	buf := make([]byte, 4096)
	var sb strings.Builder
	for {
		n, err := c.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String(), nil
}

// Published ports: fixed, random (-p 80 and -P), UDP, reported by ps,
// inspect and docker port, reachable from the host on 127.0.0.1 and its
// own address, a taken port is a clear error, and they come back after a
// daemon restart.
func TestPublishedPorts(t *testing.T) {
	d := netDaemon(t)
	fixed := freePort(t)
	out(t, d, "run", "-d", "--name", "fixed", "-p", fmt.Sprintf("%d:80", fixed), "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	out(t, d, "run", "-d", "--name", "random", "-p", "80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	out(t, d, "run", "-d", "--name", "all", "--expose", "80", "-P", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	out(t, d, "run", "-d", "--name", "udp", "-p", "9999/udp", "busybox", "sleep", "300")
	// busybox has no UDP server: a static echo server goes in with docker cp.
	echo := filepath.Join(t.TempDir(), "udpecho")
	build := exec.Command("go", "build", "-o", echo, "github.com/hyperbox/hyperbox/tests/testutil/udpecho")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := build.CombinedOutput()
	assert.NilError(t, err, string(b))
	out(t, d, "cp", echo, "udp:/udpecho")
	out(t, d, "exec", "-d", "udp", "/udpecho")

	port := func(name, spec string) string {
		t.Helper()
		line := strings.Split(out(t, d, "port", name, spec), "\n")[0]
		_, p, ok := strings.Cut(line, "0.0.0.0:")
		assert.Assert(t, ok, "docker port %s: %q", name, line)
		return p
	}
	assert.Check(t, is.Equal(port("fixed", "80"), strconv.Itoa(fixed)))
	rnd, all := port("random", "80"), port("all", "80")
	assert.Check(t, rnd != "0" && rnd != "" && all != "0", "random %s all %s", rnd, all)
	assert.Check(t, is.Contains(out(t, d, "ps", "--filter", "name=fixed", "--format", "{{.Ports}}"), fmt.Sprintf("0.0.0.0:%d->80/tcp", fixed)))
	assert.Check(t, is.Equal(out(t, d, "inspect", "-f", `{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}`, "random"), rnd))

	for _, addr := range []string{"127.0.0.1:" + strconv.Itoa(fixed), hostAddress(t) + ":" + rnd, "127.0.0.1:" + all} {
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			body, err := httpGet(addr)
			if err != nil || !strings.Contains(body, "200 OK") {
				return poll.Continue("GET %s: %v %q", addr, err, body)
			}
			return poll.Success()
		}, poll.WithTimeout(15*time.Second), poll.WithDelay(200*time.Millisecond))
	}

	uport := strings.Split(out(t, d, "port", "udp", "9999/udp"), "\n")[0]
	_, up, _ := strings.Cut(uport, "0.0.0.0:")
	conn, err := net.Dial("udp", "127.0.0.1:"+up)
	assert.NilError(t, err)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		_, _ = conn.Write([]byte("over-udp"))
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 100)
		n, err := conn.Read(buf)
		if err == nil && string(buf[:n]) == "echo:over-udp" {
			return poll.Success()
		}
		return poll.Continue("no UDP reply yet: %v", err)
	}, poll.WithTimeout(15*time.Second), poll.WithDelay(100*time.Millisecond))
	conn.Close()

	// A host port range takes its first free port; an address limits the
	// binding to it.
	out(t, d, "run", "-d", "--name", "ranged", "-p", fmt.Sprintf("%d-%d:80", fixed, fixed+5), "-p", "127.0.0.1::81", "busybox", "sleep", "300")
	got := out(t, d, "port", "ranged")
	assert.Check(t, is.Contains(got, fmt.Sprintf("80/tcp -> 0.0.0.0:%d", fixed+1)), got)
	assert.Check(t, is.Contains(got, "81/tcp -> 127.0.0.1:"), got)

	// container:<id> shares the other container's network namespace.
	ipFixed := out(t, d, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "fixed")
	got = out(t, d, "run", "--rm", "--network", "container:fixed", "busybox", "sh", "-c", "ifconfig eth0 | grep 'inet addr'; wget -qO- http://127.0.0.1/hostname")
	assert.Check(t, is.Contains(got, "addr:"+ipFixed), got)

	res := d.Cmd(t, "run", "--rm", "-p", fmt.Sprintf("%d:80", fixed), "busybox", "true")
	assert.Check(t, res.ExitCode != 0 && strings.Contains(res.Stderr(), "port is already allocated"), res.Combined())

	// After a daemon restart the ports still answer.
	d.Restart(t)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		body, err := httpGet("127.0.0.1:" + strconv.Itoa(fixed))
		if err != nil || !strings.Contains(body, "200 OK") {
			return poll.Continue("after restart: %v %q", err, body)
		}
		return poll.Success()
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(300*time.Millisecond))
	assert.Check(t, is.Equal(port("random", "80"), rnd))
}

// /etc/hosts, /etc/resolv.conf and /etc/hostname per container, with
// --add-host (host-gateway), --dns, --dns-search, --hostname, --domainname.
func TestHostsFiles(t *testing.T) {
	d := netDaemon(t)
	got := out(t, d, "run", "--rm", "--add-host", "h.example:10.9.8.7", "--add-host", "host.docker.internal:host-gateway",
		"--hostname", "box", "--domainname", "example.org", "--dns", "10.1.2.3", "--dns-search", "corp.example",
		"busybox", "sh", "-c", "cat /etc/hosts /etc/resolv.conf; hostname; cat /proc/sys/kernel/domainname")
	assert.Check(t, is.Contains(got, "10.9.8.7\th.example"))
	gw := out(t, d, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge")
	assert.Check(t, is.Contains(got, gw+"\thost.docker.internal"))
	assert.Check(t, is.Contains(got, "nameserver 10.1.2.3"))
	assert.Check(t, is.Contains(got, "search corp.example"))
	assert.Check(t, is.Contains(got, "\nbox\n"))
	assert.Check(t, is.Contains(got, "example.org"))
	// Legacy links: on the default bridge an /etc/hosts line, on a
	// user-defined network a DNS alias.
	out(t, d, "run", "-d", "--name", "linked", "busybox", "sleep", "300")
	got = out(t, d, "run", "--rm", "--link", "linked:db", "busybox", "sh", "-c", "grep db /etc/hosts && ping -c 1 -W 2 db >/dev/null && echo reached")
	assert.Check(t, is.Contains(got, "reached"), got)
	out(t, d, "network", "create", "linknet")
	out(t, d, "run", "-d", "--name", "linked2", "--network", "linknet", "busybox", "sleep", "300")
	got = out(t, d, "run", "--rm", "--network", "linknet", "--link", "linked2:db2", "busybox", "sh", "-c", "ping -c 1 -W 2 db2 >/dev/null && echo reached")
	assert.Check(t, is.Contains(got, "reached"), got)
	out(t, d, "rm", "-f", "linked", "linked2")
	out(t, d, "network", "rm", "linknet")

	// The container's own address is in /etc/hosts.
	got = out(t, d, "run", "--rm", "--hostname", "named", "busybox", "sh", "-c", "grep named /etc/hosts")
	assert.Check(t, strings.HasPrefix(got, "172.") || strings.HasPrefix(got, "10.") || strings.HasPrefix(got, "192."), got)
}

// daemon.json "bip" (or --bip) sets the default bridge's subnet.
func TestDefaultBridgeBIP(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	skip.If(t, daemon.IsOracle(), "dockerd's --bip needs a bridge of its own here; the harness gives it one")
	d := daemon.Start(t, daemon.WithArgs("--bip", "10.99.77.1/24"))
	assert.NilError(t, loadBusybox(d))
	assert.Check(t, is.Equal(out(t, d, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}}", "bridge"), "10.99.77.0/24 10.99.77.1"))
	got := out(t, d, "run", "--rm", "busybox", "sh", "-c", "ifconfig eth0 | grep 'inet addr'")
	assert.Check(t, is.Contains(got, "addr:10.99.77.2"), got)
}

// host and none network modes, --ip-range and --attachable.
func TestNetworkModes(t *testing.T) {
	d := netDaemon(t)
	hostIfs, err := os.ReadFile("/proc/net/dev")
	assert.NilError(t, err)
	got := out(t, d, "run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev")
	assert.Check(t, is.Equal(len(lines(got)), len(lines(string(hostIfs)))), "host mode sees the host's interfaces:\n%s", got)
	got = out(t, d, "run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev")
	assert.Check(t, is.Len(lines(got), 3), "none mode has only lo:\n%s", got)
	assert.Check(t, is.Contains(got, "lo:"))
	assert.Check(t, is.Equal(out(t, d, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "cat /etc/hosts | grep -c localhost"), "2"))

	out(t, d, "network", "create", "--attachable", "--subnet", "10.124.0.0/24", "--ip-range", "10.124.0.128/25", "ranged")
	t.Cleanup(func() { d.Run("network", "rm", "ranged") })
	assert.Check(t, is.Equal(out(t, d, "network", "inspect", "-f", "{{.Attachable}} {{(index .IPAM.Config 0).IPRange}}", "ranged"), "true 10.124.0.128/25"))
	ip := out(t, d, "run", "--rm", "--network", "ranged", "busybox", "sh", "-c", "ifconfig eth0 | grep 'inet addr' | sed 's/.*addr:\\([0-9.]*\\).*/\\1/'")
	assert.Check(t, strings.HasPrefix(ip, "10.124.0.") && ip != "10.124.0.1", ip)
	last, err := strconv.Atoi(ip[strings.LastIndex(ip, ".")+1:])
	assert.NilError(t, err)
	assert.Check(t, last >= 128, "address %s outside the ip-range", ip)
}
