package compat

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	"github.com/hyperbox/hyperbox/server/routes/images"
	"github.com/hyperbox/hyperbox/storage"
)

// ImageHistory answers GET /images/{name}/history.
func (d *Daemon) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	img, err := d.getImage(ctx, name)
	if err != nil {
		return nil, err
	}
	h, err := d.store.History(ctx, img.ID.String())
	if err != nil {
		return nil, err
	}
	out := []image.HistoryResponseItem{}
	for _, e := range h {
		tags := []string{}
		for _, t := range e.Tags {
			tags = append(tags, familiar(t))
		}
		out = append(out, image.HistoryResponseItem{
			ID: e.ID, Created: e.Created.Unix(), CreatedBy: e.CreatedBy, Size: e.Size, Comment: e.Comment, Tags: tags,
		})
	}
	return out, nil
}

// ImageTag answers POST /images/{name}/tag.
func (d *Daemon) ImageTag(ctx context.Context, source, repo, tag string) error {
	img, err := d.getImage(ctx, source)
	if err != nil {
		return err
	}
	if repo == "" {
		return invalid("repository name must have at least one component")
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return invalid("invalid reference format: %s", repo)
	}
	if _, ok := named.(reference.Canonical); ok {
		return invalid("refusing to create a tag with a digest reference")
	}
	if tag != "" {
		if named, err = reference.WithTag(reference.TrimNamed(named), tag); err != nil {
			return invalid("invalid tag format: %s", tag)
		}
	}
	named = reference.TagNameOnly(named)
	if err := d.store.Tag(ctx, img.ID.String(), named.String()); err != nil {
		return err
	}
	d.imageEvent("tag", img.ID.String(), reference.FamiliarString(named), img.Config.Config.Labels)
	return nil
}

// ImageDelete answers DELETE /images/{name}.
func (d *Daemon) ImageDelete(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error) {
	img, err := d.getImage(ctx, name)
	if err != nil {
		return nil, err
	}
	key := lookupName(name)
	if byID(name, &img) {
		key = img.ID.String()
	}
	// Prewarmed snapshots of the image would keep its layers alive.
	d.engine.ForgetImage(ctx, img)
	users := d.imageUsers(ctx)
	res, err := d.store.Delete(ctx, key, storage.DeleteOptions{Force: force, NoPrune: noPrune,
		InUse: func(id digest.Digest) bool { return users[id.String()] != "" }})
	if err != nil {
		if errdefs.IsConflict(err) {
			return nil, deleteConflict(name, &img, users[img.ID.String()], byID(name, &img))
		}
		if errdefs.IsNotFound(err) {
			return nil, imageNotFound(name)
		}
		return nil, err
	}
	out := []image.DeleteResponse{}
	for _, r := range res {
		if r.Untagged != "" {
			out = append(out, image.DeleteResponse{Untagged: familiar(r.Untagged)})
		}
		if r.Deleted != "" {
			out = append(out, image.DeleteResponse{Deleted: r.Deleted.String()})
		}
	}
	d.deleteEvents(res, &img, !byID(name, &img))
	return out, nil
}

// deleteEvents publishes dockerd's (graphdriver store) events for a removal:
// untag per name removed and delete when the image went, both with the
// image ID as ID and name. Removing a name also drops the repository's
// digest references, which dockerd does without events.
func (d *Daemon) deleteEvents(res []storage.DeleteResult, img *storage.Image, byName bool) {
	id := img.ID.String()
	for _, r := range res {
		switch {
		case r.Untagged != "" && !(byName && strings.Contains(r.Untagged, "@")):
			d.imageEvent("untag", id, id, img.Config.Config.Labels)
		case r.Deleted != "":
			// The image is gone: no labels (dockerd finds none either).
			d.imageEvent("delete", r.Deleted.String(), r.Deleted.String(), nil)
		}
	}
}

// byID reports whether the user named the image by ID rather than name.
func byID(name string, img *storage.Image) bool {
	n := strings.TrimPrefix(name, "sha256:")
	return strings.HasPrefix(img.ID.Encoded(), n) && !matchesName(name, img)
}

func matchesName(name string, img *storage.Image) bool {
	full := lookupName(name)
	for _, n := range img.Names {
		if n == full {
			return true
		}
	}
	return false
}

