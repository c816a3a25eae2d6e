package compat

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/server/routes/build"
)

// Build answers POST /build the classic builder's way (dockerd's
// builder/dockerfile): each instruction runs in order on the image the
// previous one made; RUN and COPY/ADD go through a container that is
// committed, the others only change the config. There is no build cache:
// nocache is accepted and every step runs.
func (d *Daemon) Build(ctx context.Context, opts build.Options, out build.Progress) error {
	tags, err := buildTags(opts.Tags)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "hyperbox-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bctx, err := openBuildContext(opts.Context, tmp)
	if err != nil {
		return err
	}
	defer bctx.Close()
	dfName := opts.Dockerfile
	if dfName == "" {
		dfName = "Dockerfile"
	}
	ast, err := bctx.parseDockerfile(dfName)
	if err != nil {
		return err
	}
	b := &builder{
		d: d, ctx: ctx, out: out, opts: opts, bctx: bctx, tmp: tmp,
		lex:      shell.NewLex(ast.EscapeToken),
		steps:    len(ast.AST.Children),
		usedArgs: map[string]bool{},
		stages:   map[string]string{},
	}
	id, err := b.run(ast.AST.Children)
	if err != nil {
		return err
	}
	b.warnUnusedArgs()
	_ = out.Send(jsonMessage{Aux: map[string]string{"ID": id}})
	if opts.Quiet {
		_ = out.Send(jsonMessage{Stream: id + "\n"})
	} else {
		b.printf("Successfully built %s\n", shortID(id))
	}
	for _, ref := range tags {
		if err := d.store.Tag(ctx, id, ref); err != nil {
			return err
		}
		d.imageEvent("tag", id, familiar(ref), nil)
		if !opts.Quiet {
			b.printf("Successfully tagged %s\n", familiar(ref))
		}
	}
	return nil
}

// buildTags normalizes the t= values, refused before the build starts as
// dockerd refuses them.
func buildTags(tags []string) ([]string, error) {
	var out []string
	for _, t := range tags {
		if t == "" {
			continue
		}
		ref, err := commitRef(t, "")
		if err != nil {
			return nil, err
		}
		out = append(out, ref)
	}
	return out, nil
}

// parseDockerfile reads and parses the Dockerfile at name in the context.
func (c *buildContext) parseDockerfile(name string) (*parser.Result, error) {
	rel := cleanContextPath(name)
	f, err := c.root.Open(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalid("Cannot locate specified Dockerfile: %s", name)
		}
		return nil, invalid("%s", err.Error())
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		return nil, invalid("failed to parse dockerfile: %v", err)
	}
	if len(res.AST.Children) == 0 {
		return nil, invalid("the Dockerfile (%s) cannot be empty", name)
	}
	return res, nil
}

// cleanContextPath makes p relative to the context root ("." for the
// root itself), never leaving it.
func cleanContextPath(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// builder is one classic build's state.
type builder struct {
	d    *Daemon
	ctx  context.Context
	out  build.Progress
	opts build.Options
	bctx *buildContext
	tmp  string
	lex  *shell.Lex

	steps, step int
	// imageID and cfg are the current stage's image and config.
	imageID string
	cfg     *container.Config
	author  string
	// cmdSet: CMD was set in this stage (an ENTRYPOINT then keeps it).
	cmdSet bool
	// globalArgs are ARGs before the first FROM; args those in the stage.
	globalArgs, args map[string]string
	usedArgs         map[string]bool
	// stages are the finished stages' images by name and index.
	stages    map[string]string
	stageName string
	nstage    int
}

// printf sends a {"stream":...} line unless the build is quiet.
func (b *builder) printf(format string, a ...any) {
	if b.opts.Quiet {
		return
	}
	_ = b.out.Send(jsonMessage{Stream: fmt.Sprintf(format, a...)})
}

// run dispatches each instruction and returns the final image's ID.
func (b *builder) run(nodes []*parser.Node) (string, error) {
	for _, n := range nodes {
		if err := b.ctx.Err(); err != nil {
			return "", err
		}
		instr := strings.ToLower(n.Value)
		if instr == "from" && b.imageID != "" && b.opts.Target != "" && b.stageName == strings.ToLower(b.opts.Target) {
			break
		}
		b.step++
		b.printf("Step %d/%d : %s\n", b.step, b.steps, n.Original)
		if err := b.dispatch(instr, n); err != nil {
			return "", err
		}
		if b.imageID != "" {
			b.printf(" ---> %s\n", shortID(b.imageID))
		}
	}
	if b.imageID == "" {
		return "", invalid("No image was generated. Is your Dockerfile empty?")
	}
	if b.opts.Target != "" && b.stageName != strings.ToLower(b.opts.Target) {
		return "", invalid("failed to reach build target %s in Dockerfile", b.opts.Target)
	}
	if len(b.opts.Labels) > 0 {
		if b.cfg.Labels == nil {
			b.cfg.Labels = map[string]string{}
		}
		for k, v := range b.opts.Labels {
			b.cfg.Labels[k] = v
		}
		if err := b.commitConfig("LABEL " + labelsString(b.opts.Labels)); err != nil {
			return "", err
		}
	}
	return b.imageID, nil
}

// dispatch runs one instruction.
func (b *builder) dispatch(instr string, n *parser.Node) error {
	if b.imageID == "" && instr != "from" && instr != "arg" {
		return invalid("Please provide a source image with `from` prior to %s", instr)
	}
	switch instr {
	case "from":
		return b.from(n)
	case "arg":
		return b.arg(n)
	case "run":
		return b.runInstr(n)
	case "copy", "add":
		return b.copyInstr(instr, n)
	case "workdir":
		return b.workdir(n)
	case "env", "label", "cmd", "entrypoint", "expose", "user", "volume",
		"stopsignal", "healthcheck", "shell", "onbuild", "maintainer":
		if err := b.configInstr(instr, n); err != nil {
			return err
		}
		return b.commitConfig(n.Original)
	}
	return invalid("unknown instruction: %s", strings.ToUpper(instr))
}
