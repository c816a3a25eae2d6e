package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/hyperbox/hyperbox/storage"
)

// Create records a new container and prepares its root filesystem snapshot
// and OCI spec in containerd. It returns the container and any warnings.
// Errors: NotFound (image), Conflict (name), InvalidArgument.
func (e *Engine) Create(ctx context.Context, spec ContainerSpec, meta map[string][]byte) (Container, []string, error) {
	img, err := e.opts.Store.Get(ctx, spec.Image)
	if err != nil {
		return Container{}, nil, err
	}
	return e.CreateFrom(ctx, img, spec, func(string) map[string][]byte { return meta })
}

// CreateFrom is Create for an image the caller has already looked up
// (spec.Image names it); meta is asked for the upper layer's data once
// the container's ID is known.
func (e *Engine) CreateFrom(ctx context.Context, img storage.Image, spec ContainerSpec, meta func(id string) map[string][]byte) (Container, []string, error) {
	runtime := spec.Runtime
	if runtime == "" {
		runtime = e.opts.DefaultRuntime
	}
	binary, ok := e.opts.Runtimes[runtime]
	if !ok {
		return Container{}, nil, fmt.Errorf("unknown or invalid runtime name: %s: %w", runtime, errdefs.ErrInvalidArgument)
	}
	// A start usually follows: have the shared shim ready by then.
	e.keepShim(false)

	cimg, err := e.opts.Client.GetImage(ctx, e.opts.Store.ContainerdName(img))
	if err != nil {
		return Container{}, nil, fmt.Errorf("image %s: %w", e.opts.Store.ContainerdName(img), err)
	}
	// A prewarmed snapshot of the image is keyed by the ID the container
	// will have (engine/prewarm.go).
	id, claimed := e.claimSnapshot(img)
	if !claimed {
		id = newID()
	}
	e.mu.Lock()
	name, err := e.reserveName(spec.Name, id)
	e.mu.Unlock()
	if err != nil {
		if claimed {
			e.dropClaimed(context.WithoutCancel(ctx), id)
		}
		return Container{}, nil, err
	}
	release := func() {
		e.mu.Lock()
		delete(e.names, name)
		e.mu.Unlock()
		if claimed {
			e.dropClaimed(context.WithoutCancel(ctx), id)
		}
	}

	rec := Container{
		ID:        id,
		Name:      name,
		Created:   nowUTC(),
		ImageID:   img.ID.String(),
		ImageName: e.opts.Store.ContainerdName(img),
		Spec:      spec,
		Runtime:   runtime,
		State:     State{Status: StatusCreated},
	}
	rec.Spec.Name = name
	rec.LogPath = filepath.Join(e.dir(id), id+"-json.log")
	for k, v := range meta(id) {
		if rec.Meta == nil {
			rec.Meta = map[string][]byte{}
		}
		rec.Meta[k] = v
	}
	if err := os.MkdirAll(e.dir(id), 0o710); err != nil {
		release()
		return Container{}, nil, err
	}
	cleanup := func() {
		release()
		e.releaseMounts(context.WithoutCancel(ctx), &rec, true)
		os.RemoveAll(e.dir(id))
	}
	if err := e.writeHostFiles(&rec); err != nil {
		cleanup()
		return Container{}, nil, err
	}
	// Volumes and binds (engine/mounts.go).
	if err := e.setupMounts(&rec); err != nil {
		cleanup()
		return Container{}, nil, err
	}
	specOpts, warnings, err := e.specOpts(&rec)
	if err != nil {
		cleanup()
		return Container{}, nil, err
	}
	cc, err := e.opts.Client.NewContainer(e.withCreateLease(ctx), id,
		containerd.WithImage(cimg),
		containerd.WithSnapshotter(e.opts.Store.Snapshotter()),
		snapshotOpt(id, claimed, img, cimg),
		containerd.WithRuntime(e.shimRuntime(), &options.Options{BinaryName: binary}),
		containerd.WithNewSpec(specOpts...),
	)
	if err != nil {
		cleanup()
		return Container{}, nil, fmt.Errorf("create container: %w", err)
	}
	if claimed {
		// The pool's labels go after the answer; if the daemon dies
		// first, the sweep at start relabels a snapshot a container took.
		e.cleanups.Add(1)
		go func() {
			defer e.cleanups.Done()
			e.adoptSnapshot(e.rootCtx, id)
		}()
	}
	if err := e.populateVolumes(ctx, &rec); err != nil {
		_ = e.deleteContainerd(context.WithoutCancel(ctx), id)
		cleanup()
		return Container{}, nil, err
	}
	c := &ctr{rec: rec, cc: cc, exitCh: make(chan struct{}), runDone: closedChan(), removedCh: make(chan struct{})}
	c.mu.Lock()
	err = e.save(c)
	c.mu.Unlock()
	if err != nil {
		_ = e.deleteContainerd(context.WithoutCancel(ctx), id)
		cleanup()
		return Container{}, nil, err
	}
	e.mu.Lock()
	e.byID[id] = c
	e.mu.Unlock()
	e.emit(&rec, "create", nil)
	log.G(ctx).WithField("id", id).WithField("name", name).Debug("container created")
	return rec, warnings, nil
}

// deleteContainerd removes the containerd container and its snapshot.
func (e *Engine) deleteContainerd(ctx context.Context, id string) error {
	cc, err := e.opts.Client.LoadContainer(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if t, err := cc.Task(ctx, nil); err == nil {
		_, _ = t.Delete(ctx, containerd.WithProcessKill)
	}
	return cc.Delete(ctx, containerd.WithSnapshotCleanup)
}

func nowUTC() time.Time { return time.Now().UTC() }
