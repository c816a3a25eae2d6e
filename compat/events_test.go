package compat

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	bus "github.com/hyperbox/hyperbox/engine/events"
	"github.com/hyperbox/hyperbox/server/routes/system"
)

const cid = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"

// Events the filter tests run against.
var (
	evCreate = events.Message{Type: "container", Action: "create", Scope: "local", Actor: events.Actor{ID: cid,
		Attributes: map[string]string{"name": "web-1", "image": "busybox", "com.docker.compose.project": "p", "tier": "front"}}}
	evDie = events.Message{Type: "container", Action: "die", Scope: "local", Actor: events.Actor{ID: cid,
		Attributes: map[string]string{"name": "web-1", "image": "busybox:1.36", "exitCode": "3"}}}
	evExec = events.Message{Type: "container", Action: "exec_start: sh -c ls", Scope: "local", Actor: events.Actor{ID: cid,
		Attributes: map[string]string{"name": "web-1", "image": "busybox", "execID": "x"}}}
	evHealth = events.Message{Type: "container", Action: "health_status: healthy", Scope: "local", Actor: events.Actor{ID: cid,
		Attributes: map[string]string{"name": "web-1", "image": "busybox"}}}
	evTag = events.Message{Type: "image", Action: "tag", Scope: "local", Actor: events.Actor{ID: "sha256:" + sixtyFour,
		Attributes: map[string]string{"name": "myrepo/app:v1"}}}
	evPull = events.Message{Type: "image", Action: "pull", Scope: "local", Actor: events.Actor{ID: "busybox:latest",
		Attributes: map[string]string{"name": "busybox"}}}
	evNet = events.Message{Type: "network", Action: "connect", Scope: "local", Actor: events.Actor{ID: "0123456789ab",
		Attributes: map[string]string{"name": "backend", "container": cid, "type": "bridge"}}}
	evVol = events.Message{Type: "volume", Action: "create", Scope: "local", Actor: events.Actor{ID: "data",
		Attributes: map[string]string{"driver": "local"}}}
	evDaemon = events.Message{Type: "daemon", Action: "reload", Scope: "local", Actor: events.Actor{ID: "ABCD:EFGH",
		Attributes: map[string]string{"name": "host1"}}}
)

var allEvents = []events.Message{evCreate, evDie, evExec, evHealth, evTag, evPull, evNet, evVol, evDaemon}

