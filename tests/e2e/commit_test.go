package e2e

import (
	"strconv"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// docker commit makes an image of a container's changes, with --change
// instructions, message and author; the image runs and shows them.
func TestCommit(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	marker := "marker-" + name
	d.Cmd(t, "run", "--name", name, "busybox", "sh", "-c", "echo "+marker+" > /marker && rm /etc/group").Assert(t, icmd.Success)
	repo := "hbx-commit-" + name
	removeImages(t, d, repo+":v1")
	res := d.Cmd(t, "commit",
		"--change", `CMD ["cat","/marker"]`,
		"--change", "ENV COMMITTED=yes",
		"--change", "LABEL hbx.commit=1",
		"--change", "EXPOSE 8080",
		"--change", "WORKDIR /srv",
		"-m", "msg", "-a", "me", name, repo+":v1")
	res.Assert(t, icmd.Success)
	id := strings.TrimSpace(res.Stdout())
	assert.Check(t, strings.HasPrefix(id, "sha256:"), id)
	assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", repo+":v1"), id))

	// The committed image runs, with the container's files and the new config.
	run := d.Cmd(t, "run", "--rm", repo+":v1")
	run.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(run.Stdout()), marker))
	run = d.Cmd(t, "run", "--rm", repo+":v1", "sh", "-c", `echo $COMMITTED $(pwd); ls /etc`)
	run.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(run.Stdout(), "yes /srv"))
	assert.Check(t, !strings.Contains(run.Stdout(), "group"), "a file the container deleted is back: %s", run.Stdout())

	assert.Check(t, is.Equal(inspect(t, d, "{{.Comment}}|{{.Author}}", repo+":v1"), "msg|me"))
	assert.Check(t, is.Equal(inspect(t, d, "{{json .Config.Cmd}}", repo+":v1"), `["cat","/marker"]`))
	assert.Check(t, is.Equal(inspect(t, d, `{{index .Config.Labels "hbx.commit"}}`, repo+":v1"), "1"))
	assert.Check(t, is.Contains(inspect(t, d, "{{json .Config.ExposedPorts}}", repo+":v1"), `"8080/tcp"`))
	assert.Check(t, is.Contains(inspect(t, d, "{{json .Config.Env}}", repo+":v1"), "COMMITTED=yes"))

	hist := d.Cmd(t, "history", "--no-trunc", "--format", "{{.Comment}}|{{.CreatedBy}}", repo+":v1")
	hist.Assert(t, icmd.Success)
	top := lines(hist.Stdout())
	assert.Assert(t, len(top) >= 2, hist.Stdout())
	assert.Check(t, strings.HasPrefix(top[0], "msg|"), top[0])
	assert.Check(t, is.Contains(top[0], "echo "+marker))
	// One more layer than busybox.
	base, err := strconv.Atoi(inspect(t, d, "{{len .RootFS.Layers}}", "busybox"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(inspect(t, d, "{{len .RootFS.Layers}}", repo+":v1"), strconv.Itoa(base+1)))
}

// A running container is committed (paused meanwhile by default, or not
// with --pause=false) and keeps running; a commit without a repository
// gives a dangling image.
func TestCommitRunning(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "-d", "--name", name, "busybox", "sh", "-c", "echo live > /live && echo ready && sleep 300").Assert(t, icmd.Success)
	waitForLog(t, d, name, "ready")
	repo := "hbx-commit-" + name
	removeImages(t, d, repo)
	d.Cmd(t, "commit", name, repo).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "running"))
	run := d.Cmd(t, "run", "--rm", repo, "cat", "/live")
	run.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(run.Stdout()), "live"))
	// The container's command became the image's.
	assert.Check(t, is.Contains(inspect(t, d, "{{json .Config.Cmd}}", repo), "sleep 300"))

	res := d.Cmd(t, "commit", "--pause=false", name)
	res.Assert(t, icmd.Success)
	id := strings.TrimSpace(res.Stdout())
	removeImages(t, d, id)
	assert.Check(t, is.Equal(inspect(t, d, "{{len .RepoTags}}", id), "0"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "running"))
}

// docker commit refuses what dockerd refuses.
func TestCommitErrors(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "create", "--name", name, "busybox", "true").Assert(t, icmd.Success)
	res := d.Cmd(t, "commit", "--change", "RUN echo hi", name, "hbx-commit-bad-"+name)
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "run is not a valid change command"))
	res = d.Cmd(t, "commit", "no-such-container-"+name)
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "No such container"))
	res = d.Cmd(t, "commit", name, "Bad:Ref")
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "invalid reference format"))
}
