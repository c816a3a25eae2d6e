package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"github.com/hyperbox/hyperbox/tests/testutil/registry"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// event is one line of `docker events --format '{{json .}}'`. The CLI
// negotiates API <= 1.50 with both targets, so the legacy status/id/from
// fields are there too.
type event struct {
	Status string `json:"status"`
	ID     string `json:"id"`
	From   string `json:"from"`
	Type   string
	Action string
	Actor  struct {
		ID         string
		Attributes map[string]string
	}
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// unixArg is the CLI's (and API's) timestamp form: seconds.nanoseconds.
func unixArg(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

// parseEvents decodes one JSON event per line.
func parseEvents(t *testing.T, out string) []event {
	t.Helper()
	evs := []event{}
	for _, l := range lines(out) {
		var ev event
		assert.NilError(t, json.Unmarshal([]byte(l), &ev), "line %q", l)
		evs = append(evs, ev)
	}
	return evs
}

// eventsBetween runs `docker events --since --until` with filters and
// returns what it printed; the CLI must end by itself.
func eventsBetween(t *testing.T, d *daemon.Daemon, since, until time.Time, filters ...string) []event {
	t.Helper()
	args := []string{"events", "--since", unixArg(since), "--until", unixArg(until), "--format", "{{json .}}"}
	for _, f := range filters {
		args = append(args, "--filter", f)
	}
	t.Logf("$ docker %s", strings.Join(args, " "))
	res := icmd.RunCmd(d.Command(args...), icmd.WithTimeout(30*time.Second))
	assertExit(t, res, 0)
	return parseEvents(t, res.Stdout())
}

// actionsOf lists the actions of the events whose actor is id ("" = all).
func actionsOf(evs []event, id string) []string {
	out := []string{}
	for _, ev := range evs {
		if id == "" || ev.Actor.ID == id {
			out = append(out, ev.Action)
		}
	}
	return out
}

// docker create/start/wait/rm, then docker events --since --until: the
// lifecycle in order, with labels, name and image in the attributes and
// exitCode on die; then the same window through the filters.
func TestEventsContainerLifecycle(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)

	t0 := time.Now()
	res := d.Cmd(t, "create", "--name", name, "--label", "hbx.events="+name, "--label", "hbx.other=1", "busybox", "sh", "-c", "exit 3")
	res.Assert(t, icmd.Success)
	id := strings.TrimSpace(res.Stdout())
	d.Cmd(t, "start", name).Assert(t, icmd.Success)
	res = d.Cmd(t, "wait", name)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), "3\n"))
	d.Cmd(t, "rm", name).Assert(t, icmd.Success)
	t1 := time.Now()
	want := []string{"create", "start", "die", "destroy"}

	t.Run("all", func(t *testing.T) {
		evs := eventsBetween(t, d, t0, t1)
		assert.Check(t, is.DeepEqual(actionsOf(evs, id), want))
		var last int64
		for _, ev := range evs {
			assert.Check(t, ev.TimeNano >= t0.UnixNano() && ev.TimeNano <= t1.UnixNano(), "%+v outside the window", ev)
			if ev.Actor.ID != id {
				continue
			}
			assert.Check(t, is.Equal(ev.Type, "container"))
			assert.Check(t, is.Equal(ev.Scope, "local"))
			assert.Check(t, is.Equal(ev.Time, ev.TimeNano/int64(time.Second)))
			assert.Check(t, ev.TimeNano >= last, "events out of order")
			last = ev.TimeNano
			assert.Check(t, is.Equal(ev.Actor.Attributes["name"], name))
			assert.Check(t, is.Equal(ev.Actor.Attributes["image"], "busybox"))
			assert.Check(t, is.Equal(ev.Actor.Attributes["hbx.events"], name))
			assert.Check(t, is.Equal(ev.Actor.Attributes["hbx.other"], "1"))
			// Legacy fields (API < 1.52): devcontainers waits for status "start".
			assert.Check(t, is.Equal(ev.Status, ev.Action))
			assert.Check(t, is.Equal(ev.ID, id))
			assert.Check(t, is.Equal(ev.From, "busybox"))
			if ev.Action == "die" {
				// compose parses it with strconv.Atoi.
				assert.Check(t, is.Equal(ev.Actor.Attributes["exitCode"], "3"))
			} else {
				_, ok := ev.Actor.Attributes["exitCode"]
				assert.Check(t, !ok, "exitCode on %s", ev.Action)
			}
		}
	})

	t.Run("event=die", func(t *testing.T) {
		evs := eventsBetween(t, d, t0, t1, "event=die")
		assert.Check(t, is.Len(actionsOf(evs, id), 1))
		for _, ev := range evs {
			assert.Check(t, is.Equal(ev.Action, "die"))
			if ev.Actor.ID == id {
				assert.Check(t, is.Equal(ev.Actor.Attributes["exitCode"], "3"))
			}
		}
	})

	t.Run("label=k=v", func(t *testing.T) {
		evs := eventsBetween(t, d, t0, t1, "label=hbx.events="+name)
		assert.Check(t, is.DeepEqual(actionsOf(evs, ""), want))
		assert.Check(t, is.DeepEqual(actionsOf(evs, id), want))
	})

	t.Run("label=k=other", func(t *testing.T) {
		evs := eventsBetween(t, d, t0, t1, "label=hbx.events="+name, "label=hbx.other=2")
		assert.Check(t, is.Len(evs, 0))
	})

	t.Run("container=name", func(t *testing.T) {
		evs := eventsBetween(t, d, t0, t1, "container="+name)
		assert.Check(t, is.DeepEqual(actionsOf(evs, ""), want))
		assert.Check(t, is.DeepEqual(actionsOf(evs, id), want))
	})

	t.Run("container=short ID", func(t *testing.T) {
		evs := eventsBetween(t, d, t0, t1, "container="+id[:12])
		assert.Check(t, is.DeepEqual(actionsOf(evs, ""), want))
	})

	t.Run("keys AND", func(t *testing.T) {
		evs := eventsBetween(t, d, t0, t1, "type=container", "event=start", "event=destroy", "container="+name)
		assert.Check(t, is.DeepEqual(actionsOf(evs, ""), []string{"start", "destroy"}))
	})

	t.Run("type=image", func(t *testing.T) {
		evs := eventsBetween(t, d, t0, t1, "type=image", "container="+name)
		assert.Check(t, is.Len(evs, 0))
	})
}

