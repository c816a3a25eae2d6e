package engine

import (
	"maps"

	"github.com/hyperbox/hyperbox/engine/events"
)

// Events is the daemon's event bus (containers publish here; compat adds
// image events).
func (e *Engine) Events() *events.Bus { return e.bus }

// emit publishes a container event with Docker's attributes: every label,
// plus name and image, plus extra.
func (e *Engine) emit(rec *Container, action string, extra map[string]string) {
	attrs := make(map[string]string, len(rec.Spec.Labels)+2+len(extra))
	maps.Copy(attrs, rec.Spec.Labels)
	attrs["name"] = rec.Name
	attrs["image"] = rec.Spec.ImageName
	if attrs["image"] == "" {
		attrs["image"] = rec.ImageID
	}
	maps.Copy(attrs, extra)
	e.bus.Publish(events.Event{Type: "container", Action: action, ID: rec.ID, Attributes: attrs})
}
