package devcontainers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestUpImage opens a workspace whose devcontainer.json names an image: the
// busybox test image (with the user hbx, see baseImage), run as hbx.
func TestUpImage(t *testing.T) {
	d := setup(t)
	w := newWorkspace(t, d, map[string]string{
		".devcontainer/devcontainer.json": `{
	"name": "hbx image",
	"image": "` + baseImage + `",
	"remoteUser": "hbx",
	"containerEnv": {"HBX_CONTAINER_ENV": "from-containerEnv"},
	"remoteEnv": {"HBX_REMOTE_ENV": "from-remoteEnv"},
	"postCreateCommand": "id -u >> .postcreate"
}
`,
	})
	checkWorkspace(t, w, "hbx", "1001")
	w.checkEnv(t)
}

// TestUpDockerfile opens a workspace whose devcontainer.json builds a
// Dockerfile (FROM the busybox test image) that adds the user dev (UID
// 1000) with a home directory. The CLI builds it through its
// Dockerfile-with-features, whose last stage is `FROM
// $_DEV_CONTAINERS_BASE_IMAGE` with that ARG declared before the first FROM
// (which FROM must expand against those ARGs only, as dockerd does).
func TestUpDockerfile(t *testing.T) { upDockerfile(t, false) }

// TestUpDockerfileBuildx is TestUpDockerfile with the buildx plugin
// installed: the CLI builds with `docker buildx build --load` and named
// build contexts, through the daemon's BuildKit.
func TestUpDockerfileBuildx(t *testing.T) { upDockerfile(t, true) }

func upDockerfile(t *testing.T, buildx bool) {
	d := setup(t)
	w := newWorkspace(t, d, map[string]string{
		".devcontainer/devcontainer.json": `{
	"name": "hbx dockerfile",
	"build": {"dockerfile": "Dockerfile", "args": {"HBX_GREETING": "hello-from-build-arg"}},
	"remoteUser": "dev",
	"postCreateCommand": "id -u >> .postcreate"
}
`,
		".devcontainer/Dockerfile": `FROM ` + baseImage + `
ARG HBX_GREETING=unset
RUN echo 'dev:x:1000:1000:dev:/home/dev:/bin/sh' >> /etc/passwd && \
    echo 'dev:x:1000:' >> /etc/group && \
    mkdir -p /home/dev && chown 1000:1000 /home/dev && \
    echo "$HBX_GREETING" > /etc/hbx-greeting
`,
	})
	if buildx {
		w.withBuildx(t)
	}
	r := checkWorkspace(t, w, "dev", "1000")

	// The container runs the image the CLI built (vsc-<folder>-<hash>,
	// then -uid on top for updateRemoteUserUID).
	img := inspect(t, w.d, "{{.Config.Image}}", r.ContainerID)
	assert.Check(t, is.Contains(w.images(t), img+":latest"), "container image %q", img)
	assert.Check(t, is.Equal(w.execOK(t, "cat", "/etc/hbx-greeting"), "hello-from-build-arg"))
	assert.Check(t, is.Equal(w.execOK(t, "sh", "-c", "echo $HOME"), "/home/dev"))
}

// checkWorkspace runs `devcontainer up` twice and `devcontainer exec` in
// the workspace and checks what every devcontainer must give: the up
// result, postCreateCommand run once as the remote user in the workspace
// folder, the bind-mounted workspace in both directions, exec's output and
// exit status. It returns the result of the first up.
func checkWorkspace(t *testing.T, w *workspace, user, uid string) upResult {
	t.Helper()
	r := w.up(t)
	assert.Check(t, is.Equal(r.RemoteUser, user))
	wantFolder := "/workspaces/" + filepath.Base(w.dir)
	assert.Check(t, is.Equal(r.RemoteWorkspaceFolder, wantFolder))
	assert.Check(t, is.DeepEqual(w.containers(t), []string{r.ContainerID}))
	assert.Check(t, is.Equal(inspect(t, w.d, "{{.State.Running}}", r.ContainerID), "true"))
	assert.Check(t, is.Equal(inspect(t, w.d, `{{index .Config.Labels "devcontainer.local_folder"}}`, r.ContainerID), w.dir))

	// postCreateCommand ran once, as the remote user, in the workspace.
	assert.Check(t, is.Equal(w.readFile(t, ".postcreate"), uid))

	// exec: output, user, working directory, exit status.
	assert.Check(t, is.Equal(w.execOK(t, "id", "-u"), uid))
	assert.Check(t, is.Equal(w.execOK(t, "id", "-un"), user))
	assert.Check(t, is.Equal(w.execOK(t, "pwd"), wantFolder))
	res := w.exec(t, "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")
	assert.Check(t, is.Equal(res.ExitCode, 3), res.String())
	assert.Check(t, is.Contains(res.Stdout(), "to-stdout"))
	assert.Check(t, is.Contains(res.Stderr(), "to-stderr"))
	res = w.exec(t, "hbx-no-such-command")
	assert.Check(t, res.ExitCode != 0, res.String())

	// The workspace is bind-mounted: a file written in the container is on
	// the host, and one written on the host is in the container.
	w.execOK(t, "sh", "-c", "echo written-in-container > from-container.txt")
	assert.Check(t, is.Equal(w.readFile(t, "from-container.txt"), "written-in-container"))
	st, err := os.Stat(filepath.Join(w.dir, "from-container.txt"))
	if assert.Check(t, err) {
		assert.Check(t, is.Equal(ownerUID(st), uid), "owner of a file the remote user wrote")
	}
	assert.NilError(t, os.WriteFile(filepath.Join(w.dir, "from-host.txt"), []byte("written-on-host\n"), 0o644))
	assert.Check(t, is.Equal(w.execOK(t, "cat", wantFolder+"/from-host.txt"), "written-on-host"))

	// A second up finds the running container and reuses it; the
	// postCreateCommand does not run again.
	again := w.up(t)
	assert.Check(t, is.Equal(again.ContainerID, r.ContainerID))
	assert.Check(t, is.Equal(again.RemoteUser, user))
	assert.Check(t, is.DeepEqual(w.containers(t), []string{r.ContainerID}))
	assert.Check(t, is.Equal(w.readFile(t, ".postcreate"), uid))
	return r
}

// checkEnv checks containerEnv (set on the container) and remoteEnv (set by
// the CLI for the processes it runs).
func (w *workspace) checkEnv(t *testing.T) {
	t.Helper()
	out := w.execOK(t, "sh", "-c", `echo "$HBX_CONTAINER_ENV $HBX_REMOTE_ENV"`)
	assert.Check(t, is.Equal(out, "from-containerEnv from-remoteEnv"))
	env := inspect(t, w.d, "{{json .Config.Env}}", w.containers(t)[0])
	assert.Check(t, strings.Contains(env, "HBX_CONTAINER_ENV=from-containerEnv"), env)
	assert.Check(t, !strings.Contains(env, "HBX_REMOTE_ENV"), env)
}
