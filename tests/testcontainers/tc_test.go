package testcontainers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
)

// httpdCmd serves /www (index.html = "hello from <name>") on port 8080.
func httpdCmd(name string) []string {
	return []string{"sh", "-c", "mkdir -p /www && echo hello from " + name +
		" > /www/index.html && exec httpd -f -v -p 8080 -h /www"}
}

// fastStop stops with a 0 s timeout: busybox sleep as PID 1 ignores SIGTERM,
// so the default 10 s stop timeout would only slow the suite down.
var fastStop = testcontainers.StopTimeout(0)

// start runs GenericContainer with Started and registers its termination.
func start(t *testing.T, req testcontainers.ContainerRequest) testcontainers.Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req,
		Started:          true,
	})
	testcontainers.CleanupContainer(t, c, fastStop)
	assert.NilError(t, err)
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// TestListeningPortAndHTTP: ExposedPorts with ForListeningPort and ForHTTP
// (busybox httpd); Host and MappedPort give an address that serves the page
// from the host.
func TestListeningPortAndHTTP(t *testing.T) {
	setup(t)
	c := start(t, testcontainers.ContainerRequest{
		Image:        busyboxImage,
		Cmd:          httpdCmd("httpd"),
		ExposedPorts: []string{"8080/tcp"},
		WaitingFor: wait.ForAll(
			wait.ForListeningPort("8080/tcp"),
			wait.ForHTTP("/").WithPort("8080/tcp").WithStatusCodeMatcher(func(s int) bool { return s == http.StatusOK }).
				WithResponseMatcher(func(body io.Reader) bool {
					b, _ := io.ReadAll(body)
					return strings.Contains(string(b), "hello from httpd")
				}),
		).WithDeadline(60 * time.Second),
	})
	host, err := c.Host(ctx(t))
	assert.NilError(t, err)
	p, err := c.MappedPort(ctx(t), "8080/tcp")
	assert.NilError(t, err)
	assert.Assert(t, p.Num() != 0, "mapped port is 0")
	url := fmt.Sprintf("http://%s:%d/", host, p.Num())
	resp, err := http.Get(url)
	assert.NilError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, resp.StatusCode, 200)
	assert.Equal(t, strings.TrimSpace(string(body)), "hello from httpd")
	ep, err := c.PortEndpoint(ctx(t), "8080/tcp", "http")
	assert.NilError(t, err)
	assert.Equal(t, ep+"/", url)
}

// TestWaitForLogAndLogs: ForLog with occurrences, Logs, and a log consumer
// that receives every line.
func TestWaitForLogAndLogs(t *testing.T) {
	setup(t)
	lc := &collector{}
	c := start(t, testcontainers.ContainerRequest{
		Image:          busyboxImage,
		Cmd:            []string{"sh", "-c", "for i in 1 2 3; do echo line$i; echo err$i >&2; done; echo ready; echo ready; exec sleep 300"},
		WaitingFor:     wait.ForLog("ready").WithOccurrence(2).WithStartupTimeout(30 * time.Second),
		LogConsumerCfg: &testcontainers.LogConsumerConfig{Consumers: []testcontainers.LogConsumer{lc}},
	})
	rc, err := c.Logs(ctx(t))
	assert.NilError(t, err)
	b, err := io.ReadAll(rc)
	rc.Close()
	assert.NilError(t, err)
	for _, s := range []string{"line1\n", "line3\n", "err2\n", "ready\nready\n"} {
		assert.Check(t, is.Contains(string(b), s))
	}
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		got := lc.text()
		if strings.Count(got, "ready") == 2 && strings.Contains(got, "line1") && strings.Contains(got, "err3") {
			return poll.Success()
		}
		return poll.Continue("consumer got %q", got)
	}, poll.WithTimeout(15*time.Second))
	assert.Check(t, is.Contains(lc.types(), testcontainers.StderrLog))
	assert.Check(t, is.Contains(lc.types(), testcontainers.StdoutLog))
}

type collector struct {
	mu    sync.Mutex
	buf   strings.Builder
	kinds []string
}

func (l *collector) Accept(lg testcontainers.Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(lg.Content)
	l.kinds = append(l.kinds, lg.LogType)
}

func (l *collector) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *collector) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.kinds...)
}

// TestWaitForHealthCheck: a HEALTHCHECK set through ConfigModifier goes
// healthy once /tmp/ready exists; ForHealthCheck waits for it.
func TestWaitForHealthCheck(t *testing.T) {
	setup(t)
	c := start(t, testcontainers.ContainerRequest{
		Image: busyboxImage,
		Cmd:   []string{"sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 300"},
		ConfigModifier: func(cfg *container.Config) {
			cfg.Healthcheck = &container.HealthConfig{
				Test:     []string{"CMD-SHELL", "test -f /tmp/ready"},
				Interval: 300 * time.Millisecond,
				Timeout:  5 * time.Second,
				Retries:  20,
			}
		},
		WaitingFor: wait.ForHealthCheck().WithStartupTimeout(40 * time.Second).WithPollInterval(200 * time.Millisecond),
	})
	st, err := c.State(ctx(t))
	assert.NilError(t, err)
	assert.Assert(t, st.Health != nil)
	assert.Equal(t, string(st.Health.Status), "healthy")
}

