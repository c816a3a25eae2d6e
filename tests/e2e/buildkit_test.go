package e2e

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"github.com/hyperbox/hyperbox/tests/testutil/registry"
)

// kitBuild runs `docker <args...>` (build or buildx build) with the buildx
// plugin the suite installs, so the build goes through BuildKit's /grpc and
// /session; plain progress makes the step lines comparable.
func kitBuild(t *testing.T, d *daemon.Daemon, args ...string) *icmd.Result {
	t.Helper()
	cmd := d.Command(args...)
	cmd.Env = append(cmd.Env, "BUILDKIT_PROGRESS=plain", "DOCKER_BUILDKIT=1")
	t.Logf("$ docker %s", strings.Join(args, " "))
	return icmd.RunCmd(cmd)
}

// buildMounts lists the mounts under the daemon's data-root that BuildKit
// made (its build containers' root filesystems and cache mounts).
func buildMounts(t *testing.T, d *daemon.Daemon) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	assert.NilError(t, err)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], d.DataRoot()) && strings.Contains(f[4], "buildkit") {
			out = append(out, f[4])
		}
	}
	return out
}

// TestBuildKitDockerfile: `docker build` with buildx reaches the daemon's
// BuildKit (_ping says Builder-Version 2) and builds a multi-stage
// Dockerfile with --target, COPY --from, --chown/--chmod, .dockerignore,
// ARG/--build-arg, HEALTHCHECK, -f, --label and two tags into the image
// store, where `docker run` finds it at once.
func TestBuildKitDockerfile(t *testing.T) {
	d := setup(t)
	if d.Target() == daemon.TargetHyperbox {
		ping, err := d.Client(t).Ping(context.Background(), client.PingOptions{})
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(ping.BuilderVersion), "2"))
	}
	name := uniqueName(t)
	refA, refB := name+"-a:1", name+"-b:2"
	removeImages(t, d, refA, refB, name+"-t:1")
	dir := buildContextDir(t, map[string]string{
		"build/Dockerfile.app": "ARG BASE=busybox\n" +
			"FROM $BASE AS builder\n" +
			"ARG GREETING=default\n" +
			"RUN mkdir /out && echo \"$GREETING from builder\" > /out/greeting\n" +
			"FROM busybox AS final\n" +
			"COPY --from=builder /out/greeting /greeting\n" +
			"COPY --chown=123:456 --chmod=750 script.sh /script.sh\n" +
			"COPY . /ctx/\n" +
			"HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD true\n" +
			"LABEL stage=final\n" +
			"CMD [\"sh\", \"-c\", \"cat /greeting; ls /ctx\"]\n" +
			"FROM final AS extra\n" +
			"RUN echo extra > /extra\n",
		"script.sh":     "#!/bin/sh\necho script\n",
		"keep.txt":      "keep\n",
		"secret.txt":    "must not reach the image\n",
		".dockerignore": "secret.txt\nbuild\n",
	})
	res := kitBuild(t, d, "build", "-f", dir+"/build/Dockerfile.app", "--target", "final",
		"--build-arg", "GREETING=hello", "--label", "built.by=test", "-t", refA, "-t", refB, dir)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Combined(), "[builder 2/2] RUN mkdir /out"))
	// --target stops at "final": the extra stage never runs.
	assert.Check(t, !strings.Contains(res.Combined(), "echo extra"))

	assert.Equal(t, inspect(t, d, "{{.Id}}", refA), inspect(t, d, "{{.Id}}", refB))
	assert.Check(t, is.Equal(inspect(t, d, "{{index .Config.Labels \"built.by\"}} {{index .Config.Labels \"stage\"}}", refA), "test final"))
	assert.Check(t, is.Equal(inspect(t, d, "{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Retries}}", refA),
		`["CMD-SHELL","true"] 5s 4`))

	run := d.Cmd(t, "run", "--rm", refA)
	run.Assert(t, icmd.Success)
	// /greeting, then `ls /ctx`: the .dockerignore'd file and directory
	// never reached the image.
	assert.Check(t, is.Equal(run.Stdout(), "hello from builder\nkeep.txt\nscript.sh\n"))
	st := d.Cmd(t, "run", "--rm", refA, "stat", "-c", "%u:%g %a", "/script.sh")
	st.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(st.Stdout()), "123:456 750"))

	// `docker buildx build` (the default "docker" driver) lands in the
	// same store.
	res = kitBuild(t, d, "buildx", "build", "-f", dir+"/build/Dockerfile.app", "-t", name+"-t:1", dir)
	res.Assert(t, icmd.Success)
	ex := d.Cmd(t, "run", "--rm", name+"-t:1", "cat", "/extra")
	ex.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(ex.Stdout()), "extra"))
	if d.Target() == daemon.TargetHyperbox {
		assert.Check(t, is.Len(buildMounts(t, d), 0), "build mounts left behind")
	}
}

// stepCached matches BuildKit's plain progress for a reused RUN step.
var stepCached = regexp.MustCompile(`#\d+ \[(stage-0 )?2/3\] RUN echo step-ran > /ran\n#\d+ CACHED`)

