package compat

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/hyperbox/hyperbox/server/routes/images"
	"github.com/hyperbox/hyperbox/storage"
)

// builtinArgs may be passed with --build-arg without an ARG (dockerd's
// proxy variables) and are never reported as unused.
var builtinArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// buildEnv is what variables expand against: the config's Env, then the
// ARGs in scope that Env does not set.
type buildEnv []string

func (e buildEnv) Get(k string) (string, bool) {
	for i := len(e) - 1; i >= 0; i-- {
		if ek, v, _ := strings.Cut(e[i], "="); ek == k {
			return v, true
		}
	}
	return "", false
}

func (e buildEnv) Keys() []string {
	keys := make([]string, 0, len(e))
	for _, kv := range e {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	return keys
}

// env is the expansion (and RUN) environment: args first so Env wins.
func (b *builder) env() buildEnv {
	var out buildEnv
	args := b.globalArgs
	if b.imageID != "" {
		args = b.args
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		out = append(out, k+"="+args[k])
	}
	if b.cfg != nil {
		out = append(out, b.cfg.Env...)
	}
	return out
}

// expand substitutes $VAR and ${VAR} in word (and removes quoting).
func (b *builder) expand(word string) (string, error) {
	s, _, err := b.lex.ProcessWord(word, b.env())
	if err != nil {
		return "", invalid("%v", err)
	}
	return s, nil
}

// expandMeta substitutes $VAR and ${VAR} in word with the global ARGs
// (those before the first FROM) only: what FROM sees.
func (b *builder) expandMeta(word string) (string, error) {
	var env buildEnv
	for _, k := range slices.Sorted(maps.Keys(b.globalArgs)) {
		env = append(env, k+"="+b.globalArgs[k])
	}
	s, _, err := b.lex.ProcessWord(word, env)
	if err != nil {
		return "", invalid("%v", err)
	}
	return s, nil
}

// values are the arguments of n (the parser's Next chain).
func values(n *parser.Node) []string {
	var out []string
	for c := n.Next; c != nil; c = c.Next {
		out = append(out, c.Value)
	}
	return out
}

// rest is an instruction's text after its keyword.
func rest(n *parser.Node) string {
	s := strings.TrimSpace(n.Original)
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return strings.TrimSpace(s[i:])
	}
	return ""
}

// from starts a stage: FROM image [AS name]. The image is a previous
// stage, a local image, or pulled as `docker pull` would.
func (b *builder) from(n *parser.Node) error {
	v := values(n)
	if len(v) == 0 {
		return invalid("FROM requires either one or three arguments")
	}
	if b.imageID != "" {
		b.stages[strconv.Itoa(b.nstage)] = b.imageID
		if b.stageName != "" {
			b.stages[b.stageName] = b.imageID
		}
		b.nstage++
	}
	// FROM expands against the ARGs before the first FROM only, not the
	// previous stage's ARGs or ENV (dockerd's builder and BuildKit alike).
	name, err := b.expandMeta(v[0])
	if err != nil {
		return err
	}
	b.stageName = ""
	if len(v) == 3 && strings.EqualFold(v[1], "as") {
		b.stageName = strings.ToLower(v[2])
	}
	b.args = map[string]string{}
	b.cmdSet = false
	b.author = ""
	id, ok := b.stages[strings.ToLower(name)]
	if !ok {
		if id, err = b.baseImage(name); err != nil {
			return err
		}
	}
	img, err := b.d.store.Get(b.ctx, id)
	if err != nil {
		return err
	}
	b.imageID = img.ID.String()
	b.cfg = configFromImage(&img)
	// The base image's ONBUILD triggers run now, in order; the new image
	// does not inherit them.
	triggers := b.cfg.OnBuild
	b.cfg.OnBuild = nil
	return b.runTriggers(triggers)
}

