package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// unixArg is the API's timestamp form: seconds.nanoseconds.
func unixArg(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

// eventsQuery builds /events?since&until&filters for the given API prefix.
func eventsQuery(prefix string, since, until time.Time, filters string) string {
	q := url.Values{}
	q.Set("since", unixArg(since))
	q.Set("until", unixArg(until))
	if filters != "" {
		q.Set("filters", filters)
	}
	return prefix + "/events?" + q.Encode()
}

// rawEvents decodes a finished events body into generic objects, so that
// the presence of each field can be checked.
func rawEvents(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	out := []map[string]any{}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	for dec.More() {
		var m map[string]any
		assert.NilError(t, dec.Decode(&m))
		out = append(out, m)
	}
	return out
}

// The legacy status/id/from fields are sent below API 1.52 (devcontainers
// waits for status == "start") and not from 1.52 on.
func TestEventsLegacyFields(t *testing.T) {
	e := setup(t)
	maxVersion, _ := e.apiVersions(t)
	t0 := time.Now()
	id := e.create(t, container.Config{Cmd: []string{"true"}, Labels: map[string]string{"hbx.t": "legacy"}}, nil)
	e.start(t, id)
	wait := e.c.ContainerWait(e.ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-wait.Result:
	case err := <-wait.Error:
		assert.NilError(t, err)
	}
	t1 := time.Now()
	filters := fmt.Sprintf(`{"container":{%q:true}}`, id)

	t.Run("v1.41", func(t *testing.T) {
		r := e.do(t, http.MethodGet, eventsQuery("/v1.41", t0, t1, filters), nil)
		assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
		assert.Check(t, is.Equal(r.Header.Get("Content-Type"), "application/json"))
		evs := rawEvents(t, r.body)
		var actions []string
		for _, ev := range evs {
			actions = append(actions, ev["Action"].(string))
			assert.Check(t, is.Equal(ev["status"], ev["Action"]))
			assert.Check(t, is.Equal(ev["id"], id))
			assert.Check(t, is.Equal(ev["from"], "busybox"))
			assert.Check(t, is.Equal(ev["scope"], "local"))
		}
		assert.Check(t, is.DeepEqual(actions, []string{"create", "start", "die"}))
	})

	t.Run("current", func(t *testing.T) {
		// dockerd 20.10 serves up to API 1.41 only: there every version
		// has the legacy fields.
		if parseVersion(t, maxVersion).less(apiVersion{1, 52}) {
			t.Skipf("server API %s < 1.52", maxVersion)
		}
		r := e.do(t, http.MethodGet, eventsQuery("/v"+maxVersion, t0, t1, filters), nil)
		assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
		evs := rawEvents(t, r.body)
		assert.Check(t, is.Len(evs, 3))
		for _, ev := range evs {
			for _, k := range []string{"status", "id", "from"} {
				_, ok := ev[k]
				assert.Check(t, !ok, "%s in %v", k, ev)
			}
			assert.Check(t, is.Equal(ev["Type"], "container"))
			actor := ev["Actor"].(map[string]any)
			assert.Check(t, is.Equal(actor["ID"], id))
			assert.Check(t, is.Equal(actor["Attributes"].(map[string]any)["hbx.t"], "legacy"))
		}
	})
}

// GET /events sends its 200 and headers at once, before any event, then
// each event as it happens.
func TestEventsHeadersFlushed(t *testing.T) {
	e := setup(t)
	name := uniqueName(t)
	c := e.dial(t)
	filters := url.QueryEscape(fmt.Sprintf(`{"container":[%q],"type":["container"]}`, name))
	req := c.send(t, http.MethodGet, "/v1.41/events?filters="+filters)
	resp := c.readHeaders(t, req, 5*time.Second)
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusOK))
	assert.Check(t, is.Equal(resp.Header.Get("Content-Type"), "application/json"))

	res, err := e.c.ContainerCreate(e.ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: "busybox", Cmd: []string{"true"}}, Name: name,
	})
	assert.NilError(t, err)
	t.Cleanup(func() {
		_, _ = e.c.ContainerRemove(e.ctx, res.ID, client.ContainerRemoveOptions{Force: true})
	})
	assert.NilError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	assert.NilError(t, err, "no event within 10s")
	var ev events.Message
	assert.NilError(t, json.Unmarshal(line, &ev), "line %q", line)
	assert.Check(t, is.Equal(ev.Action, events.ActionCreate))
	assert.Check(t, is.Equal(ev.Actor.ID, res.ID))
	assert.Check(t, is.Equal(ev.Actor.Attributes["name"], name))
}

// The Go client's Events with since/until and filters in both encodings.
func TestEventsClient(t *testing.T) {
	e := setup(t)
	t0 := time.Now()
	id := e.create(t, container.Config{Cmd: []string{"true"}}, nil)
	t1 := time.Now()

	res := e.c.Events(e.ctx, client.EventsListOptions{
		Since: unixArg(t0), Until: unixArg(t1),
		Filters: make(client.Filters).Add("type", "container").Add("container", id),
	})
	var got []events.Message
	for done := false; !done; {
		select {
		case m := <-res.Messages:
			got = append(got, m)
		case err := <-res.Err:
			assert.Check(t, err == nil || errors.Is(err, io.EOF), "%v", err)
			done = true
		}
	}
	assert.Assert(t, is.Len(got, 1))
	assert.Check(t, is.Equal(got[0].Action, events.ActionCreate))
	assert.Check(t, is.Equal(got[0].Actor.ID, id))
	assert.Check(t, got[0].TimeNano >= t0.UnixNano() && got[0].TimeNano <= t1.UnixNano())

	// The legacy filters encoding (dockerode, testcontainers-node).
	r := e.do(t, http.MethodGet, eventsQuery("", t0, t1, fmt.Sprintf(`{"type":["container"],"container":[%q],"event":["create"]}`, id)), nil)
	assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
	assert.Check(t, is.Len(rawEvents(t, r.body), 1))
}

// Bad queries are refused before the stream starts.
func TestEventsInvalid(t *testing.T) {
	e := setup(t)
	now := time.Now()
	cases := []struct {
		name    string
		query   string
		message string
		// oracle is dockerd 20.10's status where it differs.
		oracle int
	}{
		{
			name: "unknown filter key", query: eventsQuery("", now, now, `{"bogus":["x"]}`),
			message: "invalid filter 'bogus'",
			// dockerd ignores unknown keys (and so streams everything);
			// hyperboxd refuses them as its other filters do.
			oracle: http.StatusOK,
		},
		{
			name: "until before since", query: eventsQuery("", now, now.Add(-time.Hour), ""),
			message: fmt.Sprintf("`since` time (%s) cannot be after `until` time (%s)", unixArg(now), unixArg(now.Add(-time.Hour))),
		},
		{
			name: "bad since", query: "/events?since=yesterday&until=" + unixArg(now),
			message: "invalid value for 'since': ",
			// dockerd 20.10 returns the bare parse error as a 500.
			oracle: http.StatusInternalServerError,
		},
		{
			name: "unparseable filters", query: eventsQuery("", now, now, `{"type":`),
			message: "invalid filter",
			oracle:  http.StatusInternalServerError,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodGet, tc.query, nil)
			if daemon.IsOracle() && tc.oracle != 0 && r.StatusCode == tc.oracle {
				return
			}
			assert.Check(t, is.Equal(r.StatusCode, http.StatusBadRequest))
			assert.Check(t, is.Equal(r.Header.Get("Content-Type"), "application/json"))
			assert.Check(t, is.Contains(r.message(t), tc.message))
		})
	}
}
