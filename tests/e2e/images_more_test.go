package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// docker import of a root filesystem tar with --change and -m: the image
// runs the CMD given, and docker history shows the message.
func TestImport(t *testing.T) {
	d := setup(t)
	rootfs := busyboxRootfs(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(rootfs)
	assert.NilError(t, err)
	assert.NilError(t, zw.Close())
	tarPath := filepath.Join(t.TempDir(), "rootfs.tar")
	assert.NilError(t, os.WriteFile(tarPath, rootfs, 0o644))

	cases := []struct {
		name  string
		src   string    // file argument of docker import
		stdin io.Reader // for src "-"
		noTag bool      // import as REPOSITORY alone: the tag is latest
	}{
		{name: "from a file", src: tarPath},
		{name: "from stdin", src: "-", stdin: bytes.NewReader(rootfs)},
		{name: "gzip from stdin without a tag", src: "-", stdin: bytes.NewReader(gz.Bytes()), noTag: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := uniqueName(t)
			arg, ref := repo+":imported", repo+":imported"
			if tc.noTag {
				arg, ref = repo, repo+":latest"
			}
			removeImages(t, d, ref)
			msg := "imported by " + t.Name()
			args := []string{"import", "--change", `CMD ["echo","imported"]`, "--change", "ENV IMPORTED=yes", "-m", msg, tc.src, arg}
			var res *icmd.Result
			if tc.stdin != nil {
				res = d.CmdWithStdin(t, tc.stdin, args...)
			} else {
				res = d.Cmd(t, args...)
			}
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Regexp(`^sha256:[0-9a-f]{64}\n$`, res.Stdout()))
			id := strings.TrimSpace(res.Stdout())
			assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", ref), id))
			res = d.Cmd(t, "images", "--format", "{{.Repository}}:{{.Tag}}", repo)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Equal(res.Stdout(), ref+"\n"))

			res = d.Cmd(t, "run", "--rm", ref)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Equal(res.Stdout(), "imported\n"))
			res = d.Cmd(t, "run", "--rm", ref, "sh", "-c", "echo $IMPORTED")
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Equal(res.Stdout(), "yes\n"))

			res = d.Cmd(t, "history", "--no-trunc", "--format", "{{.ID}}|{{.Comment}}", ref)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.DeepEqual(lines(res.Stdout()), []string{id + "|" + msg}))
			res = d.Cmd(t, "history", ref)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Contains(res.Stdout(), msg))

			assert.Check(t, is.Equal(inspect(t, d, "{{json .Config.Cmd}}", ref), `["echo","imported"]`))
			assert.Check(t, is.Equal(inspect(t, d, "{{.Comment}}", ref), msg))
			assert.Check(t, is.Equal(inspect(t, d, "{{.Os}}", ref), "linux"))
		})
	}

	// Each --change is one Dockerfile instruction, parsed as a Dockerfile
	// would be (several key=value pairs per ENV or LABEL, quotes).
	t.Run("change instructions", func(t *testing.T) {
		ref := uniqueName(t) + ":changes"
		removeImages(t, d, ref)
		res := d.Cmd(t, "import",
			"--change", `ENV A=1 B="two words"`,
			"--change", `LABEL l1=x l2="y z"`,
			"--change", "WORKDIR /w",
			"--change", "USER nobody",
			"--change", "EXPOSE 80 53/udp",
			"--change", `ENTRYPOINT ["/bin/sh", "-c"]`,
			"--change", "CMD echo shell form",
			tarPath, ref)
		res.Assert(t, icmd.Success)
		cases := []struct{ format, want string }{
			{format: "{{json .Config.Env}}", want: `["A=1","B=two words"]`},
			{format: "{{json .Config.Labels}}", want: `{"l1":"x","l2":"y z"}`},
			{format: "{{.Config.WorkingDir}}", want: "/w"},
			{format: "{{.Config.User}}", want: "nobody"},
			{format: "{{json .Config.ExposedPorts}}", want: `{"53/udp":{},"80/tcp":{}}`},
			{format: "{{json .Config.Entrypoint}}", want: `["/bin/sh","-c"]`},
			{format: "{{json .Config.Cmd}}", want: `["/bin/sh","-c","echo shell form"]`},
		}
		for _, tc := range cases {
			assert.Check(t, is.Equal(inspect(t, d, tc.format, ref), tc.want), tc.format)
		}
		res = d.Cmd(t, "run", "--rm", ref, `echo "$A|$B|$(id -u)|$(pwd)"`)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(res.Stdout(), "1|two words|65534|/w\n"))
	})

	t.Run("invalid change", func(t *testing.T) {
		ref := uniqueName(t) + ":invalid"
		removeImages(t, d, ref)
		res := d.Cmd(t, "import", "--change", "RUN true", tarPath, ref)
		assertExit(t, res, 1)
		// Docker names the instruction as its Dockerfile parser does: lower case.
		assert.Check(t, is.Contains(res.Stderr(), "Error response from daemon: run is not a valid change command"))
		assertExit(t, d.Cmd(t, "image", "inspect", ref), 1)
	})
}

