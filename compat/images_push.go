package compat

import (
	"context"
	"fmt"
	"sort"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"

	"github.com/hyperbox/hyperbox/server/routes/images"
)

// ImagePush answers POST /images/{name}/push. Without a tag every local
// tag of the repository is pushed, as dockerd does.
func (d *Daemon) ImagePush(ctx context.Context, name, tag string, auth *registry.AuthConfig, out images.Progress) error {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return invalid("invalid reference format: %s", name)
	}
	var refs []string
	if tag != "" {
		t, err := reference.WithTag(reference.TrimNamed(named), tag)
		if err != nil {
			return invalid("invalid tag format: %s", tag)
		}
		refs = []string{t.String()}
	} else if t, ok := named.(reference.Tagged); ok {
		refs = []string{t.String()}
	} else {
		imgs, err := d.store.List(ctx)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			for _, n := range img.Names {
				if r, err := reference.ParseNormalizedNamed(n); err == nil && r.Name() == named.Name() {
					if _, ok := r.(reference.Tagged); ok {
						refs = append(refs, n)
					}
				}
			}
		}
		sort.Strings(refs)
	}
	if len(refs) == 0 {
		return imageNotFound(reference.FamiliarName(named))
	}
	for _, ref := range refs {
		if _, err := d.store.Get(ctx, ref); err != nil {
			if isNotFound(err) {
				return imageNotFound(familiar(ref))
			}
			return err
		}
	}
	_ = out.Send(jsonMessage{Status: fmt.Sprintf("The push refers to repository [%s]", named.Name())})
	var labels map[string]string
	for _, ref := range refs {
		res, err := d.store.Push(ctx, ref, toStorageAuth(auth), pushProgress(out))
		if err != nil {
			return err
		}
		if labels == nil {
			if img, err := d.store.Get(ctx, ref); err == nil {
				labels = img.Config.Config.Labels
			}
		}
		_ = out.Send(jsonMessage{Status: fmt.Sprintf("%s: digest: %s size: %d", res.Tag, res.Digest, res.Size)})
		_ = out.Send(jsonMessage{Detail: &progressDetail{}, Aux: map[string]any{"Tag": res.Tag, "Digest": res.Digest.String(), "Size": res.Size}})
	}
	// One push event per request, as dockerd: ID is the reference pushed
	// ("localhost:5000/app:v1", or the repository when every tag was).
	id := reference.FamiliarName(named)
	if len(refs) == 1 && (tag != "" || isTagged(named)) {
		id = familiar(refs[0])
	}
	d.imageEvent("push", id, reference.FamiliarName(named), labels)
	return nil
}

func isTagged(named reference.Named) bool {
	_, ok := named.(reference.Tagged)
	return ok
}
