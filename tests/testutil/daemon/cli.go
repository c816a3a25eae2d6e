package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/icmd"
)

// CLITimeout bounds every docker CLI invocation made through Cmd.
const CLITimeout = 2 * time.Minute

// Env returns the environment for docker CLI processes: the test's own
// environment without DOCKER_* variables, plus DOCKER_HOST pointing at this
// daemon and a private DOCKER_CONFIG (so `docker login` never touches ~/.docker).
func (d *Daemon) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DOCKER_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"DOCKER_HOST="+d.Host(),
		"DOCKER_CONFIG="+d.configDir,
		"DOCKER_CLI_HINTS=false",
	)
}

// Command returns the icmd.Cmd for `docker args...` against this daemon, for
// use with icmd.StartCmd (background commands such as `logs -f` or `attach`).
func (d *Daemon) Command(args ...string) icmd.Cmd {
	return icmd.Cmd{
		Command: append([]string{CLIPath()}, args...),
		Env:     d.Env(),
		Timeout: CLITimeout,
	}
}

// Cmd runs `docker args...` against this daemon and returns the result.
func (d *Daemon) Cmd(t testing.TB, args ...string) *icmd.Result {
	t.Helper()
	t.Logf("$ docker %s", strings.Join(args, " "))
	return icmd.RunCmd(d.Command(args...))
}

// CmdWithStdin runs `docker args...` with stdin connected to r.
func (d *Daemon) CmdWithStdin(t testing.TB, r io.Reader, args ...string) *icmd.Result {
	t.Helper()
	t.Logf("$ ... | docker %s", strings.Join(args, " "))
	return icmd.RunCmd(d.Command(args...), icmd.WithStdin(r))
}

// Run runs `docker args...` without a testing.T (TestMain, teardown).
func (d *Daemon) Run(args ...string) *icmd.Result {
	return icmd.RunCmd(d.Command(args...))
}

// Client returns a moby API client for this daemon (API version negotiated
// on first use), closed when the test ends.
func (d *Daemon) Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost(d.Host()))
	assert.NilError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// containerIDs lists every container with GET /containers/json?all=1.
func (d *Daemon) containerIDs() ([]string, error) {
	hc := d.HTTPClient()
	hc.Timeout = 30 * time.Second
	resp, err := hc.Get("http://docker/containers/json?all=1")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET /containers/json: %s: %s", resp.Status, b)
	}
	var list []struct{ Id string }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.Id)
	}
	return ids, nil
}
