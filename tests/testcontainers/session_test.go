package testcontainers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
)

const (
	// markLabel carries the value of $markEnv on what a child session
	// creates, so the parent finds exactly those objects on its daemon.
	markLabel = "hbx.tc.mark"
	markEnv   = "HBX_TC_MARK"
	// hostFromContextEnv, in a child, names the docker CLI to resolve the
	// current docker context's endpoint with before testcontainers-go starts.
	hostFromContextEnv = "HBX_TC_HOST_FROM_CONTEXT"
)

// childSetup prepares a child session before its tests run. With
// $hostFromContextEnv it does what testcontainers-go v0.45.0 users with a
// docker context do (testcontainers-go reads no docker context itself,
// testcontainers/testcontainers-go#2607): take DOCKER_HOST from
// `docker context inspect` of the current context.
func childSetup() error {
	cli := os.Getenv(hostFromContextEnv)
	if cli == "" {
		return nil
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return fmt.Errorf("child: DOCKER_HOST=%s already set; the context would be ignored", h)
	}
	out, err := exec.Command(cli, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("child: docker context inspect: %w\n%s", err, out)
	}
	return os.Setenv("DOCKER_HOST", strings.TrimSpace(string(out)))
}

// TestSessionChild runs only inside a child process (TestReaperRemovesContainers,
// TestDaemonDiscovery): one testcontainers-go session that creates a network
// and two containers (one on the network) labelled with $markEnv, leaves them
// to its Ryuk and prints what it created and which daemon it used.
func TestSessionChild(t *testing.T) {
	mark := os.Getenv(markEnv)
	if os.Getenv(childEnv) == "" || mark == "" {
		t.Skip("helper for TestReaperRemovesContainers and TestDaemonDiscovery")
	}
	labels := map[string]string{markLabel: mark}
	nw, err := network.New(ctx(t), network.WithLabels(labels))
	assert.NilError(t, err)
	var ids []string
	for _, opts := range [][]testcontainers.ContainerCustomizer{nil, {network.WithNetwork([]string{"child"}, nw)}} {
		c, err := genericContainer(t, testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{Image: busyboxImage, Cmd: []string{"sleep", "300"}, Labels: labels},
			Started:          true,
		}, opts...)
		assert.NilError(t, err)
		st, err := c.State(ctx(t))
		assert.NilError(t, err)
		assert.Assert(t, st.Running)
		ids = append(ids, c.GetContainerID())
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx(t))
	assert.NilError(t, err)
	defer cli.Close()
	fmt.Printf("CHILD containers=%s network=%s session=%s host=%s\n",
		strings.Join(ids, ","), nw.ID, testcontainers.SessionID(), cli.DaemonHost())
}

// sessions are the session IDs of the children run so far.
var sessions = struct {
	sync.Mutex
	seen map[string]bool
}{seen: map[string]bool{}}

// childSession is what a child session reported.
type childSession struct {
	containers []string
	network    string
	session    string
	host       string
}

// childEnvironment returns a minimal environment for a child session: PATH,
// a fresh HOME (so no ~/.testcontainers.properties or ~/.docker applies),
// the child marker, the mark and extra. Nothing else of the parent's
// environment (DOCKER_*, TESTCONTAINERS_*) leaks in.
func childEnvironment(t *testing.T, mark string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), childEnv + "=1", markEnv + "=" + mark}
	return append(env, extra...)
}

// childArgs are the arguments that run TestSessionChild in the test binary,
// under a shell that stays its parent: testcontainers-go derives the session
// ID from the parent process, so each child is a session of its own (as
// separate `go test` runs are), with its own Ryuk.
func childArgs(t *testing.T) []string {
	exe, err := os.Executable()
	assert.NilError(t, err)
	return []string{"sh", "-c", `"$@"; exit $?`, "sh",
		exe, "-test.run=^TestSessionChild$", "-test.v", "-test.count=1", "-test.timeout=3m"}
}