// docker history of the busybox image: the header and one row per layer,
// the top row carrying the image ID.
func TestHistory(t *testing.T) {
	d := setup(t)
	id := inspect(t, d, "{{.Id}}", "busybox:latest")

	res := d.Cmd(t, "history", "busybox")
	res.Assert(t, icmd.Success)
	rows := lines(res.Stdout())
	assert.Assert(t, len(rows) >= 2, res.Stdout())
	assert.Check(t, is.Regexp(`^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$`, rows[0]))
	short := strings.TrimPrefix(id, "sha256:")[:12]
	assert.Check(t, is.Regexp(`^`+short+`\s+`, rows[1]))

	res = d.Cmd(t, "history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", "busybox")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.DeepEqual(lines(res.Stdout()),
		[]string{id + "|hyperbox tests: ADD busybox-static /bin/busybox|built by tests/testutil/busybox"}))

	res = d.Cmd(t, "history", "nosuchimage-"+uniqueName(t))
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "No such image: nosuchimage-"))
}

// docker tag gives an image a second name with the same ID; docker rmi of
// one name only untags it; docker image inspect shows both names.
func TestTagRmiUntag(t *testing.T) {
	d := setup(t)
	repo := uniqueName(t)
	a, b := repo+":a", repo+":b"
	loadVariant(t, d, a, repo)
	removeImages(t, d, a, b)
	id := inspect(t, d, "{{.Id}}", a)

	// The source may be given by ID prefix.
	d.Cmd(t, "tag", strings.TrimPrefix(id, "sha256:")[:12], b).Assert(t, icmd.Success)
	res := d.Cmd(t, "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", repo)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.DeepEqual(sortedLines(res.Stdout()), []string{a + " " + id, b + " " + id}))
	res = d.Cmd(t, "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "--filter", "label=hyperbox.test="+repo)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.DeepEqual(sortedLines(res.Stdout()), []string{a + " " + id, b + " " + id}))

	t.Run("image inspect", func(t *testing.T) {
		assert.Check(t, is.Equal(inspect(t, d, "{{.Os}}", b), "linux"))
		assert.Check(t, is.Equal(inspect(t, d, "{{.Architecture}}", b), runtime.GOARCH))
		var tags []string
		assert.NilError(t, json.Unmarshal([]byte(inspect(t, d, "{{json .RepoTags}}", id)), &tags))
		sort.Strings(tags)
		assert.Check(t, is.DeepEqual(tags, []string{a, b}))
		assert.Check(t, is.Equal(inspect(t, d, `{{index .Config.Labels "hyperbox.test"}}`, a), repo))
		assert.Check(t, is.Equal(inspect(t, d, "{{.RootFS.Type}}", a), "layers"))
		assert.Check(t, is.Equal(inspect(t, d, "{{json .RepoDigests}}", a), "[]"), "a loaded image has no registry digest")
		assert.Check(t, is.Regexp(`^[1-9][0-9]*$`, inspect(t, d, "{{.Size}}", a)))
		// The ID and the name give the same image.
		assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", strings.TrimPrefix(id, "sha256:")[:12]), id))
	})

	t.Run("rmi by ID of an image with two names", func(t *testing.T) {
		short := strings.TrimPrefix(id, "sha256:")[:12]
		res := d.Cmd(t, "rmi", short)
		assertExit(t, res, 1)
		assert.Check(t, is.Contains(res.Stderr(),
			"Error response from daemon: conflict: unable to delete "+short+" (must be forced) - image is referenced in multiple repositories"))
		if res.ExitCode == 0 {
			// It was deleted after all: put it back for the steps below.
			loadVariant(t, d, a, repo)
			d.Cmd(t, "tag", a, b).Assert(t, icmd.Success)
		}
		assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", a), id))
	})

	t.Run("rmi of one name untags", func(t *testing.T) {
		res := d.Cmd(t, "rmi", a)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(res.Stdout(), "Untagged: "+a+"\n"))
		assertExit(t, d.Cmd(t, "image", "inspect", a), 1)
		assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", b), id))
		assert.Check(t, is.Equal(inspect(t, d, "{{json .RepoTags}}", b), `["`+b+`"]`))
	})

	t.Run("rmi of the last name deletes", func(t *testing.T) {
		res := d.Cmd(t, "rmi", b)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Contains(res.Stdout(), "Untagged: "+b+"\n"))
		assert.Check(t, is.Contains(res.Stdout(), "Deleted: "+id+"\n"))
		assertExit(t, d.Cmd(t, "image", "inspect", id), 1)
		// busybox, which shares the layer, is untouched.
		d.Cmd(t, "run", "--rm", "busybox", "true").Assert(t, icmd.Success)
	})
}

