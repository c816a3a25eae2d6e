package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// classicBuild runs `docker build args... dir` with the classic builder
// (DOCKER_BUILDKIT=0: POST /build).
func classicBuild(t *testing.T, d *daemon.Daemon, dir string, args ...string) *icmd.Result {
	t.Helper()
	cmd := d.Command(append(append([]string{"build"}, args...), dir)...)
	cmd.Env = append(cmd.Env, "DOCKER_BUILDKIT=0")
	t.Logf("$ DOCKER_BUILDKIT=0 docker build %s %s", strings.Join(args, " "), dir)
	return icmd.RunCmd(cmd)
}

// buildContextDir writes files (name -> content) into a fresh directory.
func buildContextDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		assert.NilError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// allContainers is `docker ps -aq`, sorted by the CLI.
func allContainers(t *testing.T, d *daemon.Daemon) string {
	t.Helper()
	res := d.Cmd(t, "ps", "-aq", "--no-trunc")
	res.Assert(t, icmd.Success)
	return res.Stdout()
}

// TestClassicBuild: build with RUN, COPY, ENV, WORKDIR and CMD, two tags;
// the image runs with the file, env, workdir and cmd, the output has the
// classic builder's step lines, and no build container is left behind.
func TestClassicBuild(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	refA, refB := name+"-a:1", name+"-b:2"
	removeImages(t, d, refA, refB)
	dir := buildContextDir(t, map[string]string{
		"Dockerfile": "FROM busybox\n" +
			"RUN echo hi > /f\n" +
			"COPY greeting.txt /opt/greeting.txt\n" +
			"COPY sub/ /opt/sub/\n" +
			"ENV GREETING=hello NAME=\"big world\"\n" +
			"WORKDIR /app/work\n" +
			"CMD [\"sh\", \"-c\", \"cat /f /opt/greeting.txt /opt/sub/inner.txt; echo $GREETING $NAME; pwd\"]\n",
		"greeting.txt":  "from-context\n",
		"sub/inner.txt": "inner\n",
		"ignored.txt":   "x\n",
		".dockerignore": "ignored.txt\n",
	})
	before := allContainers(t, d)

	res := classicBuild(t, d, dir, "-t", refA, "-t", refB)
	res.Assert(t, icmd.Success)
	out := res.Stdout()
	assert.Check(t, is.Contains(out, "Step 1/7 : FROM busybox"))
	assert.Check(t, is.Contains(out, "Step 2/7 : RUN echo hi > /f"))
	assert.Check(t, is.Contains(out, "Step 7/7 : CMD"))
	assert.Check(t, is.Contains(out, "Successfully built "))
	assert.Check(t, is.Contains(out, "Successfully tagged "+refA))
	assert.Check(t, is.Contains(out, "Successfully tagged "+refB))

	// Both tags name the same image.
	assert.Equal(t, inspect(t, d, "{{.Id}}", refA), inspect(t, d, "{{.Id}}", refB))
	assert.Check(t, is.Equal(inspect(t, d, "{{.Config.WorkingDir}}", refA), "/app/work"))

	run := d.Cmd(t, "run", "--rm", refA)
	run.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(run.Stdout(), "hi\nfrom-context\ninner\nhello big world\n/app/work\n"))

	// .dockerignore kept ignored.txt out of the context.
	res = d.Cmd(t, "run", "--rm", refA, "ls", "/opt")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), "greeting.txt\nsub\n"))

	assert.Check(t, is.Equal(allContainers(t, d), before), "build containers left behind")
}

