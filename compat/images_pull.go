package compat

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"

	"github.com/hyperbox/hyperbox/server/routes/images"
	"github.com/hyperbox/hyperbox/storage"
)

// pullRef combines fromImage and tag as dockerd does: tag may be a tag or a
// digest; without either the tag is "latest"; a trailing ':' is trimmed.
func pullRef(fromImage, tag string) (reference.Named, error) {
	fromImage = strings.TrimSuffix(fromImage, ":")
	named, err := reference.ParseNormalizedNamed(fromImage)
	if err != nil {
		return nil, invalid("invalid reference format: %s", fromImage)
	}
	if tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			named, err = reference.WithDigest(reference.TrimNamed(named), digestOf(tag))
		} else {
			named, err = reference.WithTag(reference.TrimNamed(named), tag)
		}
		if err != nil {
			return nil, invalid("invalid reference format: %v", err)
		}
	}
	return reference.TagNameOnly(named), nil
}

// ImagePull answers POST /images/create?fromImage=.
func (d *Daemon) ImagePull(ctx context.Context, opts images.PullOptions, out images.Progress) error {
	named, err := pullRef(opts.FromImage, opts.Tag)
	if err != nil {
		return err
	}
	tagOrDigest := ""
	switch r := named.(type) {
	case reference.Canonical:
		tagOrDigest = r.Digest().String()
	case reference.Tagged:
		tagOrDigest = r.Tag()
	}
	started := false
	res, err := d.store.Pull(ctx, named.String(), toStorageAuth(opts.Auth), opts.Platform, func(p storage.Progress) {
		if !started {
			started = true
			_ = out.Send(jsonMessage{Status: "Pulling from " + reference.Path(named), ID: tagOrDigest})
		}
		pullProgress(out)(p)
	})
	if err != nil {
		return pullError(named, opts.Auth, err)
	}
	if !started {
		_ = out.Send(jsonMessage{Status: "Pulling from " + reference.Path(named), ID: tagOrDigest})
	}
	// dockerd logs a pull event for every successful pull, up to date or
	// not: ID is the reference ("busybox:latest"), name the repository.
	d.imageEvent("pull", reference.FamiliarString(named), reference.FamiliarName(named), res.Image.Config.Config.Labels)
	_ = out.Send(jsonMessage{Status: "Digest: " + res.Digest.String()})
	if res.Updated {
		return out.Send(jsonMessage{Status: "Status: Downloaded newer image for " + reference.FamiliarString(named)})
	}
	return out.Send(jsonMessage{Status: "Status: Image is up to date for " + reference.FamiliarString(named)})
}

// pullError words registry failures the way the docker CLI shows them.
func pullError(named reference.Named, auth *registry.AuthConfig, err error) error {
	name := reference.FamiliarName(named)
	switch {
	case errdefs.IsUnauthorized(err) && (auth == nil || auth.Username == "" && auth.IdentityToken == "" && auth.RegistryToken == ""):
		// dockerd's wording when the registry wants credentials and the
		// client sent none.
		return errdefs.ErrUnknown.WithMessage(fmt.Sprintf("pull access denied for %s: no basic auth credentials", name))
	case errdefs.IsNotFound(err):
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("manifest for %s not found: %v", reference.FamiliarString(named), err))
	case errdefs.IsUnauthorized(err), errdefs.IsPermissionDenied(err):
		// dockerd reports missing or refused credentials on pull as a
		// plain (500) error; a 401 would make the CLI prompt for a login.
		return errdefs.ErrUnknown.WithMessage(fmt.Sprintf("pull access denied for %s, repository does not exist or may require 'docker login': %v", name, err))
	}
	return err
}
