package engine

import (
	"context"
	"maps"

	"github.com/hyperbox/hyperbox/engine/events"
	"github.com/hyperbox/hyperbox/engine/volume"
)

// VolumeCreate creates a local volume (named when name is empty) or, when
// one by that name exists, returns it unchanged. A new volume gets a
// "create" event. Errors: InvalidArgument (name), NotImplemented (driver
// options).
func (e *Engine) VolumeCreate(ctx context.Context, name string, opts volume.CreateOptions) (volume.Volume, error) {
	v, created, err := e.vols.Create(name, opts, "")
	if err != nil {
		return volume.Volume{}, err
	}
	if created {
		e.volumeEvent("create", v.Name, nil)
	}
	return v, nil
}

// Volume returns volume name. Errors: NotFound.
func (e *Engine) Volume(ctx context.Context, name string) (volume.Volume, error) {
	return e.vols.Get(name)
}

// Volumes returns every volume, by name.
func (e *Engine) Volumes(ctx context.Context) []volume.Volume {
	return e.vols.List()
}

// VolumeUsers returns the IDs of the containers that use volume name
// (running or not), sorted; a volume with none is dangling.
func (e *Engine) VolumeUsers(name string) []string {
	return e.vols.Refs(name)
}

// VolumeSize is the bytes in volume name's data directory. It walks the
// whole directory. Errors: NotFound.
func (e *Engine) VolumeSize(ctx context.Context, name string) (int64, error) {
	return e.vols.Size(name)
}

// VolumeRemove deletes volume name and its data, with a "destroy" event.
// Errors: NotFound, Conflict (*volume.InUseError: containers use it).
func (e *Engine) VolumeRemove(ctx context.Context, name string) error {
	if err := e.vols.Remove(name); err != nil {
		return err
	}
	e.volumeEvent("destroy", name, nil)
	return nil
}

// volumeEvent publishes a volume event with the driver attribute, as
// dockerd's volume store does.
func (e *Engine) volumeEvent(action, name string, extra map[string]string) {
	attrs := map[string]string{"driver": volume.DriverName}
	maps.Copy(attrs, extra)
	e.bus.Publish(events.Event{Type: "volume", Action: action, ID: name, Attributes: attrs})
}
