package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"github.com/hyperbox/hyperbox/tests/testutil/registry"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"
)

// The tests in this file start daemons of their own: they check how the
// daemon starts, listens and stops, which the shared daemon cannot show.

// The API socket: mode 0660 owned by root and the socket group, and a second
// hyperboxd pointed at a socket (or directories) in use refuses to start
// without disturbing the first.
func TestDaemonSocket(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	d := daemon.Start(t)

	t.Run("mode 0660, group docker", func(t *testing.T) {
		fi, err := os.Stat(d.Socket())
		assert.NilError(t, err)
		assert.Check(t, fi.Mode()&os.ModeSocket != 0, "%s is %s, not a socket", d.Socket(), fi.Mode())
		assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o660)))
		st := fi.Sys().(*syscall.Stat_t)
		assert.Check(t, is.Equal(st.Uid, uint32(0)))
		// Both daemons chown the socket to the "docker" group when it exists.
		wantGid := uint32(0)
		if g, err := user.LookupGroup("docker"); err == nil {
			gid, err := strconv.Atoi(g.Gid)
			assert.NilError(t, err)
			wantGid = uint32(gid)
		}
		assert.Check(t, is.Equal(st.Gid, wantGid))
	})

	t.Run("second daemon on the same socket", func(t *testing.T) {
		// dockerd 20.10 unlinks a socket in use and binds its own (its pid
		// file is what keeps two daemons apart); hyperboxd checks the socket.
		skip.If(t, daemon.IsOracle(), "hyperboxd's own start-up check")
		res, took := runFailingHyperboxd(t, func(dir string) []string {
			return []string{"-H", d.Host(), "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec")}
		})
		assert.Check(t, res.ExitCode != 0, "second daemon did not fail: %s", res.String())
		assert.Check(t, took < 10*time.Second, "took %s to give up", took)
		assert.Check(t, is.Contains(res.Stderr(), d.Socket()))
		assert.Check(t, is.Contains(res.Stderr(), "already in use"))
		assertStillServing(t, d)
	})

	t.Run("second daemon on the same directories", func(t *testing.T) {
		skip.If(t, daemon.IsOracle(), "hyperboxd's own start-up check")
		res, took := runFailingHyperboxd(t, func(dir string) []string {
			return []string{"-H", "unix://" + filepath.Join(dir, "d.sock"), "--data-root", d.DataRoot(), "--exec-root", d.ExecRoot()}
		})
		assert.Check(t, res.ExitCode != 0, "second daemon did not fail: %s", res.String())
		assert.Check(t, took < 10*time.Second, "took %s to give up", took)
		assert.Check(t, is.Contains(res.Stderr(), "pid file found"))
		assertStillServing(t, d)
	})
}

// --config-file with a key hyperboxd does not know: exit 1, the key named.
func TestDaemonConfigFileUnknownKey(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	skip.If(t, daemon.IsOracle(), "hyperboxd's own start-up check (the harness gives dockerd a --config-file of its own)")
	res, took := runFailingHyperboxd(t, func(dir string) []string {
		cfg := filepath.Join(dir, "daemon.json")
		assert.NilError(t, os.WriteFile(cfg, []byte(`{"log-level": "debug", "no-such-directive": true}`), 0o600))
		return []string{"-H", "unix://" + filepath.Join(dir, "d.sock"), "--config-file", cfg,
			"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec")}
	})
	assertExit(t, res, 1)
	assert.Check(t, took < 10*time.Second, "took %s to give up", took)
	assert.Check(t, is.Contains(res.Stderr(), "no-such-directive"))
	assert.Check(t, is.Contains(res.Stderr(), "don't match any configuration option"))
}