// TestWaitForExec: ForExec polls a command until it exits 0 (and a
// response matcher sees its output).
func TestWaitForExec(t *testing.T) {
	setup(t)
	start(t, testcontainers.ContainerRequest{
		Image: busyboxImage,
		Cmd:   []string{"sh", "-c", "sleep 1; echo done > /tmp/marker; exec sleep 300"},
		WaitingFor: wait.ForExec([]string{"cat", "/tmp/marker"}).
			WithStartupTimeout(30 * time.Second).
			WithPollInterval(200 * time.Millisecond).
			WithResponseMatcher(func(body io.Reader) bool {
				b, _ := io.ReadAll(body)
				return strings.Contains(string(b), "done")
			}),
	})
}

// TestExec: exit codes and output of Exec, with Multiplexed (stdout+stderr
// demultiplexed) and with environment and working directory options.
func TestExec(t *testing.T) {
	setup(t)
	c := start(t, testcontainers.ContainerRequest{Image: busyboxImage, Cmd: []string{"sleep", "300"}})
	code, r, err := c.Exec(ctx(t), []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, tcexec.Multiplexed())
	assert.NilError(t, err)
	assert.Equal(t, code, 3)
	b, _ := io.ReadAll(r)
	assert.Check(t, is.Contains(string(b), "out\n"))
	assert.Check(t, is.Contains(string(b), "err\n"))

	code, r, err = c.Exec(ctx(t), []string{"sh", "-c", "echo $FOO; pwd"},
		tcexec.Multiplexed(), tcexec.WithEnv([]string{"FOO=bar"}), tcexec.WithWorkingDir("/tmp"))
	assert.NilError(t, err)
	assert.Equal(t, code, 0)
	b, _ = io.ReadAll(r)
	assert.Equal(t, string(b), "bar\n/tmp\n")

	// A missing binary is not an API error: exit code 126 (dockerd) or 127.
	code, _, err = c.Exec(ctx(t), []string{"/no/such/binary"})
	assert.NilError(t, err)
	assert.Assert(t, code == 126 || code == 127, "exit code %d", code)
}

// TestCopy: CopyToContainer with a file mode, CopyFileFromContainer, Files
// in the request (copied before start) and CopyDirToContainer.
func TestCopy(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "pre.txt")
	assert.NilError(t, os.WriteFile(src, []byte("before start\n"), 0o600))
	sub := filepath.Join(dir, "tree")
	assert.NilError(t, os.MkdirAll(filepath.Join(sub, "a"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(sub, "a", "b.txt"), []byte("nested\n"), 0o644))
	c := start(t, testcontainers.ContainerRequest{
		Image: busyboxImage,
		Cmd:   []string{"sleep", "300"},
		Files: []testcontainers.ContainerFile{{HostFilePath: src, ContainerFilePath: "/etc/pre.txt", FileMode: 0o640}},
	})
	assert.NilError(t, c.CopyToContainer(ctx(t), []byte("hello copy\n"), "/tmp/dir/hello.txt", 0o755))
	rc, err := c.CopyFileFromContainer(ctx(t), "/tmp/dir/hello.txt")
	assert.NilError(t, err)
	b, err := io.ReadAll(rc)
	rc.Close()
	assert.NilError(t, err)
	assert.Equal(t, string(b), "hello copy\n")

	code, r, err := c.Exec(ctx(t), []string{"stat", "-c", "%a %n", "/tmp/dir/hello.txt", "/etc/pre.txt"}, tcexec.Multiplexed())
	assert.NilError(t, err)
	out, _ := io.ReadAll(r)
	assert.Equal(t, code, 0, string(out))
	assert.Equal(t, string(out), "755 /tmp/dir/hello.txt\n640 /etc/pre.txt\n")

	rc, err = c.CopyFileFromContainer(ctx(t), "/etc/pre.txt")
	assert.NilError(t, err)
	b, _ = io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, string(b), "before start\n")

	// containerParentPath is the directory to create: its parent must exist.
	assert.NilError(t, c.CopyDirToContainer(ctx(t), sub, "/tmp/tree", 0o755))
	rc, err = c.CopyFileFromContainer(ctx(t), "/tmp/tree/a/b.txt")
	assert.NilError(t, err)
	b, _ = io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, string(b), "nested\n")

	_, err = c.CopyFileFromContainer(ctx(t), "/no/such/file")
	assert.Assert(t, err != nil, "copying a missing file must fail")
}

