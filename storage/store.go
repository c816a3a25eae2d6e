// Package storage keeps images and their layers on containerd's content store
// and snapshotters: pull, push, load, save, import, tag, delete.
//
// It knows containerd and the OCI/Docker image formats, but nothing about the
// Docker Engine API: callers (compat) turn its results into API responses.
package storage

import (
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is one image as the store sees it. Several names may point at the
// same image (same ID).
type Image struct {
	// ID is the digest of the image config (what Docker shows as IMAGE ID).
	ID digest.Digest
	// Names are the fully qualified tag references that point at the image,
	// e.g. "docker.io/library/busybox:latest" or "localhost:5000/a/b:v1",
	// sorted. Digest references ("repo@sha256:…", from a pull by digest)
	// are in RepoDigests. Dangling images have none.
	Names []string
	// RepoDigests are "repo@sha256:..." for every repository the image was
	// pulled from or pushed to under one of its names (the digest the
	// registry knows it by: index or manifest), plus its digest references.
	RepoDigests []string
	// Target is the descriptor the names point at (manifest or index).
	Target ocispec.Descriptor
	// Manifest is the platform manifest's descriptor.
	Manifest ocispec.Descriptor
	// Config is the image config, including Docker's extensions (Healthcheck,
	// OnBuild, Shell) when the image carries them.
	Config dockerspec.DockerOCIImage
	// Created is the image creation time from the config (zero if unset).
	Created time.Time
	// Size is the sum of the uncompressed layer sizes (what docker shows):
	// the disk usage containerd recorded for each layer's snapshot when it
	// was unpacked, or, for a layer not unpacked, its blob size (usually
	// the compressed size: an underestimate).
	Size int64
	// ChainID identifies the unpacked root filesystem snapshot.
	ChainID digest.Digest
	// Dangling is true when no reference (neither a tag nor a digest
	// reference) names the image: "<none>:<none>" with no repo digest.
	Dangling bool

	// record is the containerd image record ContainerdName returns.
	record string
}

// Auth carries registry credentials. It is never logged; its String and
// GoString methods redact the secrets.
type Auth struct {
	// Username and Password answer Basic challenges and token servers.
	Username string
	Password string
	// IdentityToken is an OAuth refresh token (from Login); it takes the
	// place of the password.
	IdentityToken string
	// RegistryToken is a bearer token sent to the registry as is.
	RegistryToken string
	// ServerAddress is the registry the credentials are for (informative:
	// the store uses them for whatever registry it talks to).
	ServerAddress string
}

// String describes a without its secrets.
func (a Auth) String() string {
	redact := func(s string) string {
		if s == "" {
			return ""
		}
		return "<redacted>"
	}
	return "{Username:" + a.Username + " Password:" + redact(a.Password) +
		" IdentityToken:" + redact(a.IdentityToken) + " RegistryToken:" + redact(a.RegistryToken) +
		" ServerAddress:" + a.ServerAddress + "}"
}

// GoString is String, so that %#v does not print secrets either.
func (a Auth) GoString() string { return "storage.Auth" + a.String() }

// ProgressAction is one step of a layer's or image's transfer.
type ProgressAction int

// Progress actions, in the order a layer normally goes through them.
const (
	// ProgressResolved: the reference was resolved (Message holds the tag or digest).
	ProgressResolved ProgressAction = iota
	// ProgressLayerExists: the layer is already present locally.
	ProgressLayerExists
	// ProgressLayerWaiting: the layer is queued.
	ProgressLayerWaiting
	// ProgressLayerDownloading: Current/Total bytes downloaded, at most
	// every 100ms and once with the final count.
	ProgressLayerDownloading
	// ProgressLayerDownloaded: the layer is downloaded and verified.
	ProgressLayerDownloaded
	// ProgressLayerExtracting: the layer is being unpacked.
	ProgressLayerExtracting
	// ProgressLayerDone: the layer is unpacked ("Pull complete").
	ProgressLayerDone
	// ProgressLayerPreparing: a push is about to upload the layer.
	ProgressLayerPreparing
	// ProgressLayerUploading: Current/Total bytes uploaded.
	ProgressLayerUploading
	// ProgressLayerPushed: the layer is in the registry.
	ProgressLayerPushed
	// ProgressLayerMounted: the registry mounted the layer from another
	// repository. (Not emitted: containerd reports a mount as "exists".)
	ProgressLayerMounted
)

// Progress reports a transfer step. ID is the short (12 hex) layer digest,
// or empty for image-wide messages.
type Progress struct {
	ID      string
	Action  ProgressAction
	Current int64
	Total   int64
	Message string
}

// ProgressFunc receives progress reports; it must not block for long. The
// store never calls it from two goroutines at once.
type ProgressFunc func(Progress)

// PullResult says what a pull did.
type PullResult struct {
	Image Image
	// Updated is false when the local image was already what the registry has.
	Updated bool
	// Digest is the digest of what the reference resolved to.
	Digest digest.Digest
}

// PushResult says what a push wrote.
type PushResult struct {
	Tag    string
	Digest digest.Digest
	Size   int64
}

// DeleteResult is one step of an image removal.
type DeleteResult struct {
	Untagged string
	Deleted  digest.Digest
}

// HistoryEntry is one layer of an image's history, newest first.
type HistoryEntry struct {
	ID         string // image ID for the top entry, "<missing>" for others
	Created    time.Time
	CreatedBy  string
	Size       int64
	Comment    string
	Tags       []string
	EmptyLayer bool
}