// A daemon.json given with --config-file configures the daemon: labels show
// in docker info, log-opts are the default of new containers.
func TestDaemonConfigFile(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	cfg := filepath.Join(t.TempDir(), "daemon.json")
	assert.NilError(t, os.WriteFile(cfg, []byte(`{
		"labels": ["hyperbox.test=config-file"],
		"log-opts": {"max-size": "1k", "max-file": "2"}
	}`), 0o600))
	// For dockerd this --config-file comes after the harness's own and wins.
	d := daemon.Start(t, daemon.WithArgs("--config-file", cfg))
	assert.NilError(t, loadBusybox(d))

	res := d.Cmd(t, "info", "--format", "{{json .Labels}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), `["hyperbox.test=config-file"]`+"\n"))

	const name = "chatty"
	res = d.Cmd(t, "run", "--name", name, "busybox", "sh", "-c",
		`i=0; while [ $i -lt 200 ]; do echo "line-$i-padding-padding"; i=$((i+1)); done`)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{json .HostConfig.LogConfig}}", name),
		`{"Type":"json-file","Config":{"max-file":"2","max-size":"1k"}}`))
	waitForLog(t, d, name, "line-199-padding-padding")
	res = d.Cmd(t, "logs", name)
	res.Assert(t, icmd.Success)
	assert.Check(t, len(lines(res.Stdout())) < 40, "%d lines survived a 2 x 1k log", len(lines(res.Stdout())))
	files, err := filepath.Glob(inspect(t, d, "{{.LogPath}}", name) + "*")
	assert.NilError(t, err)
	assert.Check(t, len(files) >= 1 && len(files) <= 2, "log files: %v", files)
}

// -H tcp:// without TLS flags: hyperboxd refuses to start, as current
// Docker does (dockerd 20.10 only warns and starts).
func TestDaemonTCPWithoutTLS(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	skip.If(t, daemon.IsOracle(), "dockerd 20.10 starts an unauthenticated TCP listener after a warning")
	port := freeTCPPort(t)
	res, took := runFailingHyperboxd(t, func(dir string) []string {
		return []string{"-H", "unix://" + filepath.Join(dir, "d.sock"), "-H", fmt.Sprintf("tcp://127.0.0.1:%d", port),
			"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec")}
	})
	assertExit(t, res, 1)
	assert.Check(t, took < 10*time.Second, "took %s to give up", took)
	assert.Check(t, is.Contains(res.Stderr(), "TLS"))
	assert.Check(t, is.Contains(res.Stderr(), "--tlsverify"))
	// Nothing listens on the port.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err == nil {
		c.Close()
		t.Errorf("something listens on 127.0.0.1:%d", port)
	}
}

// -H tcp:// with --tlsverify: the docker CLI with a client certificate from
// the CA is served; clients without one, with one from another CA, or
// speaking plain HTTP are not.
func TestDaemonTLS(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	pki := newTestPKI(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	tcpHost := "tcp://" + addr
	d := daemon.Start(t, daemon.WithArgs("-H", tcpHost, "--tlsverify",
		"--tlscacert", pki.caCert, "--tlscert", pki.serverCert, "--tlskey", pki.serverKey))

	unixVersion := strings.TrimSpace(d.Cmd(t, "version", "--format", "{{.Server.APIVersion}}").Stdout())
	assert.Assert(t, unixVersion != "", "the unix socket is served too")

	t.Run("docker CLI with a client certificate", func(t *testing.T) {
		res := d.Cmd(t, "--tlsverify", "--tlscacert", pki.caCert, "--tlscert", pki.clientCert, "--tlskey", pki.clientKey,
			"-H", tcpHost, "version", "--format", "{{.Server.APIVersion}}")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), unixVersion))

		res = d.Cmd(t, "--tlsverify", "--tlscacert", pki.caCert, "--tlscert", pki.clientCert, "--tlskey", pki.clientKey,
			"-H", tcpHost, "info", "--format", "{{.OSType}}")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(res.Stdout(), "linux\n"))
	})

	refused := []struct {
		name       string
		cert, key  string
		stderrWant string
	}{
		{name: "docker CLI without a client certificate"},
		{name: "docker CLI with a certificate of another CA", cert: pki.otherClientCert, key: pki.otherClientKey},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--tlsverify", "--tlscacert", pki.caCert}
			if tc.cert != "" {
				args = append(args, "--tlscert", tc.cert, "--tlskey", tc.key)
			}
			res := failFast(t, d, append(args, "-H", tcpHost, "version", "--format", "{{.Server.APIVersion}}")...)
			assertExit(t, res, 1)
			assert.Check(t, is.Contains(res.Stderr(), "tls: "))
			assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), ""), "no server version without a valid certificate")
		})
	}

	clients := []struct {
		name   string
		certs  []tls.Certificate
		accept bool
	}{
		{name: "Go client with a client certificate", certs: []tls.Certificate{pki.client}, accept: true},
		{name: "Go client without a client certificate"},
		{name: "Go client with a certificate of another CA", certs: []tls.Certificate{pki.otherClient}},
	}
	for _, tc := range clients {
		t.Run(tc.name, func(t *testing.T) {
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: pki.pool, Certificates: tc.certs},
				DisableKeepAlives: true,
			}}
			resp, err := hc.Get("https://" + addr + "/version")
			if !tc.accept {
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					t.Fatalf("GET /version answered %s: %s", resp.Status, b)
				}
				assert.Check(t, is.Contains(err.Error(), "tls: "))
				return
			}
			assert.NilError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(resp.StatusCode, http.StatusOK))
			assert.Check(t, is.Contains(string(b), `"ApiVersion"`))
		})
	}

	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		hc := &http.Client{Timeout: 10 * time.Second}
		resp, err := hc.Get("http://" + addr + "/version")
		if err != nil {
			return // the connection was closed: refused
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		// Go's TLS server answers an HTTP request with 400 "Client sent an
		// HTTP request to an HTTPS server."
		assert.Check(t, resp.StatusCode != http.StatusOK, "plain HTTP answered %s: %s", resp.Status, b)
		assert.Check(t, !strings.Contains(string(b), "ApiVersion"), "plain HTTP got API data: %s", b)
	})
}

