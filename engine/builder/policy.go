package builder

import (
	"context"
	"strings"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/cmd/buildkitd/config"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/disk"
	"google.golang.org/grpc"
)

// resolveModeAttr is the Dockerfile frontend's option for how FROM images
// are found.
const resolveModeAttr = "image-resolve-mode"

// preferLocalImages makes FROM use an image of the daemon's store before
// asking its registry, as dockerd does; `--pull` (mode "pull") still pulls.
func preferLocalImages(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if sr, ok := req.(*controlapi.SolveRequest); ok && strings.HasSuffix(info.FullMethod, "/Solve") {
		if sr.FrontendAttrs == nil {
			sr.FrontendAttrs = map[string]string{}
		}
		if m := sr.FrontendAttrs[resolveModeAttr]; m == "" || m == pb.AttrImageResolveModeDefault {
			sr.FrontendAttrs[resolveModeAttr] = pb.AttrImageResolveModePreferLocal
		}
	}
	return handler(ctx, req)
}

// pruneInfo turns a buildkitd GC rule into the worker's form.
func pruneInfo(p config.GCPolicy, dstat disk.DiskStat) client.PruneInfo {
	return client.PruneInfo{
		Filter:        p.Filters,
		All:           p.All,
		KeepDuration:  p.KeepDuration.Duration,
		ReservedSpace: p.ReservedSpace.AsBytes(dstat),
		MaxUsedSpace:  p.MaxUsedSpace.AsBytes(dstat),
		MinFreeSpace:  p.MinFreeSpace.AsBytes(dstat),
	}
}