func TestEventFilter(t *testing.T) {
	t.Parallel()
	f := func(kv ...string) map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for _, s := range kv {
			k, v, _ := strings.Cut(s, "=")
			if m[k] == nil {
				m[k] = map[string]bool{}
			}
			m[k][v] = true
		}
		return m
	}
	tests := []struct {
		name    string
		filters map[string]map[string]bool
		want    []events.Message
	}{
		{name: "none", filters: nil, want: allEvents},
		{name: "type", filters: f("type=image"), want: []events.Message{evTag, evPull}},
		{name: "types OR", filters: f("type=network", "type=volume"), want: []events.Message{evNet, evVol}},
		{name: "event exact", filters: f("event=die"), want: []events.Message{evDie}},
		{name: "event exact misses exec prefix", filters: f("event=exec_start: sh"), want: nil},
		{name: "event exec_start prefix", filters: f("event=exec_start"), want: []events.Message{evExec}},
		{name: "event health_status prefix", filters: f("event=health_status"), want: []events.Message{evHealth}},
		{name: "event full health", filters: f("event=health_status: healthy"), want: []events.Message{evHealth}},
		{name: "events OR", filters: f("event=create", "event=die"), want: []events.Message{evCreate, evDie, evVol}},
		// dockerd: once a fuzzy value is present every value matches by prefix.
		{name: "fuzzy makes all prefix", filters: f("event=exec_start", "event=cr"), want: []events.Message{evCreate, evExec, evVol}},
		{name: "container by ID", filters: f("type=container", "container="+cid), want: []events.Message{evCreate, evDie, evExec, evHealth}},
		{name: "container by ID prefix", filters: f("type=container", "container="+cid[:12]), want: []events.Message{evCreate, evDie, evExec, evHealth}},
		{name: "container by name", filters: f("container=web-1", "event=die"), want: []events.Message{evDie}},
		{name: "container by /name", filters: f("container=/web-1", "event=die"), want: []events.Message{evDie}},
		{name: "container other", filters: f("container=db"), want: nil},
		{name: "label key", filters: f("label=com.docker.compose.project"), want: []events.Message{evCreate}},
		{name: "label key=value", filters: f("label=tier=front"), want: []events.Message{evCreate}},
		{name: "label wrong value", filters: f("label=tier=back"), want: nil},
		{name: "labels AND", filters: f("label=tier=front", "label=com.docker.compose.project=q"), want: nil},
		{name: "labels AND both", filters: f("label=tier=front", "label=com.docker.compose.project=p"), want: []events.Message{evCreate}},
		{name: "label exitCode attribute", filters: f("label=exitCode=3"), want: []events.Message{evDie}},
		{name: "image by name", filters: f("image=busybox"), want: []events.Message{evCreate, evDie, evExec, evHealth, evPull}},
		{name: "image by tagged name", filters: f("image=busybox:1.36"), want: []events.Message{evDie}},
		{name: "image event by tag name", filters: f("image=myrepo/app"), want: []events.Message{evTag}},
		{name: "image event by ID", filters: f("image=sha256:" + sixtyFour), want: []events.Message{evTag}},
		{name: "network by name", filters: f("network=backend"), want: []events.Message{evNet}},
		{name: "network by ID prefix", filters: f("network=0123"), want: []events.Message{evNet}},
		{name: "volume", filters: f("volume=data"), want: []events.Message{evVol}},
		{name: "daemon by name", filters: f("daemon=host1"), want: []events.Message{evDaemon}},
		{name: "scope local", filters: f("scope=local"), want: allEvents},
		{name: "scope swarm", filters: f("scope=swarm"), want: nil},
		{name: "secret matches nothing here", filters: f("secret=s1"), want: nil},
		{name: "keys AND", filters: f("type=container", "event=die", "container=web-1", "label=exitCode"), want: []events.Message{evDie}},
		{name: "false values ignored", filters: map[string]map[string]bool{"type": {"image": false}}, want: allEvents},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ef, err := newEventFilter(tc.filters)
			assert.NilError(t, err)
			var got []events.Message
			for _, ev := range allEvents {
				if ef.include(ev) {
					got = append(got, ev)
				}
			}
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

func TestEventFilterInvalidKey(t *testing.T) {
	t.Parallel()
	_, err := newEventFilter(map[string]map[string]bool{"type": {"container": true}, "bogus": {"x": true}})
	assert.Assert(t, errdefs.IsInvalidArgument(err))
	assert.Error(t, err, "invalid filter 'bogus'")
}

func TestEventWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		since, until string
		wantSince    time.Time
		wantUntil    time.Time
		wantErr      string
	}{
		{name: "none"},
		{name: "since", since: "1717171717.5", wantSince: time.Unix(1717171717, 500000000)},
		{name: "since 0 is the epoch", since: "0", wantSince: time.Unix(0, 0)},
		{name: "both", since: "100", until: "200", wantSince: time.Unix(100, 0), wantUntil: time.Unix(200, 0)},
		{name: "equal", since: "100", until: "100", wantSince: time.Unix(100, 0), wantUntil: time.Unix(100, 0)},
		{name: "RFC 3339", since: "2024-06-01T00:00:00Z", wantSince: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)},
		{name: "until before since", since: "200", until: "100", wantErr: "`since` time (200) cannot be after `until` time (100)"},
		{name: "bad since", since: "yesterday", wantErr: "invalid value for 'since': "},
		{name: "bad until", until: "x", wantErr: "invalid value for 'until': "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			since, until, err := eventWindow(tc.since, tc.until)
			if tc.wantErr != "" {
				assert.Assert(t, errdefs.IsInvalidArgument(err))
				assert.Check(t, is.Contains(err.Error(), tc.wantErr))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, since.Equal(tc.wantSince), "since %v", since)
			assert.Check(t, until.Equal(tc.wantUntil), "until %v", until)
		})
	}
}