// SIGTERM: hyperboxd exits 0 within seconds, stops its embedded containerd,
// and leaves running containers (and their shims) running; a restarted
// daemon lists them.
func TestDaemonSIGTERMKeepsContainers(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	// hyperboxd's shutdown contract: its containerd child goes, shims stay.
	// dockerd 20.10 keeps containers with --live-restore too, but how it
	// treats its containerd is its own business.
	skip.If(t, daemon.IsOracle(), "checks hyperboxd's embedded containerd")
	d := daemon.Start(t)
	assert.NilError(t, loadBusybox(d))
	const name = "sleeper"
	d.Cmd(t, "run", "-d", "--name", name, "busybox", "sleep", "300").Assert(t, icmd.Success)
	id := inspect(t, d, "{{.Id}}", name)
	pid, err := strconv.Atoi(inspect(t, d, "{{.State.Pid}}", name))
	assert.NilError(t, err)

	containerd := procsWith(t, "containerd", d.ExecRoot())
	assert.Assert(t, is.Len(containerd, 1), "embedded containerd of %s", d.ExecRoot())
	shims := procsWith(t, "containerd-shim-runc-v2", id)
	if len(shims) == 0 {
		// The shim's command line names the containerd address, not always the container.
		shims = procsWith(t, "containerd-shim-runc-v2", d.ExecRoot())
	}
	assert.Assert(t, len(shims) > 0, "no shim for container %s", id)

	// Clients with requests in flight (a log stream, a wait) do not hold
	// the shutdown up; they are cut off when the daemon goes.
	logsF := icmd.StartCmd(d.Command("logs", "-f", name))
	waitC := icmd.StartCmd(d.Command("wait", name))
	t.Cleanup(func() {
		for _, c := range []*icmd.Result{logsF, waitC} {
			if c.Cmd != nil && c.Cmd.Process != nil {
				_ = c.Cmd.Process.Kill()
			}
		}
	})
	time.Sleep(300 * time.Millisecond) // let both requests reach the daemon

	start := time.Now()
	assert.NilError(t, d.Terminate(10*time.Second))
	took := time.Since(start)
	t.Logf("hyperboxd exited %s after SIGTERM", took)
	assert.Check(t, took < 5*time.Second, "shutdown took %s", took)
	for _, c := range []*icmd.Result{logsF, waitC} {
		res := icmd.WaitOnCmd(5*time.Second, c)
		assert.Check(t, !res.Timeout, "%v still running after the daemon exited", c.Cmd.Args)
	}
	// Like dockerd, the daemon removes its pid file and socket on the way out.
	_, err = os.Stat(filepath.Join(d.ExecRoot(), "hyperboxd.pid"))
	assert.Check(t, os.IsNotExist(err), "pid file left behind: %v", err)
	_, err = os.Stat(d.Socket())
	assert.Check(t, os.IsNotExist(err), "socket left behind: %v", err)

	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if left := procsWith(t, "containerd", d.ExecRoot()); len(left) > 0 {
			return poll.Continue("embedded containerd %v still running", left)
		}
		return poll.Success()
	}, poll.WithTimeout(2*time.Second), poll.WithDelay(100*time.Millisecond))
	assert.Check(t, alive(pid), "container process %d died with the daemon", pid)
	for _, s := range shims {
		assert.Check(t, alive(s), "shim %d died with the daemon", s)
	}

	d.Restart(t)
	res := d.Cmd(t, "ps", "--filter", "name="+name, "--format", "{{.Names}} {{.State}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), name+" running\n"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Pid}}", name), strconv.Itoa(pid)))
}

