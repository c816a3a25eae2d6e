package compat

import (
	"context"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"

	"github.com/hyperbox/hyperbox/server/routes/containers"
	sysroutes "github.com/hyperbox/hyperbox/server/routes/system"
	"github.com/hyperbox/hyperbox/storage"
)

// SystemDiskUsage answers GET /system/df. Images: the image list with
// SharedSize (bytes of layers another image also uses) and Containers
// filled, TotalSize the layers counted once (LayersSize in API < 1.52).
// Containers: all of them with SizeRw/SizeRootFs. Volumes: each with its
// size and users (volumes.go). BuildCache: BuildKit's cache records
// (build_cache.go).
func (d *Daemon) SystemDiskUsage(ctx context.Context, opts sysroutes.DiskUsageOptions) (*sysroutes.DiskUsage, error) {
	du := &sysroutes.DiskUsage{}
	if opts.Images {
		u, err := d.imageDiskUsage(ctx)
		if err != nil {
			return nil, err
		}
		du.Images = u
	}
	if opts.Containers {
		u, err := d.containerDiskUsage(ctx)
		if err != nil {
			return nil, err
		}
		du.Containers = u
	}
	if opts.Volumes {
		du.Volumes = d.volumeDiskUsage(ctx)
	}
	if opts.BuildCache {
		u, err := d.buildCacheUsage(ctx)
		if err != nil {
			return nil, err
		}
		du.BuildCache = u
	}
	return du, nil
}

func (d *Daemon) imageDiskUsage(ctx context.Context) (*image.DiskUsage, error) {
	items, err := d.ImageList(ctx, true, nil, false)
	if err != nil {
		return nil, err
	}
	imgs, err := d.store.List(ctx)
	if err != nil {
		return nil, err
	}
	layers := make(map[string][]dfLayer, len(imgs))
	for _, img := range imgs {
		layers[img.ID.String()] = d.imageLayers(ctx, img)
	}
	total, shared := layerUsage(layers)
	u := &image.DiskUsage{TotalCount: int64(len(items)), TotalSize: total, Items: items}
	for i := range items {
		items[i].SharedSize = shared[items[i].ID]
		if items[i].Containers > 0 {
			u.ActiveCount++
		} else {
			// What removing the unused image frees (dockerd's formula).
			u.Reclaimable += items[i].Size - items[i].SharedSize
		}
	}
	return u, nil
}

func (d *Daemon) containerDiskUsage(ctx context.Context) (*container.DiskUsage, error) {
	list, err := d.ContainerList(ctx, containers.ListOptions{All: true, Size: true})
	if err != nil {
		return nil, err
	}
	u := &container.DiskUsage{TotalCount: int64(len(list)), Items: list}
	for _, c := range list {
		u.TotalSize += c.SizeRw
		switch c.State {
		case container.StateRunning, container.StatePaused, container.StateRestarting:
			u.ActiveCount++
		default:
			u.Reclaimable += c.SizeRw
		}
	}
	return u, nil
}

// dfLayer is one layer of an image: its chain ID (the unpacked snapshot,
// shared by every image built on the same layers) and its size.
type dfLayer struct {
	key  string
	size int64
}

// imageLayers lists an image's layers with their sizes (from its
// history, which carries each layer's size). When the history and the
// layers do not line up, the image counts as one layer of its own.
func (d *Daemon) imageLayers(ctx context.Context, img storage.Image) []dfLayer {
	diffIDs := img.Config.RootFS.DiffIDs
	if len(diffIDs) == 0 {
		return nil
	}
	whole := []dfLayer{{key: "image/" + img.ID.String(), size: img.Size}}
	hist, err := d.store.History(ctx, img.ID.String())
	if err != nil {
		return whole
	}
	var sizes []int64
	var sum int64
	for i := len(hist) - 1; i >= 0; i-- { // History is newest first
		if !hist[i].EmptyLayer {
			sizes = append(sizes, hist[i].Size)
			sum += hist[i].Size
		}
	}
	if len(sizes) != len(diffIDs) || sum != img.Size {
		return whole
	}
	chains := identity.ChainIDs(append([]digest.Digest(nil), diffIDs...))
	out := make([]dfLayer, len(chains))
	for i, c := range chains {
		out[i] = dfLayer{key: c.String(), size: sizes[i]}
	}
	return out
}

// layerUsage counts every distinct layer once (the disk the images take)
// and gives each image the size of its layers that another image uses too.
func layerUsage(images map[string][]dfLayer) (int64, map[string]int64) {
	users := map[string]int{}
	size := map[string]int64{}
	for _, ls := range images {
		for _, l := range ls {
			users[l.key]++
			size[l.key] = l.size
		}
	}
	var total int64
	for _, s := range size {
		total += s
	}
	shared := make(map[string]int64, len(images))
	for id, ls := range images {
		var n int64
		for _, l := range ls {
			if users[l.key] > 1 {
				n += l.size
			}
		}
		shared[id] = n
	}
	return total, shared
}