func TestEventMessage(t *testing.T) {
	t.Parallel()
	at := time.Unix(1717171717, 123456789)
	ctr := bus.Event{Type: "container", Action: "start", ID: cid, Time: at,
		Attributes: map[string]string{"name": "web-1", "image": "busybox", "a": "b"}}
	img := bus.Event{Type: "image", Action: "tag", ID: "sha256:" + sixtyFour, Time: at,
		Attributes: map[string]string{"name": "app:v1"}}
	vol := bus.Event{Type: "volume", Action: "create", ID: "data", Time: at}
	tests := []struct {
		name   string
		ev     bus.Event
		legacy bool
		want   string
	}{
		{name: "container current", ev: ctr,
			want: `{"Type":"container","Action":"start","Actor":{"ID":"` + cid + `","Attributes":{"a":"b","image":"busybox","name":"web-1"}},"scope":"local","time":1717171717,"timeNano":1717171717123456789}`},
		{name: "container legacy", ev: ctr, legacy: true,
			want: `{"status":"start","id":"` + cid + `","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"` + cid + `","Attributes":{"a":"b","image":"busybox","name":"web-1"}},"scope":"local","time":1717171717,"timeNano":1717171717123456789}`},
		{name: "image legacy has no from", ev: img, legacy: true,
			want: `{"status":"tag","id":"sha256:` + sixtyFour + `","Type":"image","Action":"tag","Actor":{"ID":"sha256:` + sixtyFour + `","Attributes":{"name":"app:v1"}},"scope":"local","time":1717171717,"timeNano":1717171717123456789}`},
		{name: "volume legacy has no legacy fields", ev: vol, legacy: true,
			want: `{"Type":"volume","Action":"create","Actor":{"ID":"data","Attributes":{}},"scope":"local","time":1717171717,"timeNano":1717171717123456789}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(eventMessage(tc.ev, tc.legacy))
			assert.NilError(t, err)
			assert.Equal(t, string(b), tc.want)
		})
	}
}

// actions lists the actions of messages.
func actions(ms []system.EventMessage) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, string(m.Action))
	}
	return out
}

// recv reads one message from the live channel or fails after a second.
func recv(t *testing.T, ch <-chan system.EventMessage) system.EventMessage {
	t.Helper()
	select {
	case m, ok := <-ch:
		assert.Assert(t, ok, "live channel closed")
		return m
	case <-time.After(time.Second):
		t.Fatal("no live event within 1s")
	}
	return system.EventMessage{}
}

func TestSubscribeEvents(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	publish := func(b *bus.Bus, action string, sec int64) {
		b.Publish(bus.Event{Type: "container", Action: action, ID: cid, Time: time.Unix(sec, 0),
			Attributes: map[string]string{"name": "web-1", "image": "busybox"}})
	}
	newBus := func() *bus.Bus {
		b := bus.New()
		publish(b, "create", 1001)
		publish(b, "start", 1002)
		publish(b, "die", 1003)
		return b
	}

	t.Run("no since: live only", func(t *testing.T) {
		t.Parallel()
		b := newBus()
		sub, err := subscribeEvents(b, system.EventsOptions{}, t0)
		assert.NilError(t, err)
		defer sub.Close()
		assert.Check(t, is.Len(sub.Past, 0))
		publish(b, "destroy", 1004)
		assert.Check(t, is.Equal(string(recv(t, sub.Live).Action), "destroy"))
	})

	t.Run("until passed: past only", func(t *testing.T) {
		t.Parallel()
		b := newBus()
		sub, err := subscribeEvents(b, system.EventsOptions{Since: "1001", Until: "1002"}, time.Unix(2000, 0))
		assert.NilError(t, err)
		defer sub.Close()
		assert.Check(t, is.DeepEqual(actions(sub.Past), []string{"create", "start"}))
		assert.Check(t, sub.Live == nil)
		assert.Check(t, is.Equal(b.Subscribers(), 0), "the subscription is released at once")
	})

	t.Run("only until replays everything before it", func(t *testing.T) {
		t.Parallel()
		sub, err := subscribeEvents(newBus(), system.EventsOptions{Until: "1002"}, time.Unix(2000, 0))
		assert.NilError(t, err)
		defer sub.Close()
		assert.Check(t, is.DeepEqual(actions(sub.Past), []string{"create", "start"}))
	})

	t.Run("future until: past then live", func(t *testing.T) {
		t.Parallel()
		b := newBus()
		sub, err := subscribeEvents(b, system.EventsOptions{Since: "1002", Until: "1010", APIVersion: "1.41"}, time.Unix(1005, 0))
		assert.NilError(t, err)
		defer sub.Close()
		assert.Check(t, is.DeepEqual(actions(sub.Past), []string{"start", "die"}))
		assert.Check(t, is.Equal(sub.Past[0].Status, "start"), "legacy fields below 1.52")
		assert.Check(t, sub.Until.Equal(time.Unix(1010, 0)))
		publish(b, "destroy", 1006)
		publish(b, "late", 1011) // after until: never sent
		publish(b, "create", 1007)
		assert.Check(t, is.Equal(string(recv(t, sub.Live).Action), "destroy"))
		assert.Check(t, is.Equal(string(recv(t, sub.Live).Action), "create"))
	})

	t.Run("filters apply to past and live", func(t *testing.T) {
		t.Parallel()
		b := newBus()
		sub, err := subscribeEvents(b, system.EventsOptions{Since: "0", Filters: map[string]map[string]bool{"event": {"die": true}}, APIVersion: "1.56"}, t0)
		assert.NilError(t, err)
		defer sub.Close()
		assert.Check(t, is.DeepEqual(actions(sub.Past), []string{"die"}))
		assert.Check(t, is.Equal(sub.Past[0].Status, ""), "no legacy fields from 1.52")
		publish(b, "start", 1004)
		publish(b, "die", 1005)
		assert.Check(t, is.Equal(recv(t, sub.Live).TimeNano, time.Unix(1005, 0).UnixNano()))
	})

	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		b := newBus()
		for _, opts := range []system.EventsOptions{
			{Since: "10", Until: "5"},
			{Since: "soon"},
			{Filters: map[string]map[string]bool{"nope": {"x": true}}},
		} {
			_, err := subscribeEvents(b, opts, t0)
			assert.Check(t, errdefs.IsInvalidArgument(err), "%+v: %v", opts, err)
		}
		assert.Check(t, is.Equal(b.Subscribers(), 0), "no subscription left behind")
	})

	t.Run("close while the reader is gone", func(t *testing.T) {
		t.Parallel()
		b := newBus()
		sub, err := subscribeEvents(b, system.EventsOptions{}, t0)
		assert.NilError(t, err)
		publish(b, "start", 1004) // the feeder blocks handing this over
		time.Sleep(10 * time.Millisecond)
		sub.Close()
		sub.Close()
		assert.Check(t, is.Equal(b.Subscribers(), 0))
		_, ok := <-sub.Live
		assert.Check(t, !ok, "Live is closed once Close returns")
	})
}
