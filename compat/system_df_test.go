package compat

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestLayerUsage(t *testing.T) {
	t.Parallel()
	base := dfLayer{key: "sha256:base", size: 100}
	cases := []struct {
		name       string
		images     map[string][]dfLayer
		wantTotal  int64
		wantShared map[string]int64
	}{
		{name: "no images", images: map[string][]dfLayer{}, wantTotal: 0, wantShared: map[string]int64{}},
		{
			name:       "one image",
			images:     map[string][]dfLayer{"a": {base, {key: "sha256:a1", size: 5}}},
			wantTotal:  105,
			wantShared: map[string]int64{"a": 0},
		},
		{
			name: "two images on one base",
			images: map[string][]dfLayer{
				"a": {base, {key: "sha256:a1", size: 5}},
				"b": {base, {key: "sha256:b1", size: 7}},
			},
			wantTotal:  112,
			wantShared: map[string]int64{"a": 100, "b": 100},
		},
		{
			name: "base image and a child",
			images: map[string][]dfLayer{
				"base":  {base},
				"child": {base, {key: "sha256:c1", size: 3}},
				"other": {{key: "image/other", size: 50}},
				"empty": nil,
			},
			wantTotal:  153,
			wantShared: map[string]int64{"base": 100, "child": 100, "other": 0, "empty": 0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			total, shared := layerUsage(tc.images)
			assert.Check(t, is.Equal(total, tc.wantTotal))
			assert.Check(t, is.DeepEqual(shared, tc.wantShared))
		})
	}
}
