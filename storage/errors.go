package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
)

// notFound is the error for an image reference or ID the store cannot find.
func notFound(nameOrID string) error {
	return fmt.Errorf("image %q: %w", nameOrID, errdefs.ErrNotFound)
}

func invalidArgument(err error) error {
	if errdefs.IsInvalidArgument(err) {
		return err
	}
	return fmt.Errorf("%s: %w", err.Error(), errdefs.ErrInvalidArgument)
}

// registryError classifies an error from talking to a registry about ref:
// 401 is Unauthorized, 403 PermissionDenied, 404 NotFound, 429 and 5xx and
// unreachable registries Unavailable. The registry's own message (e.g.
// "manifest unknown") is kept in the text.
func registryError(ref string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var st remoteerrors.ErrUnexpectedStatus
	if errors.As(err, &st) {
		msg := registryMessage(st.Body)
		if msg == "" {
			msg = strings.ToLower(http.StatusText(st.StatusCode))
		}
		if class := statusClass(st.StatusCode); class != nil {
			return fmt.Errorf("%s: %s: %w", ref, msg, class)
		}
		return fmt.Errorf("%s: %s (status %d): %w", ref, msg, st.StatusCode, err)
	}
	switch {
	case errors.Is(err, docker.ErrInvalidAuthorization):
		return fmt.Errorf("%s: %v: %w", ref, err, errdefs.ErrUnauthenticated)
	case errdefs.IsNotFound(err), errdefs.IsUnauthorized(err), errdefs.IsPermissionDenied(err),
		errdefs.IsInvalidArgument(err), errdefs.IsNotImplemented(err), errdefs.IsUnavailable(err):
		return fmt.Errorf("%s: %w", ref, err)
	}
	var nerr net.Error
	var operr *net.OpError
	var dnserr *net.DNSError
	if errors.As(err, &operr) || errors.As(err, &dnserr) || errors.As(err, &nerr) {
		return fmt.Errorf("%s: %v: %w", ref, err, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", ref, err)
}

// statusClass maps a registry HTTP status to an error class, or nil.
func statusClass(code int) error {
	switch {
	case code == http.StatusUnauthorized:
		return errdefs.ErrUnauthenticated
	case code == http.StatusForbidden:
		return errdefs.ErrPermissionDenied
	case code == http.StatusNotFound:
		return errdefs.ErrNotFound
	case code == http.StatusTooManyRequests, code >= 500:
		return errdefs.ErrUnavailable
	case code == http.StatusBadRequest:
		return errdefs.ErrInvalidArgument
	}
	return nil
}

// registryMessage extracts the messages of a registry error body
// ({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}).
func registryMessage(body []byte) string {
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if len(body) == 0 || json.Unmarshal(body, &doc) != nil {
		return ""
	}
	var msgs []string
	for _, e := range doc.Errors {
		// As the distribution client formats it: "manifest unknown: …".
		m := strings.ToLower(strings.ReplaceAll(e.Code, "_", " "))
		if e.Message != "" && m != "" {
			m += ": " + e.Message
		} else if e.Message != "" {
			m = e.Message
		}
		msgs = append(msgs, m)
	}
	return strings.Join(msgs, "; ")
}
