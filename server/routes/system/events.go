package system

import (
	"context"
	"net/http"
	"time"

	"github.com/containerd/log"
	"github.com/moby/moby/api/types/events"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/router"
	"github.com/hyperbox/hyperbox/server/stream"
)

// EventsOptions are the query of GET /events, as sent; the backend parses
// and validates them.
type EventsOptions struct {
	// Since and Until are unix seconds with optional fractional
	// nanoseconds ("1717171717.123456789") or RFC 3339; empty is unset.
	Since, Until string
	// Filters is the decoded filters parameter.
	Filters map[string]map[string]bool
	// APIVersion is the version the request was made with: below 1.52
	// messages carry the legacy status/id/from fields.
	APIVersion string
}

// EventMessage is one event as sent to the client: moby's message and, for
// API < 1.52 and container or image events only, the legacy fields dockerd
// filled before 1.52 (status = Action, id = Actor.ID, from = the container's
// image). devcontainers waits for status == "start".
type EventMessage struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

// EventSubscription is a validated GET /events query whose subscription is
// already taken: Past then Live are every matching event, none missed or
// repeated between the two.
type EventSubscription struct {
	// Past are the recorded events the query selects (since..until),
	// oldest first.
	Past []EventMessage
	// Live yields matching events published from now on. It is nil when
	// until has already passed (the answer is Past alone) and is closed
	// when the daemon drops a subscriber that cannot keep up.
	Live <-chan EventMessage
	// Until ends the live stream; zero means it lasts until the client
	// hangs up.
	Until time.Time
	// Close ends the subscription and returns once nothing more is sent on
	// Live (the goroutine feeding it has ended).
	Close func()
}

// EventsBackend is what GET /events needs.
type EventsBackend interface {
	// SubscribeEvents validates opts and subscribes to the daemon's
	// events. It does not block. The caller must call Close on the
	// result. Errors: InvalidArgument (bad timestamp, until before since,
	// unknown filter key).
	SubscribeEvents(ctx context.Context, opts EventsOptions) (*EventSubscription, error)
}

func (s *systemRouter) eventsRoutes() []router.Route {
	return []router.Route{
		router.Get("/events", s.getEvents),
	}
}

// getEvents streams events as dockerd does: everything is validated before
// the 200 is sent; the headers are flushed at once (clients block on them),
// then one JSON object per line, flushed per event.
func (s *systemRouter) getEvents(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	f, err := httputil.ParseFilters(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	sub, err := s.b.SubscribeEvents(ctx, EventsOptions{
		Since:      r.Form.Get("since"),
		Until:      r.Form.Get("until"),
		Filters:    f,
		APIVersion: httputil.VersionFromContext(ctx),
	})
	if err != nil {
		return err
	}
	defer sub.Close()

	// dockerd answers application/x-ndjson (or what Accept asks for) from
	// API 1.52 on; application/json is what it sent before and what every
	// client's decoder reads, whatever the version.
	out := stream.NewJSONStream(w)
	for _, m := range sub.Past {
		if err := out.Send(m); err != nil {
			return nil
		}
	}
	if sub.Live == nil {
		return nil
	}
	var timeout <-chan time.Time
	if !sub.Until.IsZero() {
		t := time.NewTimer(time.Until(sub.Until))
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case m, ok := <-sub.Live:
			if !ok {
				log.G(ctx).Debug("events subscriber dropped: too slow")
				return nil
			}
			if err := out.Send(m); err != nil {
				return nil
			}
		case <-timeout:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