// TestClassicBuildFailingRun: a RUN that exits non-zero stops the build
// with dockerd's message and a non-zero exit of the CLI; later steps do
// not run, and with --force-rm no container is left.
func TestClassicBuildFailingRun(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	dir := buildContextDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN echo before-failure; false\nRUN echo never-runs\n",
	})
	before := allContainers(t, d)
	res := classicBuild(t, d, dir, "--force-rm", "-t", name)
	assert.Check(t, res.ExitCode != 0, "build succeeded: %s", res.Combined())
	assert.Check(t, is.Contains(res.Stdout(), "before-failure"))
	assert.Check(t, !strings.Contains(res.Stdout(), "never-runs"))
	assert.Check(t, is.Contains(res.Stderr(), "The command '/bin/sh -c echo before-failure; false' returned a non-zero code: 1"))
	assert.Check(t, is.Equal(allContainers(t, d), before), "build containers left behind")
	assert.Check(t, d.Run("image", "inspect", name).ExitCode != 0, "failed build was tagged")

	// Without --force-rm the failed step's container is kept (--rm only
	// removes the containers of successful steps), as dockerd does.
	res = classicBuild(t, d, dir, "-t", name)
	assert.Check(t, res.ExitCode != 0, "build succeeded: %s", res.Combined())
	after := d.Cmd(t, "ps", "-aq", "--no-trunc", "--filter", "status=exited")
	var kept []string
	for _, id := range strings.Fields(after.Stdout()) {
		if !strings.Contains(before, id) {
			kept = append(kept, id)
		}
	}
	assert.Check(t, is.Len(kept, 1), "containers kept by the failed build")
	removeContainers(t, d, kept...)
}

// TestClassicBuildOptions: -f to a Dockerfile in a subdirectory, -q
// printing only the image ID, --label, ADD of a local tar archive
// (unpacked), ENTRYPOINT (which drops the base image's CMD), EXPOSE,
// USER, and the JSON query values the CLI sends (--no-cache accepted).
func TestClassicBuildOptions(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeImages(t, d, name)
	dir := buildContextDir(t, map[string]string{
		"build/Other.Dockerfile": "FROM busybox\n" +
			"ADD files.tar /unpacked/\n" +
			"COPY build/note.txt /etc\n" +
			"EXPOSE 8080/tcp 53/udp\n" +
			"USER 1000:1000\n" +
			"ENTRYPOINT [\"cat\"]\n",
		"build/note.txt": "note\n",
	})
	tarball := icmd.RunCommand("tar", "-C", dir, "-cf", filepath.Join(dir, "files.tar"), "build/note.txt")
	tarball.Assert(t, icmd.Success)

	res := classicBuild(t, d, dir, "-q", "--no-cache", "--label", "built.by=e2e", "-f", filepath.Join(dir, "build/Other.Dockerfile"), "-t", name)
	res.Assert(t, icmd.Success)
	id := strings.TrimSpace(res.Stdout())
	assert.Check(t, strings.HasPrefix(id, "sha256:") && !strings.Contains(id, "\n"), "quiet output: %q", res.Stdout())
	assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", name), id))
	assert.Check(t, is.Equal(inspect(t, d, `{{index .Config.Labels "built.by"}}`, name), "e2e"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.Config.User}}", name), "1000:1000"))
	assert.Check(t, is.Equal(inspect(t, d, "{{json .Config.Cmd}}", name), "null"))
	assert.Check(t, is.Contains(inspect(t, d, "{{json .Config.ExposedPorts}}", name), `"53/udp"`))

	run := d.Cmd(t, "run", "--rm", name, "/unpacked/build/note.txt", "/etc/note.txt")
	run.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(run.Stdout(), "note\nnote\n"))
}

// TestClassicBuildArgs: ARG with a default and --build-arg, used in RUN
// and ENV; an unknown build arg is reported as not consumed.
func TestClassicBuildArgs(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeImages(t, d, name)
	dir := buildContextDir(t, map[string]string{
		"Dockerfile": "FROM busybox\n" +
			"ARG WHO=nobody\n" +
			"ARG DEFAULTED=dflt\n" +
			"RUN echo \"$WHO/$DEFAULTED\" > /args\n" +
			"ENV FROM_ARG=${WHO}\n" +
			"LABEL who=$WHO\n",
	})
	res := classicBuild(t, d, dir, "--build-arg", "WHO=alice", "--build-arg", "UNUSED=1", "-t", name)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "[Warning] One or more build-args [UNUSED] were not consumed"))

	run := d.Cmd(t, "run", "--rm", name, "sh", "-c", "cat /args; echo $FROM_ARG; echo ${WHO:-unset}")
	run.Assert(t, icmd.Success)
	// Build args are not in the image's environment.
	assert.Check(t, is.Equal(run.Stdout(), "alice/dflt\nalice\nunset\n"))
	assert.Check(t, is.Equal(inspect(t, d, `{{index .Config.Labels "who"}}`, name), "alice"))
}

