package storage

import (
	"fmt"
	"net"
	"strings"
	"sync"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultSnapshotter is the snapshotter images are unpacked into unless
// Options says otherwise.
const DefaultSnapshotter = "overlayfs"

// danglingPrefix names the containerd image records that keep images alive
// once they have lost their last name ("<none>:<none>" in docker images).
// The record is named after the image ID: danglingPrefix + "sha256:…".
const danglingPrefix = "hyperbox-dangling@"

// maxConcurrentTransfers is dockerd's default for max-concurrent-downloads
// and max-concurrent-uploads.
const maxConcurrentTransfers = 3

// Options configures a Store.
type Options struct {
	// Snapshotter images are unpacked into; default "overlayfs".
	Snapshotter string
	// InsecureRegistries are registries that may be reached over plain
	// HTTP or with unverified TLS: "host[:port]" or a CIDR. localhost,
	// 127.0.0.0/8 and ::1 are always treated so, as by dockerd.
	InsecureRegistries []string
	// Platform pulled and resolved by default ("os/arch[/variant]");
	// default: the host platform.
	Platform string
}

// Store keeps images in containerd: image records name them, the content
// store holds their blobs and the snapshotter their unpacked layers. It
// holds no state of its own besides caches of immutable content, so several
// Stores (or a restarted daemon) see the same images.
type Store struct {
	client      *containerd.Client
	snapshotter string
	platform    ocispec.Platform
	matcher     platforms.MatchComparer

	insecureHosts []string
	insecureNets  []*net.IPNet

	// mu serialises changes to image records, so that the check "does
	// this image keep a name?" and the renaming it guards are atomic.
	mu sync.Mutex

	indexes   sync.Map // index digest -> *ocispec.Index
	manifests sync.Map // manifest digest -> *manifestInfo
	usage     sync.Map // chain ID -> int64 bytes of that layer's snapshot
}

// New returns a Store on client. An invalid Options.Platform or CIDR is
// ignored with the default taking its place; callers validate
// configuration before (see ValidateOptions).
func New(client *containerd.Client, opts Options) *Store {
	s := &Store{client: client, snapshotter: opts.Snapshotter}
	if s.snapshotter == "" {
		s.snapshotter = DefaultSnapshotter
	}
	s.platform = platforms.DefaultSpec()
	if p, err := platforms.Parse(opts.Platform); opts.Platform != "" && err == nil {
		s.platform = platforms.Normalize(p)
	}
	s.matcher = platforms.Only(s.platform)
	for _, r := range opts.InsecureRegistries {
		if _, n, err := net.ParseCIDR(r); err == nil {
			s.insecureNets = append(s.insecureNets, n)
			continue
		}
		s.insecureHosts = append(s.insecureHosts, strings.ToLower(strings.TrimSuffix(r, "/")))
	}
	return s
}

// ValidateOptions reports configuration New would ignore, as
// errdefs.ErrInvalidArgument.
func ValidateOptions(opts Options) error {
	if opts.Platform != "" {
		if _, err := platforms.Parse(opts.Platform); err != nil {
			return fmt.Errorf("invalid platform %q: %w", opts.Platform, errdefs.ErrInvalidArgument)
		}
	}
	for _, r := range opts.InsecureRegistries {
		if strings.Contains(r, "/") && !strings.HasSuffix(r, "/") {
			if _, _, err := net.ParseCIDR(r); err != nil {
				return fmt.Errorf("insecure registry %q: %w", r, invalidArgument(err))
			}
		}
	}
	return nil
}

// Snapshotter is the name of the snapshotter images are unpacked into;
// containers must use the same one.
func (s *Store) Snapshotter() string { return s.snapshotter }

// ContainerdName is a containerd image record name for img that the engine
// can pass to client.GetImage. Dangling images have a synthetic record
// ("hyperbox-dangling@sha256:…") that never appears in Image.Names.
func (s *Store) ContainerdName(img Image) string {
	switch {
	case img.record != "":
		return img.record
	case len(img.Names) > 0:
		return img.Names[0]
	default:
		return danglingName(img.ID)
	}
}

func danglingName(id digest.Digest) string { return danglingPrefix + id.String() }

func isDanglingName(name string) bool { return strings.HasPrefix(name, danglingPrefix) }
