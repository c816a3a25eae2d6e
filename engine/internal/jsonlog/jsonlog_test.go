package jsonlog

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

func collect(t *testing.T, path string, opts ReadOptions) []string {
	t.Helper()
	var got []string
	err := Read(context.Background(), path, opts, func(e Entry) error {
		got = append(got, e.Stream+":"+e.Log)
		return nil
	})
	assert.NilError(t, err)
	return got
}

func TestWriteReadRotate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 300, 3)
	assert.NilError(t, err)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ {
		stream := "stdout"
		if i%2 == 1 {
			stream = "stderr"
		}
		assert.NilError(t, w.Write(stream, base.Add(time.Duration(i)*time.Second), []byte(fmt.Sprintf("line %d\n", i))))
	}
	assert.NilError(t, w.Close())
	assert.Equal(t, len(Files(path)), 3)

	all := collect(t, path, ReadOptions{Tail: -1})
	// Rotation keeps the newest entries, in order.
	assert.Equal(t, all[len(all)-1], "stderr:line 19\n")
	assert.Assert(t, len(all) < 20)

	tests := []struct {
		name string
		opts ReadOptions
		want []string
	}{
		{name: "tail", opts: ReadOptions{Tail: 2}, want: []string{"stdout:line 18\n", "stderr:line 19\n"}},
		{name: "tail zero", opts: ReadOptions{Tail: 0}, want: nil},
		{name: "since", opts: ReadOptions{Tail: -1, Since: base.Add(18 * time.Second)}, want: []string{"stdout:line 18\n", "stderr:line 19\n"}},
		{name: "until", opts: ReadOptions{Tail: 1, Until: base.Add(19 * time.Second)}, want: []string{"stdout:line 18\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.DeepEqual(t, collect(t, path, tc.opts), tc.want)
		})
	}
}

func TestFollow(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0, 1)
	assert.NilError(t, err)
	assert.NilError(t, w.Write("stdout", time.Now(), []byte("before\n")))
	done := make(chan struct{})
	got := make(chan string, 10)
	errc := make(chan error, 1)
	go func() {
		errc <- Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true, Done: done}, func(e Entry) error {
			got <- e.Log
			return nil
		})
	}()
	assert.Equal(t, <-got, "before\n")
	assert.NilError(t, w.Write("stdout", time.Now(), []byte("after\n")))
	assert.Equal(t, <-got, "after\n")
	assert.NilError(t, w.Write("stdout", time.Now(), []byte("last\n")))
	close(done)
	assert.NilError(t, <-errc)
	assert.Equal(t, <-got, "last\n")
}
