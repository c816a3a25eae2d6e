package daemon

import (
	"testing"

	"gotest.tools/v3/assert"
)

func TestOurRaces(t *testing.T) {
	known := `
==================
WARNING: DATA RACE
Write at 0x00c000a44fd0 by goroutine 822:
  github.com/moby/buildkit/frontend/dockerfile/builder.(*withResolveCache).ResolveImageConfig()
      /x/resolvecache.go:30 +0x64

Previous write at 0x00c000a44fd0 by goroutine 821:
  github.com/moby/buildkit/frontend/dockerfile/builder.(*withResolveCache).ResolveImageConfig()
      /x/resolvecache.go:30 +0x64
==================
`
	ours := `
==================
WARNING: DATA RACE
Read at 0x00c000a44fd0 by goroutine 12:
  github.com/hyperbox/hyperbox/engine.(*Engine).Start()
      /x/start.go:30 +0x64

Previous write at 0x00c000a44fd0 by goroutine 821:
  github.com/moby/buildkit/frontend/dockerfile/builder.(*withResolveCache).ResolveImageConfig()
      /x/resolvecache.go:30 +0x64

Goroutine 821 (running) created at:
  github.com/hyperbox/hyperbox/engine/builder.(*Builder).ServeGRPC()
      /x/builder.go:1 +0x1
==================
`
	assert.Equal(t, len(ourRaces(known)), 0)
	assert.Equal(t, len(ourRaces(known+ours)), 1)
	assert.Equal(t, len(ourRaces("no races")), 0)
}
