package busybox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"gotest.tools/v3/assert"
)

// PushOption configures PushImage.
type PushOption func(*pushConfig)

type pushConfig struct {
	user, pass string
}

// WithBasicAuth sends HTTP Basic credentials with every registry request.
func WithBasicAuth(user, pass string) PushOption {
	return func(c *pushConfig) { c.user, c.pass = user, pass }
}

// PushImage pushes img to ref with the registry v2 protocol (monolithic blob
// uploads, then the manifest under the tag).
//
// It is a small client of its own rather than ggcr's remote package: remote
// pulls in ggcr's authn keychain and with it github.com/docker/cli, which the
// module does not otherwise need. Only plain-HTTP registries (localhost,
// 127.0.0.1) are supported, which is all tests use.
func PushImage(t testing.TB, img v1.Image, ref string, opts ...PushOption) {
	t.Helper()
	cfg := &pushConfig{}
	for _, o := range opts {
		o(cfg)
	}
	r, err := name.ParseReference(ref)
	assert.NilError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := &pusher{
		ctx:  ctx,
		cfg:  cfg,
		base: (&url.URL{Scheme: r.Context().Scheme(), Host: r.Context().RegistryStr()}).String(),
		repo: r.Context().RepositoryStr(),
	}
	assert.NilError(t, p.push(img, r.Identifier()), "push %s", ref)
}

type pusher struct {
	ctx  context.Context
	cfg  *pushConfig
	base string
	repo string
}

func (p *pusher) push(img v1.Image, identifier string) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := p.blob(d, data); err != nil {
			return err
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := p.blob(cfgName, rawCfg); err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	resp, err := p.do(http.MethodPut, p.base+"/v2/"+p.repo+"/manifests/"+identifier, string(mt), raw)
	if err != nil {
		return err
	}
	return expect(resp, http.StatusCreated, "put manifest")
}

func (p *pusher) blob(d v1.Hash, data []byte) error {
	resp, err := p.do(http.MethodHead, p.base+"/v2/"+p.repo+"/blobs/"+d.String(), "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	resp, err = p.do(http.MethodPost, p.base+"/v2/"+p.repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return err
	}
	if err := expect(resp, http.StatusAccepted, "start upload"); err != nil {
		return err
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	resp, err = p.do(http.MethodPut, loc.String(), "application/octet-stream", data)
	if err != nil {
		return err
	}
	return expect(resp, http.StatusCreated, "upload "+d.String())
}

func (p *pusher) do(method, u, contentType string, body []byte) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(p.ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if p.cfg.user != "" {
		req.SetBasicAuth(p.cfg.user, p.cfg.pass)
	}
	return http.DefaultClient.Do(req)
}

func expect(resp *http.Response, code int, what string) error {
	defer resp.Body.Close()
	if resp.StatusCode == code {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return fmt.Errorf("%s: HTTP %d (want %d): %s", what, resp.StatusCode, code, strings.TrimSpace(string(b)))
}
