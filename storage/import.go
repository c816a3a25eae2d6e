package storage

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/containerd/containerd/v2/core/content"

	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import makes a one-layer image from a root filesystem tar (plain or
// compressed), as "docker import" does: the layer is stored gzip
// compressed, the config gets cfg, the store's platform and one history
// entry whose comment is message ("Imported from -" when empty). The image
// is named ref when ref is non-empty (else it is dangling) and unpacked.
// Errors: ErrInvalidArgument (bad ref or archive).
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, cfg ocispec.ImageConfig, message string) (Image, error) {
	name := ""
	if ref != "" {
		named, err := normalizeRef(ref)
		if err != nil {
			return Image{}, fmt.Errorf("import %q: %w", ref, invalidArgument(err))
		}
		name = named.String()
	}
	ctx, done, err := s.client.WithLease(ctx)
	if err != nil {
		return Image{}, err
	}
	defer done(context.WithoutCancel(ctx))

	layer, diffID, err := s.writeLayer(ctx, r)
	if err != nil {
		return Image{}, err
	}
	if message == "" {
		message = "Imported from -"
	}
	now := time.Now().UTC()
	config := dockerspec.DockerOCIImage{
		Image: ocispec.Image{
			Created:  &now,
			Platform: s.platform,
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
			History:  []ocispec.History{{Created: &now, Comment: message}},
		},
		Config: dockerspec.DockerOCIImageConfig{ImageConfig: cfg},
	}
	return s.storeImage(ctx, config, []ocispec.Descriptor{layer}, name)
}

// writeLayer stores r, decompressed and gzip-compressed again, as a layer
// blob; it returns the blob's descriptor and the digest of the tar (diff ID).
func (s *Store) writeLayer(ctx context.Context, r io.Reader) (ocispec.Descriptor, digest.Digest, error) {
	tarStream, err := compression.DecompressStream(bufio.NewReader(r))
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", invalidArgument(err))
	}
	defer tarStream.Close()
	cw, err := content.OpenWriter(ctx, s.client.ContentStore(), content.WithRef("import-"+randomHex()))
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer cw.Close()
	diff := digest.Canonical.Digester()
	gz := gzip.NewWriter(cw)
	n, err := io.Copy(gz, io.TeeReader(tarStream, diff.Hash()))
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", err)
	}
	if n == 0 {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: empty archive: %w", invalidArgument(io.ErrUnexpectedEOF))
	}
	st, err := cw.Status()
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	dgst := cw.Digest()
	err = cw.Commit(ctx, st.Offset, dgst, content.WithLabels(map[string]string{labels.LabelUncompressed: diff.Digest().String()}))
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: commit layer: %w", err)
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: dgst, Size: st.Offset}, diff.Digest(), nil
}

// writeJSON stores v as a blob of the given media type.
func (s *Store) writeJSON(ctx context.Context, mediaType string, v any, lbls map[string]string) (ocispec.Descriptor, error) {
	p, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(p), Size: int64(len(p))}
	ref := "hyperbox-" + desc.Digest.String()
	if err := content.WriteBlob(ctx, s.client.ContentStore(), ref, bytes.NewReader(p), desc, content.WithLabels(lbls)); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
