package compat

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/server/routes/containers"
)

var containerFilterKeys = map[string]bool{
	"ancestor": true, "before": true, "expose": true, "exited": true, "health": true, "id": true,
	"isolation": true, "is-task": true, "label": true, "name": true, "network": true, "publish": true,
	"since": true, "status": true, "volume": true,
}

var containerStatuses = map[string]bool{
	"created": true, "restarting": true, "running": true, "removing": true, "paused": true, "exited": true, "dead": true,
}

// listFilter is a validated container filter set.
type listFilter struct {
	f         map[string]map[string]bool
	names     []*regexp.Regexp
	exited    []int
	ancestors map[string]bool // image IDs
	before    time.Time
	since     time.Time
	hasBefore bool
	hasSince  bool
}

func (d *Daemon) compileFilter(ctx context.Context, f map[string]map[string]bool) (*listFilter, error) {
	lf := &listFilter{f: f}
	for k := range f {
		if !containerFilterKeys[k] {
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	for n := range f["name"] {
		re, err := regexp.Compile(n)
		if err != nil {
			return nil, invalid("invalid filter 'name=%s': %v", n, err)
		}
		lf.names = append(lf.names, re)
	}
	for s := range f["status"] {
		if !containerStatuses[s] {
			return nil, invalid("invalid filter 'status=%s'", s)
		}
	}
	for s := range f["health"] {
		switch s {
		case "starting", "healthy", "unhealthy", "none":
		default:
			return nil, invalid("Unrecognised filter value for health: %s", s)
		}
	}
	for s := range f["exited"] {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, invalid("invalid filter 'exited=%s'", s)
		}
		lf.exited = append(lf.exited, n)
	}
	if len(f["ancestor"]) > 0 {
		lf.ancestors = map[string]bool{}
		for a := range f["ancestor"] {
			if img, err := d.store.Get(ctx, lookupName(a)); err == nil {
				lf.ancestors[img.ID.String()] = true
			}
		}
	}
	for ref := range f["before"] {
		c, err := d.engine.Get(ctx, ref)
		if err != nil {
			return nil, containerError(ref, err)
		}
		lf.before, lf.hasBefore = c.Created, true
	}
	for ref := range f["since"] {
		c, err := d.engine.Get(ctx, ref)
		if err != nil {
			return nil, containerError(ref, err)
		}
		lf.since, lf.hasSince = c.Created, true
	}
	return lf, nil
}

// matchLabels implements Docker's label filter: every given label must
// match ("k" = present, "k=v" = equal).
func matchLabels(want map[string]bool, labels map[string]string) bool {
	for l := range want {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}

func (lf *listFilter) match(c *engine.Container, cfg *container.Config, hc *container.HostConfig) bool {
	f := lf.f
	if !matchLabels(f["label"], c.Spec.Labels) {
		return false
	}
	if len(lf.names) > 0 {
		ok := false
		for _, re := range lf.names {
			if re.MatchString("/"+c.Name) || re.MatchString(c.Name) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if len(f["id"]) > 0 && !anyKey(f["id"], func(p string) bool { return strings.HasPrefix(c.ID, p) }) {
		return false
	}
	if len(f["status"]) > 0 && !f["status"][c.State.Status] {
		return false
	}
	if len(lf.exited) > 0 {
		if c.State.Running || c.State.StartedAt.IsZero() {
			return false
		}
		ok := false
		for _, code := range lf.exited {
			ok = ok || code == c.State.ExitCode
		}
		if !ok {
			return false
		}
	}
	if lf.ancestors != nil && !lf.ancestors[c.ImageID] && !f["ancestor"][cfg.Image] {
		return false
	}
	if lf.hasBefore && !c.Created.Before(lf.before) {
		return false
	}
	if lf.hasSince && !c.Created.After(lf.since) {
		return false
	}
	if len(f["network"]) > 0 && !f["network"][networkName(hc)] {
		return false
	}
	if len(f["health"]) > 0 {
		status := "none"
		if c.State.Health != nil {
			status = c.State.Health.Status
		}
		if !f["health"][status] {
			return false
		}
	}
	if len(f["volume"]) > 0 && !matchVolumeFilter(f["volume"], c) {
		return false
	}
	if len(f["publish"]) > 0 || len(f["expose"]) > 0 {
		return false
	}
	if len(f["is-task"]) > 0 && !f["is-task"]["false"] {
		return false
	}
	return true
}

func anyKey(m map[string]bool, fn func(string) bool) bool {
	for k := range m {
		if fn(k) {
			return true
		}
	}
	return false
}

func networkName(hc *container.HostConfig) string {
	n := string(hc.NetworkMode)
	if n == "default" || n == "" {
		return "bridge"
	}
	return n
}

// ContainerList answers GET /containers/json.
func (d *Daemon) ContainerList(ctx context.Context, opts containers.ListOptions) ([]container.Summary, error) {
	lf, err := d.compileFilter(ctx, opts.Filters)
	if err != nil {
		return nil, err
	}
	// A status or exited filter, or a limit, looks at stopped containers too.
	all := opts.All || opts.Limit > 0 || len(opts.Filters["status"]) > 0 || len(opts.Filters["exited"]) > 0
	out := []container.Summary{}
	for _, c := range d.engine.List(ctx) {
		if !all && !c.State.Running {
			continue
		}
		cfg, hc := dockerConfig(&c)
		if !lf.match(&c, cfg, hc) {
			continue
		}
		sum := summary(&c, cfg, hc)
		if opts.Size {
			sum.SizeRw, sum.SizeRootFs = d.sizes(ctx, &c)
		}
		out = append(out, sum)
		if opts.Limit > 0 && len(out) >= opts.Limit {
			break
		}
	}
	return out, nil
}

func summary(c *engine.Container, cfg *container.Config, hc *container.HostConfig) container.Summary {
	s := container.Summary{
		ID:              c.ID,
		Names:           []string{"/" + c.Name},
		Image:           cfg.Image,
		ImageID:         c.ImageID,
		Command:         commandLine(c.Spec.Args),
		Created:         c.Created.Unix(),
		Ports:           portSummaries(c, cfg),
		Labels:          c.Spec.Labels,
		State:           container.ContainerState(c.State.Status),
		Status:          statusText(&c.State),
		Mounts:          mountPoints(c),
		NetworkSettings: &container.NetworkSettingsSummary{Networks: endpointSettings(c, hc)},
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if h := c.State.Health; h != nil {
		s.Health = &container.HealthSummary{Status: container.HealthStatus(h.Status), FailingStreak: h.FailingStreak}
	}
	s.HostConfig.NetworkMode = string(hc.NetworkMode)
	return s
}

// statusText is the human Status column of docker ps.
func statusText(st *engine.State) string {
	now := time.Now().UTC()
	switch st.Status {
	case engine.StatusRunning:
		return "Up " + units.HumanDuration(now.Sub(st.StartedAt)) + healthSuffix(st.Health)
	case engine.StatusPaused:
		return "Up " + units.HumanDuration(now.Sub(st.StartedAt)) + " (Paused)"
	case engine.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
	case engine.StatusRemoving:
		return "Removal In Progress"
	case engine.StatusDead:
		return "Dead"
	case engine.StatusCreated:
		return "Created"
	}
	if st.FinishedAt.IsZero() {
		return "Created"
	}
	return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
}

// sizes are SizeRw (the writable layer) and SizeRootFs (that plus the
// image); unknown sizes are 0, as dockerd reports them.
func (d *Daemon) sizes(ctx context.Context, c *engine.Container) (int64, int64) {
	rw, err := d.engine.Size(ctx, c.ID)
	if err != nil {
		return 0, 0
	}
	root := rw
	if img, err := d.store.Get(ctx, c.ImageID); err == nil {
		root += img.Size
	}
	return rw, root
}

// healthSuffix is the health part of docker ps's Status column.
func healthSuffix(h *engine.Health) string {
	if h == nil {
		return ""
	}
	if h.Status == engine.HealthStarting {
		return " (health: starting)"
	}
	return " (" + h.Status + ")"
}