// TestClassicBuildMultiStage: COPY --from a named stage (a file and a
// directory's contents) and from a stage index, and --target stopping at
// an earlier stage.
func TestClassicBuildMultiStage(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeImages(t, d, name+":final", name+":first")
	dir := buildContextDir(t, map[string]string{
		"Dockerfile": "FROM busybox AS first\n" +
			"RUN mkdir -p /out/d && echo one > /out/one && echo two > /out/d/two\n" +
			"CMD [\"echo\", \"first-stage\"]\n" +
			"FROM busybox\n" +
			"COPY --from=first /out/one /got/one\n" +
			"COPY --from=0 /out/d /got/d/\n" +
			"CMD [\"sh\", \"-c\", \"cat /got/one /got/d/two\"]\n",
	})
	before := allContainers(t, d)
	classicBuild(t, d, dir, "-t", name+":final").Assert(t, icmd.Success)
	run := d.Cmd(t, "run", "--rm", name+":final")
	run.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(run.Stdout(), "one\ntwo\n"))

	res := classicBuild(t, d, dir, "--target", "first", "-t", name+":first")
	res.Assert(t, icmd.Success)
	assert.Check(t, !strings.Contains(res.Stdout(), "COPY --from"), "steps after the target ran")
	run = d.Cmd(t, "run", "--rm", name+":first")
	run.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(run.Stdout(), "first-stage\n"))
	assert.Check(t, is.Equal(allContainers(t, d), before), "build containers left behind")
}

// TestClassicBuildFromGlobalArg: a later stage's FROM expands the ARGs
// declared before the first FROM, and only those (not the previous stage's
// ARGs or ENV); the value may name an earlier stage. The devcontainers CLI
// builds every Dockerfile-based devcontainer this way: its
// Dockerfile-with-features starts with `ARG
// _DEV_CONTAINERS_BASE_IMAGE=placeholder` and ends with `FROM
// $_DEV_CONTAINERS_BASE_IMAGE AS dev_containers_target_stage`, the build arg
// naming the user's last stage.
func TestClassicBuildFromGlobalArg(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeImages(t, d, name)
	dir := buildContextDir(t, map[string]string{
		"Dockerfile": "ARG BASE=placeholder\n" +
			"FROM busybox AS first\n" +
			"ARG STAGE_ARG=x\n" +
			"ENV BASE=not-this-one\n" +
			"RUN echo first > /stage\n" +
			"FROM $BASE AS final\n" +
			"RUN cat /stage\n",
	})
	classicBuild(t, d, dir, "--build-arg", "BASE=first", "--target", "final", "-t", name).Assert(t, icmd.Success)
	run := d.Cmd(t, "run", "--rm", name, "cat", "/stage")
	run.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(run.Stdout(), "first\n"))
}

// TestClassicBuildOnBuild: the base image's ONBUILD triggers run in the
// child build, right after its FROM, and the child does not inherit them.
func TestClassicBuildOnBuild(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeImages(t, d, name+"-base:1", name+"-child:1")
	base := buildContextDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nONBUILD COPY marker.txt /marker\nONBUILD RUN echo triggered > /onbuild\n",
	})
	classicBuild(t, d, base, "-t", name+"-base:1").Assert(t, icmd.Success)
	child := buildContextDir(t, map[string]string{
		"Dockerfile": "FROM " + name + "-base:1\nRUN cat /onbuild /marker > /both\n",
		"marker.txt": "from-child-context\n",
	})
	res := classicBuild(t, d, child, "-t", name+"-child:1")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "# Executing 2 build triggers"))
	out := d.Cmd(t, "run", "--rm", name+"-child:1", "cat", "/both")
	out.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(out.Stdout(), "triggered\nfrom-child-context\n"))
	assert.Check(t, is.Equal(inspect(t, d, "{{len .Config.OnBuild}}", name+"-child:1"), "0"))
}