// imageUsers maps image IDs to the short ID of a container using them.
func (d *Daemon) imageUsers(ctx context.Context) map[string]string {
	m := map[string]string{}
	for _, c := range d.engine.List(ctx) {
		m[c.ImageID] = shortID(c.ID)
	}
	return m
}

// deleteConflict words dockerd's 409s for image removal.
func deleteConflict(name string, img *storage.Image, user string, byID bool) error {
	switch {
	case user != "" && !byID:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf(
			"conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
			name, user, shortID(img.ID.String())))
	case user != "":
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf(
			"conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", shortID(img.ID.String()), user))
	}
	return errdefs.ErrConflict.WithMessage(fmt.Sprintf(
		"conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(img.ID.String())))
}

// ImageLoad answers POST /images/load.
func (d *Daemon) ImageLoad(ctx context.Context, r io.Reader, quiet bool, out images.Progress) error {
	loaded, err := d.store.Load(ctx, r, nil)
	if err != nil {
		return invalidArchive(err)
	}
	// One load event per image (not per name), with the image ID.
	seen := map[string]bool{}
	for _, l := range loaded {
		if img, err := d.store.Get(ctx, l); err == nil && !seen[img.ID.String()] {
			seen[img.ID.String()] = true
			d.imageEvent("load", img.ID.String(), img.ID.String(), img.Config.Config.Labels)
		}
	}
	for _, l := range loaded {
		if strings.HasPrefix(l, "sha256:") {
			_ = out.Send(jsonMessage{Stream: "Loaded image ID: " + l + "\n"})
			continue
		}
		_ = out.Send(jsonMessage{Stream: "Loaded image: " + familiar(l) + "\n"})
	}
	return nil
}

func invalidArchive(err error) error {
	if errdefs.IsInvalidArgument(err) || errdefs.IsNotFound(err) {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return err
}

// ImageSaveCheck resolves every name before the tar starts.
func (d *Daemon) ImageSaveCheck(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return invalid("no images specified")
	}
	for _, n := range names {
		if _, err := d.getImage(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// ImageSave answers GET /images/get and /images/{name}/get.
func (d *Daemon) ImageSave(ctx context.Context, names []string, w io.Writer) error {
	keys := make([]string, 0, len(names))
	var imgs []storage.Image
	for _, n := range names {
		img, err := d.getImage(ctx, n)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
		if byID(n, &img) {
			keys = append(keys, img.ID.String())
		} else {
			keys = append(keys, lookupName(n))
		}
	}
	if err := d.store.Save(ctx, w, keys); err != nil {
		return err
	}
	// One save event per image, with the image ID.
	seen := map[string]bool{}
	for _, img := range imgs {
		if id := img.ID.String(); !seen[id] {
			seen[id] = true
			d.imageEvent("save", id, id, img.Config.Config.Labels)
		}
	}
	return nil
}

// ImagePrune answers POST /images/prune (dangling only unless
// dangling=false).
func (d *Daemon) ImagePrune(ctx context.Context, f map[string]map[string]bool) (*image.PruneReport, error) {
	for k := range f {
		if k != "dangling" && k != "label" && k != "until" {
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	all := f["dangling"]["false"] || f["dangling"]["0"]
	users := d.imageUsers(ctx)
	res, reclaimed, err := d.store.Prune(ctx, all, func(id digest.Digest) bool { return users[id.String()] != "" })
	if err != nil {
		return nil, err
	}
	rep := &image.PruneReport{ImagesDeleted: []image.DeleteResponse{}, SpaceReclaimed: uint64(reclaimed)}
	untags := 0
	for _, r := range res {
		if r.Untagged != "" {
			rep.ImagesDeleted = append(rep.ImagesDeleted, image.DeleteResponse{Untagged: familiar(r.Untagged)})
			untags++
		}
		if r.Deleted != "" {
			rep.ImagesDeleted = append(rep.ImagesDeleted, image.DeleteResponse{Deleted: r.Deleted.String()})
			// The store lists an image's names, then the image.
			id := r.Deleted.String()
			for ; untags > 0; untags-- {
				d.imageEvent("untag", id, id, nil)
			}
			d.imageEvent("delete", id, id, nil)
		}
	}
	// dockerd ends a prune with an image prune event (no ID).
	d.imageEvent("prune", "", "", map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	return rep, nil
}
