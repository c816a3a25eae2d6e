package compat

import (
	"fmt"
	"strings"

	units "github.com/docker/go-units"

	"github.com/hyperbox/hyperbox/server/routes/images"
	"github.com/hyperbox/hyperbox/storage"
)

// progressDetail is dockerd's progressDetail object ({} when empty).
type progressDetail struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

// jsonMessage is one line of a pull/push/load stream, with the deprecated
// "progress" text that older clients still print.
type jsonMessage struct {
	Stream   string          `json:"stream,omitempty"`
	Status   string          `json:"status,omitempty"`
	Detail   *progressDetail `json:"progressDetail,omitempty"`
	Progress string          `json:"progress,omitempty"`
	ID       string          `json:"id,omitempty"`
	Aux      any             `json:"aux,omitempty"`
}

// progressBar renders dockerd's "[====>   ]  1.2MB/3.4MB".
func progressBar(cur, total int64) string {
	if total <= 0 {
		return units.HumanSize(float64(cur))
	}
	width := 50
	n := int(float64(width) * float64(cur) / float64(total))
	n = min(max(n, 0), width)
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %7s/%s", bar, units.HumanSize(float64(cur)), units.HumanSize(float64(total)))
}

// pullProgress words storage events as dockerd's pull messages.
func pullProgress(out images.Progress) storage.ProgressFunc {
	return func(p storage.Progress) {
		m := jsonMessage{ID: p.ID, Detail: &progressDetail{}}
		switch p.Action {
		case storage.ProgressLayerExists:
			m.Status = "Already exists"
		case storage.ProgressLayerWaiting:
			// dockerd announces each layer, then marks the queued ones.
			_ = out.Send(jsonMessage{ID: p.ID, Status: "Pulling fs layer", Detail: &progressDetail{}})
			m.Status = "Waiting"
		case storage.ProgressLayerDownloading:
			m.Status = "Downloading"
			m.Detail = &progressDetail{Current: p.Current, Total: p.Total}
			m.Progress = progressBar(p.Current, p.Total)
		case storage.ProgressLayerDownloaded:
			_ = out.Send(jsonMessage{ID: p.ID, Status: "Verifying Checksum", Detail: &progressDetail{}})
			m.Status = "Download complete"
		case storage.ProgressLayerExtracting:
			m.Status = "Extracting"
			if p.Total > 0 {
				m.Detail = &progressDetail{Current: p.Current, Total: p.Total}
				m.Progress = progressBar(p.Current, p.Total)
			}
		case storage.ProgressLayerDone:
			m.Status = "Pull complete"
		default:
			return
		}
		_ = out.Send(m)
	}
}

// pushProgress words storage events as dockerd's push messages.
func pushProgress(out images.Progress) storage.ProgressFunc {
	return func(p storage.Progress) {
		m := jsonMessage{ID: p.ID, Detail: &progressDetail{}}
		switch p.Action {
		case storage.ProgressLayerPreparing:
			m.Status = "Preparing"
		case storage.ProgressLayerWaiting:
			m.Status = "Waiting"
		case storage.ProgressLayerUploading:
			m.Status = "Pushing"
			m.Detail = &progressDetail{Current: p.Current, Total: p.Total}
			m.Progress = progressBar(p.Current, p.Total)
		case storage.ProgressLayerPushed:
			m.Status = "Pushed"
		case storage.ProgressLayerExists:
			m.Status = "Layer already exists"
		case storage.ProgressLayerMounted:
			m.Status = "Mounted from " + p.Message
		default:
			return
		}
		_ = out.Send(m)
	}
}