// runTriggers runs ONBUILD triggers as dockerd's classic builder does.
func (b *builder) runTriggers(triggers []string) error {
	if len(triggers) == 0 {
		return nil
	}
	plural := ""
	if len(triggers) > 1 {
		plural = "s"
	}
	b.printf("# Executing %d build trigger%s\n", len(triggers), plural)
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil {
			return invalid("ONBUILD trigger %q: %v", t, err)
		}
		for _, n := range res.AST.Children {
			instr := strings.ToLower(n.Value)
			switch instr {
			case "onbuild":
				return invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
			case "from", "maintainer":
				return invalid("%s isn't allowed as an ONBUILD trigger", strings.ToUpper(instr))
			}
			if err := b.dispatch(instr, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// baseImage resolves a FROM image, pulling it when it is not local (or
// always with pull=1).
func (b *builder) baseImage(name string) (string, error) {
	if strings.EqualFold(name, "scratch") {
		return "", notImplemented("FROM scratch")
	}
	if !b.opts.Pull {
		img, err := b.d.store.Get(b.ctx, lookupName(name))
		if err == nil {
			return img.ID.String(), nil
		}
		if !errdefs.IsNotFound(err) {
			return "", err
		}
	}
	named, err := normalizeRef(name)
	if err != nil {
		return "", invalid("invalid reference format: %s", name)
	}
	if err := b.d.ImagePull(b.ctx, images.PullOptions{FromImage: named.String()}, b.out); err != nil {
		return "", err
	}
	img, err := b.d.store.Get(b.ctx, lookupName(name))
	if err != nil {
		return "", err
	}
	return img.ID.String(), nil
}

// arg declares a build argument: its value is the buildargs one, else
// the default, else (inside a stage) the global ARG's.
func (b *builder) arg(n *parser.Node) error {
	for _, kv := range values(n) {
		k, def, hasDef := strings.Cut(kv, "=")
		val := ""
		if hasDef {
			var err error
			if val, err = b.expand(def); err != nil {
				return err
			}
		} else if g, ok := b.globalArgs[k]; ok && b.imageID != "" {
			val = g
		}
		if v, ok := b.opts.BuildArgs[k]; ok {
			b.usedArgs[k] = true
			if v != nil {
				val = *v
			}
		}
		if b.imageID == "" {
			if b.globalArgs == nil {
				b.globalArgs = map[string]string{}
			}
			b.globalArgs[k] = val
		} else {
			b.args[k] = val
		}
	}
	return nil
}

// warnUnusedArgs prints dockerd's warning for build args no ARG used.
func (b *builder) warnUnusedArgs() {
	var unused []string
	for k := range b.opts.BuildArgs {
		if !b.usedArgs[k] && !builtinArgs[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		b.printf("[Warning] One or more build-args [%s] were not consumed\n", strings.Join(unused, " "))
	}
}

// configInstr applies a config-only instruction to b.cfg.
func (b *builder) configInstr(instr string, n *parser.Node) error {
	v := values(n)
	switch instr {
	case "env", "label":
		return b.keyValues(instr, v)
	case "cmd", "entrypoint":
		cmd := v
		if !n.Attributes["json"] {
			cmd = append(slices.Clone(b.shell()), strings.Join(v, " "))
		}
		if instr == "cmd" {
			b.cfg.Cmd = cmd
			b.cmdSet = true
		} else {
			b.cfg.Entrypoint = cmd
			if !b.cmdSet {
				b.cfg.Cmd = nil
			}
		}
	case "shell":
		if !n.Attributes["json"] {
			return invalid("SHELL requires the arguments to be in JSON form")
		}
		b.cfg.Shell = v
	case "expose":
		return b.expose(v)
	case "user", "stopsignal", "maintainer":
		if len(v) == 0 {
			return invalid("%s requires exactly one argument", strings.ToUpper(instr))
		}
		s, err := b.expand(strings.Join(v, " "))
		if err != nil {
			return err
		}
		switch instr {
		case "user":
			b.cfg.User = s
		case "stopsignal":
			b.cfg.StopSignal = s
		default:
			b.author = s
		}
	case "volume":
		return b.volume(v)
	case "healthcheck":
		hc, err := parseHealthcheck(rest(n))
		if err != nil {
			return err
		}
		b.cfg.Healthcheck = hc
	case "onbuild":
		b.cfg.OnBuild = append(b.cfg.OnBuild, rest(n))
	}
	return nil
}

// keyValues applies ENV or LABEL pairs, expanding keys and values. The
// parser gives each pair as three nodes: key, value, separator.
func (b *builder) keyValues(instr string, v []string) error {
	if len(v) == 0 || len(v)%3 != 0 {
		return invalid("%s requires at least one argument", strings.ToUpper(instr))
	}
	for i := 0; i < len(v); i += 3 {
		k, err := b.expand(v[i])
		if err != nil {
			return err
		}
		val, err := b.expand(v[i+1])
		if err != nil {
			return err
		}
		if instr == "env" {
			b.cfg.Env = mergeEnvKeys(slices.Clone(b.cfg.Env), []string{k + "=" + val})
			continue
		}
		if b.cfg.Labels == nil {
			b.cfg.Labels = map[string]string{}
		}
		b.cfg.Labels[k] = val
	}
	return nil
}

func (b *builder) expose(v []string) error {
	for _, p := range v {
		s, err := b.expand(p)
		if err != nil {
			return err
		}
		port, err := network.ParsePort(s)
		if err != nil {
			return invalid("invalid containerPort: %s", s)
		}
		if b.cfg.ExposedPorts == nil {
			b.cfg.ExposedPorts = network.PortSet{}
		}
		b.cfg.ExposedPorts[port] = struct{}{}
	}
	return nil
}

func (b *builder) volume(v []string) error {
	for _, p := range v {
		s, err := b.expand(p)
		if err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s == "" {
			return invalid("VOLUME specified can not be an empty string")
		}
		if b.cfg.Volumes == nil {
			b.cfg.Volumes = map[string]struct{}{}
		}
		b.cfg.Volumes[s] = struct{}{}
	}
	return nil
}

// shell is the shell of shell-form instructions.
func (b *builder) shell() []string {
	if len(b.cfg.Shell) > 0 {
		return b.cfg.Shell
	}
	return []string{"/bin/sh", "-c"}
}

// workdirPath is p made absolute against the current WORKDIR.
func (b *builder) workdirPath(p string) string {
	if !path.IsAbs(p) {
		wd := b.cfg.WorkingDir
		if wd == "" {
			wd = "/"
		}
		trailing := strings.HasSuffix(p, "/")
		p = path.Join(wd, p)
		if trailing && p != "/" {
			p += "/"
		}
	}
	return p
}

// commitConfig makes the next image: the current one with b.cfg and a
// history entry for instruction, no new layer (dockerd's "#(nop)").
func (b *builder) commitConfig(instruction string) error {
	img, err := b.d.store.Commit(b.ctx, b.imageID, nil, "", b.commitCfg("/bin/sh -c #(nop) "+instruction), "")
	if err != nil {
		return err
	}
	b.imageID = img.ID.String()
	return nil
}

// commitCfg is the image config and history entry for a step.
func (b *builder) commitCfg(createdBy string) storage.CommitConfig {
	return storage.CommitConfig{Config: imageConfig(b.cfg), Author: b.author, CreatedBy: createdBy}
}

// configFromImage is an image's config as a container config.
func configFromImage(img *storage.Image) *container.Config {
	ic := img.Config.Config
	c := &container.Config{
		User: ic.User, Env: slices.Clone(ic.Env), Entrypoint: slices.Clone(ic.Entrypoint),
		Cmd: slices.Clone(ic.Cmd), Volumes: maps.Clone(ic.Volumes), WorkingDir: ic.WorkingDir,
		Labels: maps.Clone(ic.Labels), StopSignal: ic.StopSignal, Healthcheck: ic.Healthcheck,
		OnBuild: slices.Clone(ic.OnBuild), Shell: slices.Clone(ic.Shell),
		ArgsEscaped: ic.ArgsEscaped, //nolint:staticcheck // kept as dockerd keeps it
	}
	for p := range ic.ExposedPorts {
		if port, err := network.ParsePort(p); err == nil {
			if c.ExposedPorts == nil {
				c.ExposedPorts = network.PortSet{}
			}
			c.ExposedPorts[port] = struct{}{}
		}
	}
	return c
}

// labelsString renders labels as a LABEL instruction's arguments.
func labelsString(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%q=%q", k, labels[k]))
	}
	return strings.Join(parts, " ")
}