// TestBuildKitCache: unchanged steps are reused (CACHED), --no-cache runs
// them again, a RUN --mount=type=cache directory persists between builds,
// and ONBUILD triggers run in the child build.
func TestBuildKitCache(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeImages(t, d, name+":1", name+"-base:1", name+"-child:1")
	df := "FROM busybox\n" +
		"ARG BUST=0\n" +
		"RUN echo step-ran > /ran\n" +
		"RUN --mount=type=cache,target=/cache echo $BUST >> /cache/log && cp /cache/log /log\n"
	dir := buildContextDir(t, map[string]string{"Dockerfile": df})

	res := kitBuild(t, d, "build", "--build-arg", "BUST=1", "-t", name+":1", dir)
	res.Assert(t, icmd.Success)
	res = kitBuild(t, d, "build", "--build-arg", "BUST=1", "-t", name+":1", dir)
	res.Assert(t, icmd.Success)
	assert.Check(t, stepCached.MatchString(res.Combined()), res.Combined())

	// A new BUST value reruns the cache-mount step; the mount kept the
	// first build's line.
	res = kitBuild(t, d, "build", "--build-arg", "BUST=2", "-t", name+":1", dir)
	res.Assert(t, icmd.Success)
	out := d.Cmd(t, "run", "--rm", name+":1", "cat", "/log")
	out.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(out.Stdout(), "1\n2\n"))

	res = kitBuild(t, d, "build", "--no-cache", "--build-arg", "BUST=2", "-t", name+":1", dir)
	res.Assert(t, icmd.Success)
	assert.Check(t, !stepCached.MatchString(res.Combined()), res.Combined())

	base := buildContextDir(t, map[string]string{"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /onbuild\n"})
	kitBuild(t, d, "build", "-t", name+"-base:1", base).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{json .Config.OnBuild}}", name+"-base:1"), `["RUN echo triggered > /onbuild"]`))
	child := buildContextDir(t, map[string]string{"Dockerfile": "FROM " + name + "-base:1\n"})
	kitBuild(t, d, "build", "-t", name+"-child:1", child).Assert(t, icmd.Success)
	out = d.Cmd(t, "run", "--rm", name+"-child:1", "cat", "/onbuild")
	out.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(out.Stdout(), "triggered\n"))
}

// TestBuildKitFailingRun: a failing RUN stops the build with the step's
// output and exit code, and leaves no build mounts behind.
func TestBuildKitFailingRun(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	dir := buildContextDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN echo before-failure && exit 7\nRUN echo never-runs\n",
	})
	res := kitBuild(t, d, "build", "-t", name+":1", dir)
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Combined(), "before-failure"))
	assert.Check(t, is.Contains(res.Combined(), "exit code: 7"))
	assert.Check(t, !strings.Contains(res.Combined(), "#7 [3/3] RUN echo never-runs\n#7 0."))
	assert.Check(t, d.Cmd(t, "image", "inspect", name+":1").ExitCode != 0, "a failed build must not tag an image")
	if d.Target() == daemon.TargetHyperbox {
		assert.Check(t, is.Len(buildMounts(t, d), 0), "build mounts left behind")
	}
}

// TestBuildKitNetworkAndPull: --network=none leaves RUN steps with
// loopback only; --pull resolves FROM in its registry even though the
// image is in the store.
func TestBuildKitNetworkAndPull(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeImages(t, d, name+":1", name+":2")
	dir := buildContextDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN ls /sys/class/net | tr '\\n' ' ' > /ifaces\n",
	})
	kitBuild(t, d, "build", "--network=none", "-t", name+":1", dir).Assert(t, icmd.Success)
	out := d.Cmd(t, "run", "--rm", name+":1", "cat", "/ifaces")
	out.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(out.Stdout()), "lo"))

	reg := registry.Start(t)
	ref := reg.LocalhostHost() + "/" + name + "-base:1"
	d.Cmd(t, "tag", "busybox", ref).Assert(t, icmd.Success)
	d.Cmd(t, "push", ref).Assert(t, icmd.Success)
	t.Cleanup(func() { d.Run("rmi", "-f", ref) })
	pdir := buildContextDir(t, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN echo pulled > /p\n"})
	res := kitBuild(t, d, "build", "--pull", "-t", name+":2", pdir)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Combined(), "resolve "+ref), res.Combined())
}

// TestBuildKitPruneAndDiskUsage: builds leave cache that `docker system
// df` counts; `docker builder prune` (through buildx) and POST /build/prune
// (the Go client) remove it.
func TestBuildKitPruneAndDiskUsage(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeImages(t, d, name+":1")
	dir := buildContextDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN dd if=/dev/zero of=/blob bs=1024 count=512 2>/dev/null\n",
	})
	kitBuild(t, d, "build", "-t", name+":1", dir).Assert(t, icmd.Success)
	ctx := context.Background()
	c := d.Client(t)
	du, err := c.DiskUsage(ctx, client.DiskUsageOptions{BuildCache: true})
	assert.NilError(t, err)
	assert.Assert(t, du.BuildCache.TotalCount > 0, "no build cache records after a build")

	res := kitBuild(t, d, "builder", "prune", "-af")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "Total:"))

	// Another build, pruned through the Engine API.
	kitBuild(t, d, "build", "--no-cache", "-t", name+":1", dir).Assert(t, icmd.Success)
	rep, err := c.BuildCachePrune(ctx, client.BuildCachePruneOptions{All: true})
	assert.NilError(t, err)
	assert.Check(t, len(rep.Report.CachesDeleted) > 0)
	assert.Check(t, rep.Report.SpaceReclaimed > 0)
	du, err = c.DiskUsage(ctx, client.DiskUsageOptions{BuildCache: true})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(du.BuildCache.TotalCount, int64(0)))
	// The image built survives its cache.
	d.Cmd(t, "run", "--rm", name+":1", "test", "-f", "/blob").Assert(t, icmd.Success)
}