// A name moved to another image leaves the old one dangling: docker images
// --filter dangling=true lists it, docker image prune -f removes it and
// leaves tagged images alone. --filter reference selects by name.
func TestImagePruneDangling(t *testing.T) {
	d := setup(t)
	repo := uniqueName(t)
	ref := repo + ":moved"
	loadVariant(t, d, ref, repo)
	removeImages(t, d, ref)
	danglingID := inspect(t, d, "{{.Id}}", ref)
	busyboxID := inspect(t, d, "{{.Id}}", "busybox:latest")
	assert.Assert(t, danglingID != busyboxID)

	d.Cmd(t, "tag", "busybox:latest", ref).Assert(t, icmd.Success)
	t.Cleanup(func() { d.Run("rmi", "-f", danglingID) })
	assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", ref), busyboxID))

	t.Run("filter dangling=true", func(t *testing.T) {
		res := d.Cmd(t, "images", "--no-trunc", "-q", "--filter", "dangling=true")
		res.Assert(t, icmd.Success)
		ids := lines(res.Stdout())
		assert.Check(t, is.Contains(ids, danglingID))
		assert.Check(t, !contains(ids, busyboxID), "tagged busybox listed as dangling: %v", ids)
		res = d.Cmd(t, "images", "--no-trunc", "--filter", "dangling=true", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Contains(lines(res.Stdout()), danglingID+" <none>:<none>"))
	})

	t.Run("filter reference", func(t *testing.T) {
		other := repo + ":other"
		d.Cmd(t, "tag", "busybox:latest", other).Assert(t, icmd.Success)
		removeImages(t, d, other)
		cases := []struct {
			filter string
			want   []string
		}{
			{filter: "reference=" + repo, want: []string{ref, other}},
			{filter: "reference=" + other, want: []string{other}},
			{filter: "reference=" + repo[:len(repo)-2] + "*", want: []string{ref, other}},
			{filter: "reference=" + repo + ":mov*", want: []string{ref}},
			{filter: "reference=nosuch-" + repo, want: nil},
			// The labelled image is dangling now: listed without a name.
			{filter: "label=hyperbox.test=" + repo, want: []string{"<none>:<none>"}},
			{filter: "label=hyperbox.test=nosuch", want: nil},
		}
		for _, tc := range cases {
			res := d.Cmd(t, "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", tc.filter)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.DeepEqual(sortedLines(res.Stdout()), tc.want), "filter %s", tc.filter)
		}
	})

	t.Run("prune", func(t *testing.T) {
		res := d.Cmd(t, "image", "prune", "-f")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Contains(res.Stdout(), "Deleted Images:\n"))
		assert.Check(t, is.Contains(res.Stdout(), "deleted: "+danglingID+"\n"))
		assert.Check(t, is.Regexp(`(?m)^Total reclaimed space: \S+$`, res.Stdout()))
		assertExit(t, d.Cmd(t, "image", "inspect", danglingID), 1)
		// Tagged images stay.
		assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", ref), busyboxID))
		assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", "busybox:latest"), busyboxID))
		res = d.Cmd(t, "images", "-q", "--filter", "dangling=true", "--no-trunc")
		res.Assert(t, icmd.Success)
		assert.Check(t, !contains(lines(res.Stdout()), danglingID))

		// Nothing left to prune.
		res = d.Cmd(t, "image", "prune", "-f")
		res.Assert(t, icmd.Success)
		assert.Check(t, !strings.Contains(res.Stdout(), danglingID), res.Stdout())
		assert.Check(t, is.Contains(res.Stdout(), "Total reclaimed space: 0B"))
	})
}

// busyboxRootfs returns the busybox image's single layer as an uncompressed
// tar: a root filesystem for docker import.
func busyboxRootfs(t *testing.T) []byte {
	t.Helper()
	layers, err := busybox.Image(t).Layers()
	assert.NilError(t, err)
	assert.Assert(t, is.Len(layers, 1))
	rc, err := layers[0].Uncompressed()
	assert.NilError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	assert.NilError(t, err)
	return b
}

// loadVariant loads a busybox variant labelled hyperbox.test=label (its own
// image ID, busybox's layer) under tag.
func loadVariant(t *testing.T, d *daemon.Daemon, tag, label string) {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "variant.tar")
	busybox.WriteDockerArchive(t, archive, tag, busybox.WithLabel("hyperbox.test", label))
	res := d.Cmd(t, "load", "-i", archive)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "Loaded image: "+tag))
}

// sortedLines returns the non-empty lines of s, sorted (nil when none).
func sortedLines(s string) []string {
	out := lines(s)
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