// docker tag then docker rmi of the new name: image events tag and untag
// with the image ID, tag naming the new reference.
func TestEventsImageTag(t *testing.T) {
	d := setup(t)
	ref := uniqueName(t) + ":v1"
	removeImages(t, d, ref)
	imageID := inspect(t, d, "{{.Id}}", "busybox")

	t0 := time.Now()
	d.Cmd(t, "tag", "busybox", ref).Assert(t, icmd.Success)
	d.Cmd(t, "rmi", ref).Assert(t, icmd.Success)
	t1 := time.Now()

	evs := eventsBetween(t, d, t0, t1, "type=image")
	assert.Check(t, is.DeepEqual(actionsOf(evs, ""), []string{"tag", "untag"}))
	if len(evs) != 2 {
		return
	}
	tag, untag := evs[0], evs[1]
	assert.Check(t, is.Equal(tag.Type, "image"))
	assert.Check(t, is.Equal(tag.Actor.ID, imageID))
	assert.Check(t, is.Equal(tag.Actor.Attributes["name"], ref))
	assert.Check(t, is.Equal(tag.Status, "tag"))
	assert.Check(t, is.Equal(tag.ID, imageID))
	assert.Check(t, is.Equal(tag.From, ""), "from is for container events only")
	assert.Check(t, is.Equal(untag.Actor.ID, imageID))
	// dockerd's graphdriver image store (20.10, and 28 by default) names
	// untag events after the image ID, its containerd store after the
	// reference; hyperboxd does the former.
	assert.Check(t, is.Equal(untag.Actor.Attributes["name"], imageID))

	// image= matches the image name without its tag.
	evs = eventsBetween(t, d, t0, t1, "image="+strings.TrimSuffix(ref, ":v1"))
	assert.Check(t, is.DeepEqual(actionsOf(evs, ""), []string{"tag"}))
}

