// Package httputil holds the helpers every route handler uses: the handler
// shape, JSON in and out, form parsing and the single error-to-status mapping.
package httputil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// APIFunc is the shape of every handler: it returns errors instead of
// writing them.
type APIFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error

// WriteJSON writes v as JSON with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ReadJSON decodes the request body into v. An empty body leaves v as is;
// malformed JSON or wrong types are InvalidArgument.
func ReadJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
		return fmt.Errorf("unsupported Content-Type header (%s): must be 'application/json': %w", ct, errdefs.ErrInvalidArgument)
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("invalid JSON: %s: %w", err.Error(), errdefs.ErrInvalidArgument)
	}
	return nil
}

// ParseForm parses query and form values; bad encoding is InvalidArgument.
func ParseForm(r *http.Request) error {
	if r == nil {
		return nil
	}
	if err := r.ParseForm(); err != nil && !strings.HasPrefix(err.Error(), "mime:") {
		return fmt.Errorf("%s: %w", err.Error(), errdefs.ErrInvalidArgument)
	}
	return nil
}

// BoolValue reads a boolean form value the way dockerd does: anything but
// "", "0", "no", "false" and "none" is true.
func BoolValue(r *http.Request, k string) bool {
	s := strings.ToLower(strings.TrimSpace(r.FormValue(k)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// BoolValueOrDefault is BoolValue with a default when the key is absent.
func BoolValueOrDefault(r *http.Request, k string, d bool) bool {
	if _, ok := r.Form[k]; !ok {
		return d
	}
	return BoolValue(r, k)
}

// Int64ValueOrZero parses an integer form value, zero when absent or bad.
func Int64ValueOrZero(r *http.Request, k string) int64 {
	v, err := strconv.ParseInt(r.FormValue(k), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// StatusFromError maps an error class to the HTTP status dockerd uses.
func StatusFromError(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest
	case errdefs.IsConflict(err), errdefs.IsAlreadyExists(err):
		return http.StatusConflict
	case errdefs.IsNotModified(err):
		return http.StatusNotModified
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	case errdefs.IsPermissionDenied(err):
		return http.StatusForbidden
	case errdefs.IsNotImplemented(err):
		return http.StatusNotImplemented
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable
	case errdefs.IsFailedPrecondition(err):
		return http.StatusPreconditionFailed
	}
	return http.StatusInternalServerError
}

// messager lets an error carry the exact text clients see, apart from the
// wrapped chain used for classification.
type messager interface{ APIMessage() string }

// classSuffixes are the texts of the errdefs sentinels that lower layers
// wrap with "...: %w"; they classify the error but are not for users.
var classSuffixes = []error{
	errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrConflict, errdefs.ErrAlreadyExists,
	errdefs.ErrNotModified, errdefs.ErrUnauthenticated, errdefs.ErrPermissionDenied,
	errdefs.ErrNotImplemented, errdefs.ErrUnavailable, errdefs.ErrFailedPrecondition,
}

// ErrorMessage is the text sent to the client for err, without the
// trailing error-class word ("...: invalid argument").
func ErrorMessage(err error) string {
	var m messager
	if errors.As(err, &m) {
		return m.APIMessage()
	}
	msg := err.Error()
	for _, c := range classSuffixes {
		if t := ": " + c.Error(); strings.HasSuffix(msg, t) {
			return strings.TrimSuffix(msg, t)
		}
	}
	return msg
}

// WriteError writes err as dockerd does: JSON {"message": ...} with the
// mapped status; 304 has no body.
func WriteError(w http.ResponseWriter, err error) {
	code := StatusFromError(err)
	if code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{ErrorMessage(err)})
	w.Write(append(b, '\n'))
}