// TestNetworkAliases: a network from the network package; a client
// container reaches an httpd container by its alias (embedded DNS).
func TestNetworkAliases(t *testing.T) {
	setup(t)
	nw, err := network.New(ctx(t))
	assert.NilError(t, err)
	testcontainers.CleanupNetwork(t, nw)
	srv, err := genericContainer(t, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        busyboxImage,
			Cmd:          httpdCmd("web"),
			WaitingFor:   wait.ForListeningPort("8080/tcp").SkipExternalCheck(),
			ExposedPorts: []string{"8080/tcp"},
		},
		Started: true,
	}, network.WithNetwork([]string{"web", "www.internal"}, nw))
	testcontainers.CleanupContainer(t, srv, fastStop)
	assert.NilError(t, err)

	cli, err := genericContainer(t, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{Image: busyboxImage, Cmd: []string{"sleep", "300"}},
		Started:          true,
	}, network.WithNetwork([]string{"client"}, nw))
	testcontainers.CleanupContainer(t, cli, fastStop)
	assert.NilError(t, err)

	for _, alias := range []string{"web", "www.internal"} {
		// No -T: this busybox's wget crashes (SIGSEGV, exit 139) with -T.
		code, r, err := cli.Exec(ctx(t), []string{"wget", "-q", "-O", "-", "http://" + alias + ":8080/"}, tcexec.Multiplexed())
		assert.NilError(t, err)
		out, _ := io.ReadAll(r)
		assert.Equal(t, code, 0, "wget %s: %s", alias, out)
		assert.Equal(t, strings.TrimSpace(string(out)), "hello from web")
	}
	nets, err := srv.Networks(ctx(t))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(nets, nw.Name))
	aliases, err := srv.NetworkAliases(ctx(t))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(aliases[nw.Name], "web"))
	assert.Check(t, is.Contains(aliases[nw.Name], "www.internal"))
}

// TestTerminateLeavesNothing: after Terminate of the containers and Remove
// of the network, neither exists on the daemon.
func TestTerminateLeavesNothing(t *testing.T) {
	d := setup(t)
	api := d.Client(t)
	nw, err := network.New(ctx(t), network.WithLabels(map[string]string{"hbx.test": t.Name()}))
	assert.NilError(t, err)
	var ids []string
	for _, alias := range []string{"one", "two"} {
		c, err := genericContainer(t, testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: busyboxImage, Cmd: []string{"sleep", "300"}, ExposedPorts: []string{"80/tcp"},
			},
			Started: true,
		}, network.WithNetwork([]string{alias}, nw))
		testcontainers.CleanupContainer(t, c, fastStop)
		assert.NilError(t, err)
		ids = append(ids, c.GetContainerID())
		assert.NilError(t, testcontainers.TerminateContainer(c, fastStop))
	}
	assert.NilError(t, nw.Remove(ctx(t)))
	for _, id := range ids {
		_, err := api.ContainerInspect(ctx(t), id, client.ContainerInspectOptions{})
		assert.Check(t, err != nil && strings.Contains(strings.ToLower(err.Error()), "no such container"), "container %s after Terminate: %v", id, err)
	}
	_, err = api.NetworkInspect(ctx(t), nw.ID, client.NetworkInspectOptions{})
	assert.Check(t, err != nil, "network %s still exists after Remove", nw.Name)
	list, err := api.ContainerList(ctx(t), client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "org.testcontainers.sessionId="+testcontainers.SessionID()).Add("label", "org.testcontainers=true")})
	assert.NilError(t, err)
	for _, c := range list.Items {
		if c.Labels["org.testcontainers.reaper"] == "true" || c.Labels["org.testcontainers.ryuk"] == "true" {
			continue
		}
		for _, id := range ids {
			assert.Check(t, c.ID != id, "container %s still listed", id)
		}
	}
}

// TestFromDockerfile: FromDockerfile needs POST /build. dockerd builds the
// image; hyperboxd has no /build endpoint yet, so the request must fail with
// an error that names the problem instead of hanging or half-creating.
func TestFromDockerfile(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"),
		[]byte("FROM "+busyboxImage+"\nRUN echo built > /built.txt\nCMD [\"sleep\", \"300\"]\n"), 0o644))
	tag := "hbx-tc-fromdockerfile:" + strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(t.Name(), ""))
	c, err := genericContainer(t, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			FromDockerfile: testcontainers.FromDockerfile{
				Context: dir, Repo: strings.Split(tag, ":")[0], Tag: strings.Split(tag, ":")[1], KeepImage: false,
			},
		},
		Started: true,
	})
	testcontainers.CleanupContainer(t, c, fastStop)
	// testcontainers-go builds through the classic POST /build.
	assert.NilError(t, err)
	rc, err := c.CopyFileFromContainer(ctx(t), "/built.txt")
	assert.NilError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, string(b), "built\n")
}

// genericContainer applies opts (e.g. network.WithNetwork) to req and runs
// GenericContainer.
func genericContainer(t *testing.T, req testcontainers.GenericContainerRequest, opts ...testcontainers.ContainerCustomizer) (testcontainers.Container, error) {
	t.Helper()
	for _, o := range opts {
		if err := o.Customize(&req); err != nil {
			return nil, err
		}
	}
	return testcontainers.GenericContainer(ctx(t), req)
}