// pull, push, save, rmi, load and import of a labelled image: the image
// events dockerd logs, with its IDs (the reference for pull and push, the
// image ID otherwise) and the image's labels.
func TestEventsImageOps(t *testing.T) {
	d := setup(t)
	reg := registry.Start(t)
	name := uniqueName(t)
	repo := reg.LocalhostHost() + "/e2e/" + name
	ref := repo + ":v1"
	imported := name + "-imp:v1"
	busybox.PushImage(t, busybox.Image(t, busybox.WithLabel("hbx.events", name)), ref)
	removeImages(t, d, ref, imported)
	archive := filepath.Join(t.TempDir(), "saved.tar")

	t0 := time.Now()
	d.Cmd(t, "pull", ref).Assert(t, icmd.Success)
	imageID := inspect(t, d, "{{.Id}}", ref)
	d.Cmd(t, "push", ref).Assert(t, icmd.Success)
	d.Cmd(t, "save", "-o", archive, ref).Assert(t, icmd.Success)
	d.Cmd(t, "rmi", ref).Assert(t, icmd.Success)
	d.Cmd(t, "load", "-i", archive).Assert(t, icmd.Success)
	res := d.CmdWithStdin(t, bytes.NewReader(busyboxRootfs(t)), "import", "-", imported)
	res.Assert(t, icmd.Success)
	importedID := strings.TrimSpace(res.Stdout())
	t1 := time.Now()

	type want struct{ Action, ID, Name string }
	wants := []want{
		{"pull", ref, repo},
		{"push", ref, repo},
		{"save", imageID, imageID},
		{"untag", imageID, imageID},
		{"delete", imageID, imageID},
		{"load", imageID, imageID},
		{"tag", importedID, imported},
		{"import", importedID, importedID},
	}
	evs := eventsBetween(t, d, t0, t1, "type=image")
	var got []want
	for _, ev := range evs {
		got = append(got, want{ev.Action, ev.Actor.ID, ev.Actor.Attributes["name"]})
		assert.Check(t, is.Equal(ev.Status, ev.Action))
		assert.Check(t, is.Equal(ev.ID, ev.Actor.ID))
		switch {
		case ev.Action == "delete":
			// The image is gone when delete is logged: no labels.
		case ev.Actor.ID == importedID:
			assert.Check(t, is.Equal(ev.Actor.Attributes["hbx.events"], ""))
		default:
			assert.Check(t, is.Equal(ev.Actor.Attributes["hbx.events"], name), "labels of %s", ev.Action)
		}
	}
	assert.Check(t, is.DeepEqual(got, wants))
}

// A streaming `docker events --filter container=X`, started before
// `docker run X`, sees X's create, start and die as they happen.
func TestEventsStream(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	marker := name + "-m"
	removeContainers(t, d, name, marker)
	res := d.Cmd(t, "create", "--name", marker, "busybox", "true")
	res.Assert(t, icmd.Success)
	markerID := strings.TrimSpace(res.Stdout())

	// The marker container is in the filter too: renaming it until its
	// rename event shows proves the stream is live before the run.
	stream := icmd.StartCmd(d.Command("events", "--format", "{{json .}}",
		"--filter", "container="+name, "--filter", "container="+markerID))
	assert.NilError(t, stream.Error)
	t.Cleanup(func() {
		if stream.Cmd.ProcessState == nil {
			_ = stream.Cmd.Process.Kill()
			_ = stream.Cmd.Wait()
		}
	})
	n := 0
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if strings.Contains(stream.Stdout(), `"Action":"rename"`) {
			return poll.Success()
		}
		n++
		if res := d.Run("rename", markerID, fmt.Sprintf("%s-%d", marker, n)); res.ExitCode != 0 {
			return poll.Error(fmt.Errorf("rename: %s", res.Combined()))
		}
		return poll.Continue("no rename event yet: %q %q", stream.Stdout(), stream.Stderr())
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(200*time.Millisecond))

	res = d.Cmd(t, "run", "--name", name, "busybox", "sh", "-c", "exit 7")
	assertExit(t, res, 7)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if !strings.Contains(stream.Stdout(), `"Action":"die"`) {
			return poll.Continue("no die event yet: %q", stream.Stdout())
		}
		return poll.Success()
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(100*time.Millisecond))

	assert.NilError(t, stream.Cmd.Process.Kill())
	icmd.WaitOnCmd(10*time.Second, stream)
	var got []string
	for _, ev := range parseEvents(t, stream.Stdout()) {
		if ev.Actor.ID == markerID {
			continue
		}
		assert.Check(t, is.Equal(ev.Actor.Attributes["name"], name))
		// docker run also attaches: keep the lifecycle actions.
		switch ev.Action {
		case "create", "start", "die":
			got = append(got, ev.Action)
		}
		if ev.Action == "die" {
			assert.Check(t, is.Equal(ev.Actor.Attributes["exitCode"], "7"))
		}
	}
	assert.Check(t, is.DeepEqual(got, []string{"create", "start", "die"}))
}

// --until in the future: the CLI gets the recorded events, then the stream
// stays open and ends by itself at until.
func TestEventsUntilFuture(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	t0 := time.Now()
	d.Cmd(t, "create", "--name", name, "busybox", "true").Assert(t, icmd.Success)

	until := time.Now().Add(2 * time.Second)
	start := time.Now()
	res := icmd.RunCmd(d.Command("events", "--since", unixArg(t0), "--until", unixArg(until),
		"--format", "{{.Action}} {{.Actor.Attributes.name}}", "--filter", "container="+name),
		icmd.WithTimeout(30*time.Second))
	elapsed := time.Since(start)
	assertExit(t, res, 0)
	assert.Check(t, is.Equal(res.Stdout(), "create "+name+"\n"))
	assert.Check(t, time.Now().After(until), "returned after %s, before until", elapsed)
	assert.Check(t, elapsed < 15*time.Second, "returned after %s", elapsed)
}