// A hyperboxd killed with SIGKILL leaves its socket, pid file and
// containers behind; started again on the same directories it takes over:
// the stale socket is replaced and the running container is still managed.
func TestDaemonRestartAfterSIGKILL(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	// dockerd (--live-restore) recovers as well, but its stale containerd
	// handling is its own; this checks hyperboxd's start-up recovery.
	skip.If(t, daemon.IsOracle(), "checks hyperboxd's start-up recovery")
	d := daemon.Start(t)
	assert.NilError(t, loadBusybox(d))
	const name = "survivor"
	runDetached(t, d, name, graceful)
	waitForLog(t, d, name, "ready")
	pid := inspect(t, d, "{{.State.Pid}}", name)

	killDaemon(t, d)
	_, err := os.Stat(d.Socket())
	assert.Check(t, err == nil, "SIGKILL leaves the socket file behind: %v", err)

	d.Restart(t)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.Pid}}", name), "running "+pid))
	d.Cmd(t, "stop", name).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.ExitCode}}", name), "exited 0"))
	assert.Check(t, is.Contains(d.Cmd(t, "logs", name).Stdout(), "ready\ngot TERM\n"))
	// One embedded containerd, not a second one next to a stale one.
	assert.Check(t, is.Len(procsWith(t, "containerd", d.ExecRoot()), 1))
}

// docker login and a pull with credentials: the password never reaches the
// daemon's debug log, in clear or as a Basic authorization header.
func TestDaemonLogHasNoCredentials(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	d := daemon.Start(t) // --log-level debug, a log of its own
	assert.NilError(t, loadBusybox(d))
	user := "hbcred"
	pass := "Pw-" + serial(t).Text(36) + "-s3cr3t" // distinctive: found nowhere else
	reg := registry.Start(t, registry.WithBasicAuth(user, pass))
	host := reg.LocalhostHost()
	ref := host + "/e2e/secret:latest"
	busybox.Push(t, ref, busybox.WithBasicAuth(user, pass))

	res := d.CmdWithStdin(t, strings.NewReader("wrong-"+pass+"\n"), "login", "-u", user, "--password-stdin", host)
	assertExit(t, res, 1)
	res = d.CmdWithStdin(t, strings.NewReader(pass+"\n"), "login", "-u", user, "--password-stdin", host)
	res.Assert(t, icmd.Success)
	d.Cmd(t, "pull", ref).Assert(t, icmd.Success)
	pushed := host + "/e2e/secret:pushed"
	d.Cmd(t, "tag", ref, pushed).Assert(t, icmd.Success)
	d.Cmd(t, "push", pushed).Assert(t, icmd.Success)
	d.Cmd(t, "logout", host).Assert(t, icmd.Success)

	logs := []string{d.LogPath()}
	if !daemon.IsOracle() {
		logs = append(logs, filepath.Join(d.ExecRoot(), "containerd.log"))
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) && p != d.LogPath() {
			continue
		}
		assert.NilError(t, err)
		assert.Check(t, len(b) > 0, "%s is empty", p)
		assert.Check(t, !strings.Contains(string(b), pass), "%s contains the password", p)
		assert.Check(t, !strings.Contains(string(b), basic), "%s contains the Basic authorization", p)
	}
	// The log does have the debug detail we looked through.
	b, err := os.ReadFile(d.LogPath())
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(b), "e2e/secret"))
}

