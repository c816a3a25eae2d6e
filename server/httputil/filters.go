package httputil

import (
	"encoding/json"
	"fmt"

	"github.com/containerd/errdefs"
)

// ParseFilters decodes a filters query value in either encoding clients
// send: {"label":{"a=b":true}} (current) or {"label":["a=b"]} (legacy,
// dockerode and old clients). An empty value is no filter.
func ParseFilters(s string) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	if s == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err == nil {
		return out, nil
	}
	var legacy map[string][]string
	if err := json.Unmarshal([]byte(s), &legacy); err != nil {
		return nil, fmt.Errorf("invalid filter: %s: %w", err.Error(), errdefs.ErrInvalidArgument)
	}
	out = map[string]map[string]bool{}
	for k, vs := range legacy {
		out[k] = map[string]bool{}
		for _, v := range vs {
			out[k][v] = true
		}
	}
	return out, nil
}
