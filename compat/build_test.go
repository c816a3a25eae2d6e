package compat

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestDockerignore(t *testing.T) {
	t.Parallel()
	c := &buildContext{ignore: parseDockerignore("# comment\n\n*.log\n/tmp\ndocs/**/*.md\n!docs/keep.md\n")}
	tests := []struct {
		name string
		path string
		want bool
	}{
		{name: "glob at root", path: "a.log", want: true},
		{name: "glob is not recursive", path: "sub/a.log", want: false},
		{name: "leading slash cleaned", path: "tmp", want: true},
		{name: "inside excluded dir", path: "tmp/x/y", want: true},
		{name: "double star", path: "docs/a/b/c.md", want: true},
		{name: "double star zero dirs", path: "docs/c.md", want: true},
		{name: "negation", path: "docs/keep.md", want: false},
		{name: "kept", path: "main.go", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Check(t, is.Equal(c.ignored(tc.path), tc.want))
		})
	}
}

func TestCleanContextPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "Dockerfile", want: "Dockerfile"},
		{name: "dot slash", in: "./sub/f", want: "sub/f"},
		{name: "escape attempt", in: "../../etc/passwd", want: "etc/passwd"},
		{name: "root", in: ".", want: "."},
		{name: "absolute", in: "/a/b/", want: "a/b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Check(t, is.Equal(cleanContextPath(tc.in), tc.want))
		})
	}
}

func TestBuildTags(t *testing.T) {
	t.Parallel()
	got, err := buildTags([]string{"a:1", "", "example.com/x/y"})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got, []string{"docker.io/library/a:1", "example.com/x/y:latest"}))
	_, err = buildTags([]string{"Bad:tag"})
	assert.Check(t, is.ErrorContains(err, "invalid reference format"))
}

// TestConfigInstructions runs config-only instructions through the real
// Dockerfile parser and checks the resulting config.
func TestConfigInstructions(t *testing.T) {
	t.Parallel()
	df := "ENV A=1 B=\"two words\"\n" +
		"ENV C $A-x\n" +
		"LABEL \"k 1\"=v1 k2=$B\n" +
		"CMD echo hi\n" +
		"ENTRYPOINT [\"/bin/tini\", \"--\"]\n" +
		"EXPOSE 80 53/udp\n" +
		"VOLUME /data [\"/x\"]\n" +
		"USER 1:2\n" +
		"STOPSIGNAL SIGINT\n" +
		"SHELL [\"/bin/bash\", \"-c\"]\n" +
		"HEALTHCHECK --interval=5s CMD true\n"
	res, err := parser.Parse(strings.NewReader(df))
	assert.NilError(t, err)
	b := &builder{cfg: &container.Config{Cmd: []string{"sh"}}, lex: shell.NewLex(res.EscapeToken), imageID: "x"}
	for _, n := range res.AST.Children {
		assert.NilError(t, b.configInstr(strings.ToLower(n.Value), n), n.Original)
	}
	c := b.cfg
	assert.Check(t, is.DeepEqual(c.Env, []string{"A=1", "B=two words", "C=1-x"}))
	assert.Check(t, is.DeepEqual(c.Labels, map[string]string{"k 1": "v1", "k2": "two words"}))
	// CMD set in this stage survives the later ENTRYPOINT.
	assert.Check(t, is.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "echo hi"}))
	assert.Check(t, is.DeepEqual(c.Entrypoint, []string{"/bin/tini", "--"}))
	assert.Check(t, is.Len(c.ExposedPorts, 2))
	assert.Check(t, is.Len(c.Volumes, 2))
	assert.Check(t, is.Equal(c.User, "1:2"))
	assert.Check(t, is.Equal(c.StopSignal, "SIGINT"))
	assert.Check(t, is.DeepEqual(c.Shell, []string{"/bin/bash", "-c"}))
	assert.Check(t, is.DeepEqual(c.Healthcheck.Test, []string{"CMD-SHELL", "true"}))
}

// TestEntrypointDropsInheritedCmd: an ENTRYPOINT clears the base image's
// CMD when the stage set none (dockerd's rule).
func TestEntrypointDropsInheritedCmd(t *testing.T) {
	t.Parallel()
	res, err := parser.Parse(strings.NewReader("ENTRYPOINT top -b\n"))
	assert.NilError(t, err)
	b := &builder{cfg: &container.Config{Cmd: []string{"sh"}}, lex: shell.NewLex(res.EscapeToken), imageID: "x"}
	assert.NilError(t, b.configInstr("entrypoint", res.AST.Children[0]))
	assert.Check(t, is.Nil(b.cfg.Cmd))
	assert.Check(t, is.DeepEqual(b.cfg.Entrypoint, []string{"/bin/sh", "-c", "top -b"}))
}
