package compat

import (
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// normalizeRef turns what a user typed ("busybox", "localhost:5000/a/b:v1",
// "x@sha256:...") into the fully qualified reference the store keys on,
// adding ":latest" when there is neither tag nor digest.
func normalizeRef(s string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, invalid("invalid reference format: %s", s)
	}
	return reference.TagNameOnly(named), nil
}

// lookupName returns the key to resolve an image by: an ID stays as is,
// a reference is normalized.
func lookupName(s string) string {
	if isIDLike(s) {
		return s
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return reference.TagNameOnly(named).String()
}

// isIDLike reports whether s looks like an image ID or ID prefix.
func isIDLike(s string) bool {
	if strings.HasPrefix(s, "sha256:") {
		return true
	}
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	// A short hex string may also be a repository name ("cafe"); dockerd
	// prefers the name when it exists, the store tries both.
	return len(s) == 64
}

// familiar shortens a fully qualified reference for display
// ("docker.io/library/busybox:latest" -> "busybox:latest").
func familiar(s string) string {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return reference.FamiliarString(named)
}

// shortID is the 12-hex form of an ID.
func shortID(id string) string {
	id = strings.TrimPrefix(id, string(digest.SHA256)+":")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
