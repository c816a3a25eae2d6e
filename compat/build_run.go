package compat

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
)

// createStepContainer creates the container a RUN, COPY or WORKDIR step
// works in: the current image with the build's config and cmd.
func (b *builder) createStepContainer(cmd []string, env []string) (string, error) {
	cfg := &container.Config{
		Image:       b.imageID,
		Cmd:         cmd,
		Entrypoint:  []string{},
		Env:         env,
		WorkingDir:  b.cfg.WorkingDir,
		User:        b.cfg.User,
		Healthcheck: &container.HealthConfig{Test: []string{"NONE"}},
	}
	res, err := b.d.ContainerCreate(b.ctx, "", &container.CreateRequest{Config: cfg, HostConfig: &container.HostConfig{}})
	if err != nil {
		return "", err
	}
	return res.ID, nil
}

// removeStepContainer removes a step's container (also when the request
// was cancelled).
func (b *builder) removeStepContainer(id string) {
	_ = b.d.engine.Remove(context.WithoutCancel(b.ctx), id, engine.RemoveOptions{Force: true})
}

// commitStep commits container id as the next image and, with rm,
// removes it as dockerd does after a successful step.
func (b *builder) commitStep(id, createdBy string) error {
	img, err := b.d.engine.Commit(b.ctx, id, engine.CommitOptions{Image: b.commitCfg(createdBy)})
	if err != nil {
		if b.opts.ForceRemove {
			b.removeStepContainer(id)
		}
		return err
	}
	b.imageID = img.ID.String()
	if b.opts.Remove {
		b.removeStepContainer(id)
		b.printf(" ---> Removed intermediate container %s\n", shortID(id))
	}
	return nil
}

// runInstr runs RUN: shell form through the build's SHELL, exec form as
// given, in a container of the current image; output streams as
// {"stream":...}; a non-zero exit ends the build with dockerd's message.
func (b *builder) runInstr(n *parser.Node) error {
	v := values(n)
	cmd := v
	if !n.Attributes["json"] {
		cmd = append(append([]string{}, b.shell()...), strings.Join(v, " "))
	}
	if len(n.Flags) > 0 {
		return notImplemented("RUN " + strings.Join(n.Flags, " "))
	}
	// Build args are in the RUN environment (not in the image), ENV wins.
	env := b.env()
	id, err := b.createStepContainer(cmd, env)
	if err != nil {
		return err
	}
	b.printf(" ---> Running in %s\n", shortID(id))
	code, err := b.runContainer(id)
	if err == nil && code != 0 {
		err = errdefs.ErrUnknown.WithMessage(fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(cmd, " "), code))
	}
	if err != nil {
		// dockerd keeps a failed step's container unless forcerm.
		if b.opts.ForceRemove {
			b.removeStepContainer(id)
		}
		return err
	}
	createdBy := strings.Join(cmd, " ")
	if used := b.usedArgList(); len(used) > 0 {
		// dockerd's history marks the args a RUN saw: "|1 A=b /bin/sh -c ...".
		createdBy = fmt.Sprintf("|%d %s %s", len(used), strings.Join(used, " "), createdBy)
	}
	return b.commitStep(id, createdBy)
}

// usedArgList is the stage's ARGs as "k=v", for RUN history entries.
func (b *builder) usedArgList() []string {
	var out []string
	for _, kv := range b.env() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := b.args[k]; ok {
			if _, set := buildEnv(b.cfg.Env).Get(k); !set {
				out = append(out, kv)
			}
		}
	}
	return out
}

// runContainer starts container id, streams its output and returns its
// exit code. The wait is armed before the start (STYLE: exit channel
// first).
func (b *builder) runContainer(id string) (int, error) {
	exitC, err := b.d.engine.Wait(b.ctx, id, engine.WaitNextExit)
	if err != nil {
		return 0, err
	}
	if err := b.d.engine.Start(b.ctx, id); err != nil {
		return 0, err
	}
	err = b.d.engine.Logs(b.ctx, id, engine.LogOptions{Tail: -1, Follow: true}, func(e engine.LogEntry) error {
		if !b.opts.Quiet {
			return b.out.Send(jsonMessage{Stream: e.Log})
		}
		return nil
	})
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	select {
	case st := <-exitC:
		if st.Error != "" && st.ExitCode == 0 {
			return 0, errors.New(st.Error)
		}
		return st.ExitCode, nil
	case <-b.ctx.Done():
		b.removeStepContainer(id)
		return 0, b.ctx.Err()
	}
}

// workdir sets WORKDIR and, like dockerd, creates the directory in the
// image when it does not exist yet.
func (b *builder) workdir(n *parser.Node) error {
	v := values(n)
	if len(v) != 1 {
		return invalid("WORKDIR requires exactly one argument")
	}
	p, err := b.expand(v[0])
	if err != nil {
		return err
	}
	b.cfg.WorkingDir = path.Clean(b.workdirPath(p))
	id, err := b.createStepContainer([]string{"/bin/sh", "-c", "#(nop) WORKDIR " + b.cfg.WorkingDir}, nil)
	if err != nil {
		return err
	}
	defer b.removeStepContainer(id)
	if _, err := b.d.engine.StatPath(b.ctx, id, b.cfg.WorkingDir); err == nil {
		return b.commitConfig(n.Original)
	}
	if err := b.mkdirs(id, b.cfg.WorkingDir); err != nil {
		return err
	}
	img, err := b.d.engine.Commit(b.ctx, id, engine.CommitOptions{Image: b.commitCfg("/bin/sh -c #(nop) " + n.Original)})
	if err != nil {
		return err
	}
	b.imageID = img.ID.String()
	return nil
}

// existingParent is the deepest existing directory of dir in container
// id, and the missing rest (relative to it).
func (b *builder) existingParent(id, dir string) (string, string) {
	missing := ""
	for p := path.Clean(dir); ; p = path.Dir(p) {
		if st, err := b.d.engine.StatPath(b.ctx, id, p); err == nil && st.Mode.IsDir() || p == "/" {
			return p, missing
		}
		missing = path.Join(path.Base(p), missing)
	}
}

// mkdirs creates dir (and its parents) in container id, owned by root
// with mode 0755.
func (b *builder) mkdirs(id, dir string) error {
	anchor, missing := b.existingParent(id, dir)
	if missing == "" {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	p := ""
	for _, seg := range strings.Split(missing, "/") {
		p = path.Join(p, seg)
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: now})
	}
	_ = tw.Close()
	return b.d.engine.ExtractToDir(b.ctx, id, anchor, &buf, engine.ExtractOptions{})
}
