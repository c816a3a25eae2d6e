package compose

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// Data in a named volume survives `down` (without -v) and the next `up`;
// `down -v` removes the volume.
func TestComposeNamedVolumeSurvivesDown(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "volume")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	mark := "persisted-" + hex.EncodeToString(b)
	volume := p.name + "_data"
	projectVolumes := func() []string {
		return lines(d.Cmd(t, "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+p.name).Stdout())
	}

	p.ok(t, "up", "-d", "--wait")
	p.ok(t, "exec", "-T", "app", "sh", "-c", "echo "+mark+" > /data/f")
	assert.Check(t, is.Equal(inspect(t, d, `{{index .Labels "com.docker.compose.volume"}}`, volume), "data"))

	p.ok(t, "down")
	assert.Check(t, is.Len(lines(p.ok(t, "ps", "-a", "-q").Stdout()), 0))
	assert.Check(t, is.DeepEqual(projectVolumes(), []string{volume}))

	p.ok(t, "up", "-d", "--wait")
	res := p.ok(t, "exec", "-T", "app", "cat", "/data/f")
	assert.Check(t, is.Equal(res.Stdout(), mark+"\n"))

	p.ok(t, "down", "-v")
	assert.Check(t, is.Len(projectVolumes(), 0))
}