// runChild runs cmd (TestSessionChild, possibly wrapped) and returns what
// the child reported.
func runChild(t *testing.T, cmd *exec.Cmd) childSession {
	t.Helper()
	out, err := cmd.CombinedOutput()
	t.Logf("child session output:\n%s", out)
	assert.NilError(t, err, "child session failed")
	m := regexp.MustCompile(`(?m)^CHILD containers=(\S+) network=(\S+) session=(\S+) host=(\S+)$`).FindStringSubmatch(string(out))
	assert.Assert(t, m != nil, "no CHILD line in the child's output")
	s := childSession{containers: strings.Split(m[1], ","), network: m[2], session: m[3], host: m[4]}
	assert.Assert(t, s.session != testcontainers.SessionID(), "the child must be a session of its own")
	sessions.Lock()
	defer sessions.Unlock()
	assert.Assert(t, !sessions.seen[s.session], "session %s already used by another child", s.session)
	sessions.seen[s.session] = true
	return s
}

// assertCreatedHere checks that the child's containers and network exist on d
// (so the child ran against d), labelled with mark, and that `docker ps -a`
// against d lists exactly those containers for the mark.
func assertCreatedHere(t *testing.T, d *daemon.Daemon, s childSession, mark string) {
	t.Helper()
	api := d.Client(t)
	for _, id := range s.containers {
		c, err := api.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
		assert.NilError(t, err, "the child's container %s must be on this daemon and outlive the child", id)
		assert.Check(t, is.Equal(c.Container.Config.Labels[markLabel], mark))
		assert.Check(t, is.Equal(c.Container.Config.Labels["org.testcontainers.sessionId"], s.session))
	}
	nw, err := api.NetworkInspect(context.Background(), s.network, client.NetworkInspectOptions{})
	assert.NilError(t, err, "the child's network %s must be on this daemon and outlive the child", s.network)
	assert.Check(t, is.Equal(nw.Network.Labels[markLabel], mark))
	res := d.Cmd(t, "ps", "-a", "--no-trunc", "--filter", "label="+markLabel+"="+mark, "--format", "{{.ID}}")
	assert.NilError(t, res.Error, res.String())
	assert.Check(t, is.DeepEqual(sorted(strings.Fields(res.Stdout())), sorted(s.containers)))
}

// waitReaped waits for the child session's Ryuk to remove its containers and
// network once the child is gone, then for that Ryuk to exit (auto-removed).
func waitReaped(t *testing.T, d *daemon.Daemon, s childSession, timeout time.Duration) {
	t.Helper()
	api := d.Client(t)
	bg := context.Background()
	reaper := func() []string {
		l, err := api.ContainerList(bg, client.ContainerListOptions{All: true,
			Filters: make(client.Filters).Add("label", "org.testcontainers.sessionId="+s.session).Add("label", "org.testcontainers.ryuk=true")})
		if err != nil {
			return []string{err.Error()}
		}
		var ids []string
		for _, c := range l.Items {
			ids = append(ids, c.ID[:12]+" "+string(c.State))
		}
		return ids
	}
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		for _, id := range s.containers {
			_, err := api.ContainerInspect(bg, id, client.ContainerInspectOptions{})
			if err == nil {
				return poll.Continue("container %s of the finished session still exists (reaper: %v)", id, reaper())
			}
			if !strings.Contains(strings.ToLower(err.Error()), "no such container") {
				return poll.Error(err)
			}
		}
		if _, err := api.NetworkInspect(bg, s.network, client.NetworkInspectOptions{}); err == nil {
			return poll.Continue("network %s of the finished session still exists (reaper: %v)", s.network, reaper())
		}
		return poll.Success()
	}, poll.WithTimeout(timeout), poll.WithDelay(250*time.Millisecond))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if l := reaper(); len(l) > 0 {
			return poll.Continue("reaper of session %s still there: %v", s.session, l)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(250*time.Millisecond))
}

// uniqueMark returns a label value unique to this test run.
func uniqueMark(t *testing.T) string {
	return fmt.Sprintf("%s-%d", regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"), time.Now().UnixNano())
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
