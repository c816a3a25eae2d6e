package builder

import (
	"context"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/util/progress"
	"github.com/moby/buildkit/worker/base"
)

// mobyExporterName is the exporter buildx's docker driver asks for: the
// daemon's own image store.
const mobyExporterName = "moby"

// TempRecordPrefix names the containerd record ("<prefix>@sha256:<manifest>")
// that holds a freshly exported image until ImageAdopter names it.
const TempRecordPrefix = "hyperbox-dangling"

// ImageAdopter names the images builds export, the way `docker tag` would:
// an image that loses its last name to the build stays dangling.
type ImageAdopter interface {
	// AdoptBuild gives the image of the containerd record `record` the
	// names tags (normalized references; none: the image is dangling),
	// drops the record and returns the image ID.
	AdoptBuild(ctx context.Context, record string, tags []string) (string, error)
}

// mobyWorker is BuildKit's containerd worker with dockerd's "moby"
// exporter added.
type mobyWorker struct {
	*base.Worker
	images ImageAdopter
}

func (w *mobyWorker) Exporter(name string, sm *session.Manager) (exporter.Exporter, error) {
	if name != mobyExporterName {
		return w.Worker.Exporter(name, sm)
	}
	inner, err := w.Worker.Exporter(client.ExporterImage, sm)
	if err != nil {
		return nil, err
	}
	return &mobyExporter{inner: inner, images: w.images}, nil
}

// mobyExporter runs BuildKit's image exporter into a temporary record and
// then has the daemon's image store name the image.
type mobyExporter struct {
	inner  exporter.Exporter
	images ImageAdopter
}

func (e *mobyExporter) Resolve(ctx context.Context, id int, attrs map[string]string) (exporter.ExporterInstance, error) {
	var tags []string
	for _, n := range strings.Split(attrs[string(exptypes.OptKeyName)], ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		ref, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			return nil, fmt.Errorf("invalid tag %q: %w", n, err)
		}
		tags = append(tags, reference.TagNameOnly(ref).String())
	}
	in := map[string]string{}
	for k, v := range attrs {
		switch exptypes.ImageExporterOptKey(k) {
		case exptypes.OptKeyName, exptypes.OptKeyPush, exptypes.OptKeyPushByDigest:
			// buildx pushes through the Engine API after the build.
		default:
			in[k] = v
		}
	}
	in[string(exptypes.OptKeyDanglingPrefix)] = TempRecordPrefix
	in[string(exptypes.OptKeyUnpack)] = "true"
	inst, err := e.inner.Resolve(ctx, id, in)
	if err != nil {
		return nil, err
	}
	return &mobyInstance{ExporterInstance: inst, tags: tags, images: e.images}, nil
}

type mobyInstance struct {
	exporter.ExporterInstance
	tags   []string
	images ImageAdopter
}

func (i *mobyInstance) Name() string { return "exporting to image" }

func (i *mobyInstance) Type() string { return mobyExporterName }

func (i *mobyInstance) Export(ctx context.Context, src *exporter.Source, info exporter.ExportBuildInfo) (map[string]string, exporter.FinalizeFunc, exporter.DescriptorReference, error) {
	resp, fin, ref, err := i.ExporterInstance.Export(ctx, src, info)
	if err != nil {
		return nil, nil, nil, err
	}
	record := resp[exptypes.ExporterImageNameKey]
	done := func(error) error { return nil }
	if len(i.tags) > 0 {
		done = progress.OneOff(ctx, "naming to "+strings.Join(i.tags, ", "))
	}
	id, err := i.images.AdoptBuild(ctx, record, i.tags)
	if err := done(err); err != nil {
		if ref != nil {
			ref.Release()
		}
		return nil, nil, nil, err
	}
	resp[exptypes.ExporterImageConfigDigestKey] = id
	if len(i.tags) > 0 {
		resp[exptypes.ExporterImageNameKey] = strings.Join(i.tags, ",")
	} else {
		delete(resp, exptypes.ExporterImageNameKey)
	}
	return resp, fin, ref, nil
}
