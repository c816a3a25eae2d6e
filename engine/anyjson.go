package engine

import (
	"encoding/json"

	"github.com/containerd/typeurl/v2"
)

// jsonUnmarshalAny decodes a stored JSON-typed Any (the container spec).
func jsonUnmarshalAny(a typeurl.Any, v any) error {
	return json.Unmarshal(a.GetValue(), v)
}
