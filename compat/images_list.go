package compat

import (
	"context"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	"github.com/hyperbox/hyperbox/storage"
)

var imageFilterKeys = map[string]bool{"reference": true, "label": true, "dangling": true, "before": true, "since": true, "until": true}

func digestOf(s string) digest.Digest { return digest.Digest(s) }

// repoTags are the familiar names of an image's tags.
func repoTags(img *storage.Image) []string {
	out := []string{}
	for _, n := range img.Names {
		named, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			continue
		}
		if _, ok := named.(reference.Tagged); ok {
			out = append(out, reference.FamiliarString(named))
		}
	}
	return out
}

func repoDigests(img *storage.Image) []string {
	out := []string{}
	for _, n := range img.RepoDigests {
		out = append(out, familiar(n))
	}
	return out
}

// matchReference is dockerd's reference filter: a glob over the familiar
// name, and over name:tag when the pattern has a tag.
func matchReference(pattern string, img *storage.Image) bool {
	for _, n := range img.Names {
		named, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			continue
		}
		fam := reference.FamiliarName(named)
		full := reference.FamiliarString(named)
		if ok, _ := path.Match(pattern, fam); ok {
			return true
		}
		if ok, _ := path.Match(pattern, full); ok {
			return true
		}
		if ok, _ := path.Match(pattern, named.Name()); ok {
			return true
		}
		if ok, _ := path.Match(pattern, n); ok {
			return true
		}
	}
	return false
}

// ImageList answers GET /images/json.
func (d *Daemon) ImageList(ctx context.Context, all bool, f map[string]map[string]bool, digests bool) ([]image.Summary, error) {
	for k := range f {
		if !imageFilterKeys[k] {
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	var dangling *bool
	for v := range f["dangling"] {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, invalid("invalid filter 'dangling=%s'", v)
		}
		dangling = &b
	}
	var before, since time.Time
	for ref := range f["before"] {
		img, err := d.store.Get(ctx, lookupName(ref))
		if err != nil {
			return nil, imageNotFound(ref)
		}
		before = img.Created
	}
	for ref := range f["since"] {
		img, err := d.store.Get(ctx, lookupName(ref))
		if err != nil {
			return nil, imageNotFound(ref)
		}
		since = img.Created
	}
	imgs, err := d.store.List(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, c := range d.engine.List(ctx) {
		counts[c.ImageID]++
	}
	out := []image.Summary{}
	for i := range imgs {
		img := &imgs[i]
		isDangling := len(img.Names) == 0
		if dangling != nil && *dangling != isDangling {
			continue
		}
		if len(f["reference"]) > 0 && !anyKey(f["reference"], func(p string) bool { return matchReference(p, img) }) {
			continue
		}
		if !matchLabels(f["label"], img.Config.Config.Labels) {
			continue
		}
		if !before.IsZero() && !img.Created.Before(before) {
			continue
		}
		if !since.IsZero() && !img.Created.After(since) {
			continue
		}
		tags, digests := repoTags(img), repoDigests(img)
		if len(f["reference"]) > 0 {
			// dockerd lists only the names that matched the reference filter.
			tags = filterRefs(tags, f["reference"])
			digests = filterRefs(digests, f["reference"])
		}
		labels := img.Config.Config.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		out = append(out, image.Summary{
			ID: img.ID.String(), ParentID: "", RepoTags: tags, RepoDigests: digests,
			Created: img.Created.Unix(), Size: img.Size, SharedSize: -1, Labels: labels,
			Containers: counts[img.ID.String()],
		})
	}
	return out, nil
}

// ImageInspect answers GET /images/{name}/json.
func (d *Daemon) ImageInspect(ctx context.Context, name string) (*image.InspectResponse, error) {
	img, err := d.getImage(ctx, name)
	if err != nil {
		return nil, err
	}
	cfg := img.Config.Config
	layers := []string{}
	for _, l := range img.Config.RootFS.DiffIDs {
		layers = append(layers, l.String())
	}
	created := ""
	if !img.Created.IsZero() {
		created = img.Created.UTC().Format(time.RFC3339Nano)
	}
	target := img.Target
	return &image.InspectResponse{
		ID: img.ID.String(), RepoTags: repoTags(&img), RepoDigests: repoDigests(&img),
		Comment: historyComment(&img), Created: created, Author: img.Config.Author,
		Config: &cfg, Architecture: img.Config.Architecture, Variant: img.Config.Variant,
		Os: img.Config.OS, OsVersion: img.Config.OSVersion, Size: img.Size,
		RootFS:     image.RootFS{Type: "layers", Layers: layers},
		Descriptor: &target,
	}, nil
}

func historyComment(img *storage.Image) string {
	h := img.Config.History
	if len(h) == 0 {
		return ""
	}
	return h[len(h)-1].Comment
}

// getImage resolves a user-given image name or ID with dockerd's 404.
func (d *Daemon) getImage(ctx context.Context, name string) (storage.Image, error) {
	img, err := d.store.Get(ctx, lookupName(name))
	if err != nil {
		if !isIDLike(name) && !strings.Contains(name, ":") {
			// A short hex string may be an ID prefix rather than a name.
			if img2, err2 := d.store.Get(ctx, name); err2 == nil {
				return img2, nil
			}
		}
		if isNotFound(err) {
			return storage.Image{}, imageNotFound(name)
		}
		return storage.Image{}, err
	}
	return img, nil
}

// filterRefs keeps the familiar references that match one of the patterns.
func filterRefs(refs []string, patterns map[string]bool) []string {
	out := []string{}
	for _, r := range refs {
		named, err := reference.ParseNormalizedNamed(r)
		if err != nil {
			continue
		}
		for p := range patterns {
			if ok, _ := path.Match(p, reference.FamiliarName(named)); ok {
				out = append(out, r)
				break
			}
			if ok, _ := path.Match(p, r); ok {
				out = append(out, r)
				break
			}
		}
	}
	return out
}
