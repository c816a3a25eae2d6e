package storage

import (
	"context"
	"net"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/log"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// entry is one image (one ID) with every containerd record that resolves
// to it.
type entry struct {
	info *manifestInfo
	// records are all records of the image, visible ones first, by name.
	records []images.Image
	// tags and digestRefs are the names of visible records: normalized
	// references with a tag, and "repo@sha256:…" references.
	tags, digestRefs []string
}

func (e *entry) id() digest.Digest { return e.info.id() }

// visible are the records that name the image for users.
func (e *entry) visible() []images.Image { return e.records[:len(e.tags)+len(e.digestRefs)] }

// hidden are the other records: synthetic dangling ones and names that are
// not image references (kept alive, never shown).
func (e *entry) hidden() []images.Image { return e.records[len(e.tags)+len(e.digestRefs):] }

// catalog is a snapshot of all images.
type catalog struct {
	byID  map[digest.Digest]*entry
	order []digest.Digest
	// byName maps every record name to its image.
	byName map[string]*entry
}

// refKind classifies a record name: 't' tagged reference, 'd' digest
// reference, 0 anything else.
func refKind(name string) byte {
	if isDanglingName(name) {
		return 0
	}
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil || ref.String() != name {
		return 0
	}
	if _, ok := ref.(reference.Digested); ok {
		return 'd'
	}
	if _, ok := ref.(reference.Tagged); ok {
		return 't'
	}
	return 0
}

// scan lists every image record and groups them by image ID. Records that
// do not resolve to an image on this store (missing content, artifacts,
// checkpoints) are skipped.
func (s *Store) scan(ctx context.Context) (*catalog, error) {
	recs, err := s.client.ImageService().List(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	c := &catalog{byID: map[digest.Digest]*entry{}, byName: map[string]*entry{}}
	for _, r := range recs {
		mi, err := s.imageManifest(ctx, r.Target)
		if err != nil {
			log.G(ctx).WithError(err).WithField("image", r.Name).Debug("skipping image record")
			continue
		}
		e := c.byID[mi.id()]
		if e == nil {
			e = &entry{info: mi}
			c.byID[mi.id()] = e
			c.order = append(c.order, mi.id())
		}
		e.records = append(e.records, r)
		c.byName[r.Name] = e
	}
	for _, e := range c.byID {
		e.sortRecords()
	}
	return c, nil
}

// sortRecords puts tagged records first, then digest references, then the
// hidden ones, each group by name.
func (e *entry) sortRecords() {
	rank := func(name string) int {
		switch refKind(name) {
		case 't':
			return 0
		case 'd':
			return 1
		}
		return 2
	}
	sort.SliceStable(e.records, func(i, j int) bool {
		return rank(e.records[i].Name) < rank(e.records[j].Name)
	})
	e.tags, e.digestRefs = nil, nil
	for _, r := range e.records {
		switch refKind(r.Name) {
		case 't':
			e.tags = append(e.tags, r.Name)
		case 'd':
			e.digestRefs = append(e.digestRefs, r.Name)
		}
	}
}

// image turns an entry into the exported Image.
func (s *Store) image(ctx context.Context, e *entry) Image {
	mi := e.info
	img := Image{
		ID:       mi.id(),
		Names:    slices.Clone(e.tags),
		Target:   e.records[0].Target,
		Manifest: mi.desc,
		Config:   mi.config,
		ChainID:  mi.chainID(),
		Dangling: len(e.tags)+len(e.digestRefs) == 0,
		record:   e.records[0].Name,
	}
	if img.Names == nil {
		img.Names = []string{}
	}
	if mi.config.Created != nil {
		img.Created = *mi.config.Created
	}
	for _, sz := range s.layerSizes(ctx, mi) {
		img.Size += sz
	}
	img.RepoDigests = s.repoDigests(ctx, e)
	return img
}

// repoDigests lists "repo@digest" for the digest references naming the
// image and for every named repository its target was pulled from or pushed
// to, as recorded in containerd's distribution-source labels (a platform
// manifest pushed without its index gives "repo@manifest"). The labels
// drop the registry port, so only repositories the image has a name in are
// considered.
func (s *Store) repoDigests(ctx context.Context, e *entry) []string {
	set := map[string]bool{}
	for _, n := range e.digestRefs {
		set[n] = true
	}
	labels := map[digest.Digest]map[string]string{}
	labelsOf := func(d digest.Digest) map[string]string {
		if l, ok := labels[d]; ok {
			return l
		}
		info, err := s.client.ContentStore().Info(ctx, d)
		if err != nil {
			return nil
		}
		labels[d] = info.Labels
		return info.Labels
	}
	for _, r := range e.visible() {
		named, err := reference.ParseNormalizedNamed(r.Name)
		if err != nil {
			continue
		}
		host := reference.Domain(named)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		key, path := "containerd.io/distribution.source."+host, reference.Path(named)
		switch {
		case slices.Contains(strings.Split(labelsOf(r.Target.Digest)[key], ","), path):
			set[named.Name()+"@"+r.Target.Digest.String()] = true
		case slices.Contains(strings.Split(labelsOf(e.info.desc.Digest)[key], ","), path):
			set[named.Name()+"@"+e.info.desc.Digest.String()] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
