package compat

import (
	"context"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"

	bus "github.com/hyperbox/hyperbox/engine/events"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/routes/system"
)

// SubscribeEvents answers GET /events. The query is validated first; then
// the recorded events and the live subscription are taken from the bus in
// one step, so nothing published in between is lost or sent twice.
func (d *Daemon) SubscribeEvents(ctx context.Context, opts system.EventsOptions) (*system.EventSubscription, error) {
	return subscribeEvents(d.engine.Events(), opts, time.Now())
}

// subscribeEvents is SubscribeEvents on bus b at time now.
func subscribeEvents(b *bus.Bus, opts system.EventsOptions, now time.Time) (*system.EventSubscription, error) {
	since, until, err := eventWindow(opts.Since, opts.Until)
	if err != nil {
		return nil, err
	}
	f, err := newEventFilter(opts.Filters)
	if err != nil {
		return nil, err
	}
	// API < 1.52: dockerd still sends the legacy status/id/from fields.
	legacy := opts.APIVersion != "" && middleware.CompareVersions(opts.APIVersion, "1.52") < 0
	from := since
	if from.IsZero() && !until.IsZero() {
		// dockerd replays its whole buffer up to until when only until is
		// given.
		from = time.Unix(0, 0)
	}
	past, ch, cancel := b.Subscribe(from)
	sub := &system.EventSubscription{Past: []system.EventMessage{}, Until: until}
	for _, ev := range past {
		if !until.IsZero() && ev.Time.After(until) {
			continue
		}
		if m := eventMessage(ev, legacy); f.include(m.Message) {
			sub.Past = append(sub.Past, m)
		}
	}
	if !until.IsZero() && until.Before(now) {
		// until has passed: the answer is the recorded events alone.
		cancel()
		sub.Close = func() {}
		return sub, nil
	}
	live := make(chan system.EventMessage)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer close(live)
		// The bus closes ch when the subscription is cancelled or the
		// subscriber fell too far behind.
		for ev := range ch {
			if !until.IsZero() && ev.Time.After(until) {
				continue
			}
			m := eventMessage(ev, legacy)
			if !f.include(m.Message) {
				continue
			}
			select {
			case live <- m:
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	sub.Live = live
	sub.Close = func() {
		once.Do(func() {
			close(done)
			cancel()
			<-finished
		})
	}
	return sub, nil
}

// eventWindow parses since and until and checks their order, with
// dockerd's wording. An explicit "0" is the epoch (replay everything), not
// unset.
func eventWindow(sinceS, untilS string) (since, until time.Time, err error) {
	parse := func(key, s string) (time.Time, error) {
		t, err := parseTimestamp(s)
		if err != nil {
			return t, wrapMessage(err, "invalid value for '"+key+"': ")
		}
		if t.IsZero() && s != "" {
			t = time.Unix(0, 0)
		}
		return t, nil
	}
	if since, err = parse("since", sinceS); err != nil {
		return since, until, err
	}
	if until, err = parse("until", untilS); err != nil {
		return since, until, err
	}
	if !until.IsZero() && until.Before(since) {
		return since, until, invalid("`since` time (%s) cannot be after `until` time (%s)", sinceS, untilS)
	}
	return since, until, nil
}

// eventMessage converts a bus event to what GET /events sends; legacy adds
// the fields dockerd filled before API 1.52, for container and image
// events only (moby's backFillLegacy).
func eventMessage(ev bus.Event, legacy bool) system.EventMessage {
	m := system.EventMessage{Message: events.Message{
		Type:     events.Type(ev.Type),
		Action:   events.Action(ev.Action),
		Actor:    events.Actor{ID: ev.ID, Attributes: ev.Attributes},
		Scope:    "local",
		Time:     ev.Time.Unix(),
		TimeNano: ev.Time.UnixNano(),
	}}
	if m.Actor.Attributes == nil {
		m.Actor.Attributes = map[string]string{}
	}
	if !legacy {
		return m
	}
	switch m.Type {
	case events.ContainerEventType:
		m.Status, m.ID, m.From = ev.Action, ev.ID, ev.Attributes["image"]
	case events.ImageEventType:
		m.Status, m.ID = ev.Action, ev.ID
	}
	return m
}

// eventFilterKeys are the filter keys dockerd's events filter knows
// (daemon/events/filter.go). dockerd ignores other keys; hyperboxd refuses
// them (400) rather than silently streaming everything.
var eventFilterKeys = map[string]bool{
	"config": true, "container": true, "daemon": true, "event": true, "image": true,
	"label": true, "network": true, "node": true, "plugin": true, "scope": true,
	"secret": true, "service": true, "type": true, "volume": true,
}

// fuzzyEvents are the event filter values that match by prefix
// ("exec_start" matches "exec_start: sh -c ls"); dockerd then matches every
// event value by prefix (moby#25798).
var fuzzyEvents = map[string]bool{"health_status": true, "exec_create": true, "exec_start": true}

// eventFilter is a validated events filter: key -> values. Different keys
// AND, values of one key OR, except label where every value must match.
type eventFilter map[string]map[string]bool

// newEventFilter validates the keys and drops values sent as false.
func newEventFilter(in map[string]map[string]bool) (eventFilter, error) {
	f := eventFilter{}
	for k, vs := range in {
		if !eventFilterKeys[k] {
			return nil, invalid("invalid filter '%s'", k)
		}
		for v, ok := range vs {
			if !ok {
				continue
			}
			if k == "container" {
				// Container names are also written "/name".
				v = strings.TrimPrefix(v, "/")
			}
			if f[k] == nil {
				f[k] = map[string]bool{}
			}
			f[k][v] = true
		}
	}
	return f, nil
}

// include reports whether m passes every filter (dockerd's Filter.Include).
func (f eventFilter) include(m events.Message) bool {
	return f.matchEvent(string(m.Action)) &&
		f.exact("type", string(m.Type)) &&
		f.exact("scope", m.Scope) &&
		f.matchImage(m) &&
		f.matchLabels(m.Actor.Attributes) &&
		f.matchName("container", m) && f.matchName("daemon", m) &&
		f.matchName("network", m) && f.matchName("volume", m) &&
		f.matchName("plugin", m) && f.matchName("config", m) &&
		f.matchName("secret", m) && f.matchName("node", m) &&
		f.matchName("service", m)
}

// exact: no values, or s is one of them.
func (f eventFilter) exact(key, s string) bool {
	return len(f[key]) == 0 || f[key][s]
}

// prefix: no values, or s starts with one of them.
func (f eventFilter) prefix(key, s string) bool {
	if len(f[key]) == 0 {
		return true
	}
	for v := range f[key] {
		if strings.HasPrefix(s, v) {
			return true
		}
	}
	return false
}

func (f eventFilter) matchEvent(action string) bool {
	for v := range f["event"] {
		if fuzzyEvents[v] {
			return f.prefix("event", action)
		}
	}
	return f.exact("event", action)
}

// matchName matches the actor's ID or name attribute by prefix. As in
// dockerd the object filters (container, network, volume, ...) do not look
// at the event type: combine them with type= to narrow it.
func (f eventFilter) matchName(key string, m events.Message) bool {
	return f.prefix(key, m.Actor.ID) || f.prefix(key, m.Actor.Attributes["name"])
}

// matchImage matches the actor ID and the image name (attribute image for
// container events, name for image events), each also without its tag.
func (f eventFilter) matchImage(m events.Message) bool {
	if len(f["image"]) == 0 {
		return true
	}
	attr := "image"
	if m.Type == events.ImageEventType {
		attr = "name"
	}
	name := m.Actor.Attributes[attr]
	return f["image"][m.Actor.ID] || f["image"][name] ||
		f["image"][stripTag(m.Actor.ID)] || f["image"][stripTag(name)]
}

func stripTag(s string) string {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return reference.FamiliarName(named)
}

// matchLabels: every label filter ("k" or "k=v") must match an attribute.
func (f eventFilter) matchLabels(attrs map[string]string) bool {
	for v := range f["label"] {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := attrs[k]
		if !ok || hasValue && got != want {
			return false
		}
	}
	return true
}

// imageEvent publishes an image event as dockerd's image service does: the
// image's labels (when it still exists) plus name.
func (d *Daemon) imageEvent(action, id, name string, labels map[string]string) {
	attrs := make(map[string]string, len(labels)+1)
	maps.Copy(attrs, labels)
	if name != "" {
		attrs["name"] = name
	}
	d.engine.Events().Publish(bus.Event{Type: string(events.ImageEventType), Action: action, ID: id, Attributes: attrs})
}