// runFailingHyperboxd runs hyperboxd with the arguments args returns for a
// private short directory under /tmp, expecting it to refuse to start. It
// returns the result and how long it ran. A hyperboxd that starts anyway is
// killed after 20 s, with everything it started.
func runFailingHyperboxd(t *testing.T, args func(dir string) []string) (*icmd.Result, time.Duration) {
	t.Helper()
	bin, err := daemon.HyperboxdPath()
	assert.NilError(t, err)
	dir, err := os.MkdirTemp("/tmp", "hbx-fail-")
	assert.NilError(t, err)
	t.Cleanup(func() {
		if err := daemon.CleanDir(dir); err != nil {
			t.Errorf("cleaning %s: %v", dir, err)
		}
	})
	cmd := append([]string{bin}, args(dir)...)
	t.Logf("$ %s", strings.Join(cmd, " "))
	start := time.Now()
	res := icmd.RunCmd(icmd.Cmd{Command: cmd, Timeout: 20 * time.Second, Dir: dir})
	took := time.Since(start)
	assert.Assert(t, !res.Timeout, "hyperboxd did not exit: %s", res.String())
	return res, took
}

// assertStillServing checks the daemon answers docker version on its socket.
func assertStillServing(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	res := d.Cmd(t, "version", "--format", "{{.Server.Os}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), "linux\n"))
	fi, err := os.Stat(d.Socket())
	assert.Check(t, err == nil && fi.Mode()&os.ModeSocket != 0, "socket %s: %v", d.Socket(), err)
}

// freeTCPPort returns a port on 127.0.0.1 that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// procsWith returns the live processes whose executable is named exe and
// whose command line contains s.
func procsWith(t *testing.T, exe, s string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	assert.NilError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || filepath.Base(strings.TrimSuffix(link, " (deleted)")) != exe {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(strings.ReplaceAll(string(raw), "\x00", " "), s) {
			continue
		}
		if alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid exists and is not a zombie.
// killDaemon SIGKILLs the daemon and waits until it is gone.
func killDaemon(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	assert.NilError(t, syscall.Kill(d.Pid(), syscall.SIGKILL))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if d.Pid() != 0 && alive(d.Pid()) {
			return poll.Continue("hyperboxd still running")
		}
		return poll.Success()
	}, poll.WithTimeout(10*time.Second), poll.WithDelay(50*time.Millisecond))
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, plus a client certificate of an unrelated CA.
type testPKI struct {
	caCert, serverCert, serverKey, clientCert, clientKey string
	otherClientCert, otherClientKey                      string

	pool                *x509.CertPool
	client, otherClient tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{pool: x509.NewCertPool()}

	ca, caKey := newCA(t, "hyperbox test CA")
	p.caCert = writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	p.pool.AddCert(ca)
	p.serverCert, p.serverKey, _ = issue(t, dir, "server", ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:    []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	clientTmpl := func() *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: "client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	}
	p.clientCert, p.clientKey, p.client = issue(t, dir, "client", ca, caKey, clientTmpl())

	other, otherKey := newCA(t, "some other CA")
	p.otherClientCert, p.otherClientKey, p.otherClient = issue(t, dir, "other-client", other, otherKey, clientTmpl())
	return p
}

func newCA(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assert.NilError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	assert.NilError(t, err)
	cert, err := x509.ParseCertificate(der)
	assert.NilError(t, err)
	return cert, key
}

// issue signs tmpl with the CA and writes <name>-cert.pem and <name>-key.pem.
func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (certPath, keyPath string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assert.NilError(t, err)
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	assert.NilError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	assert.NilError(t, err)
	certPath = writePEM(t, dir, name+"-cert.pem", "CERTIFICATE", der)
	keyPath = writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", keyDER)
	pair, err = tls.LoadX509KeyPair(certPath, keyPath)
	assert.NilError(t, err)
	return certPath, keyPath, pair
}

func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	assert.NilError(t, err)
	return n
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	assert.NilError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return p
}
