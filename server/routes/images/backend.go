// Package images serves the /images endpoints, /commit-less image import,
// push, load and save.
package images

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
)

// Progress receives progress messages (dockerd's JSON message shape).
type Progress interface {
	Send(v any) error
}

// PullOptions are the parsed query of POST /images/create?fromImage.
type PullOptions struct {
	FromImage, Tag, Platform string
	Auth                     *registry.AuthConfig
}

// ImportOptions are the parsed query of POST /images/create?fromSrc.
type ImportOptions struct {
	Source, Repo, Tag, Message, Platform string
	Changes                              []string
	Body                                 io.Reader
}

// Backend is what the image routes need.
type Backend interface {
	// ImagePull streams progress to out. Errors before any output keep
	// their class (NotFound, Unauthorized, InvalidArgument).
	ImagePull(ctx context.Context, opts PullOptions, out Progress) error
	ImageImport(ctx context.Context, opts ImportOptions, out Progress) error
	ImagePush(ctx context.Context, name, tag string, auth *registry.AuthConfig, out Progress) error
	ImageList(ctx context.Context, all bool, filters map[string]map[string]bool, digests bool) ([]image.Summary, error)
	ImageInspect(ctx context.Context, name string) (*image.InspectResponse, error)
	ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error)
	ImageTag(ctx context.Context, source, repo, tag string) error
	ImageDelete(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error)
	ImageLoad(ctx context.Context, r io.Reader, quiet bool, out Progress) error
	// ImageSaveCheck resolves names before the response starts.
	ImageSaveCheck(ctx context.Context, names []string) error
	ImageSave(ctx context.Context, names []string, w io.Writer) error
	ImagePrune(ctx context.Context, filters map[string]map[string]bool) (*image.PruneReport, error)
}
