package compat

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hyperbox/hyperbox/server/routes/images"
)

// ImageImport answers POST /images/create?fromSrc= (docker import). The
// source is "-" (the request body); URLs are not fetched.
func (d *Daemon) ImageImport(ctx context.Context, opts images.ImportOptions, out images.Progress) error {
	if opts.Source != "-" {
		return notImplemented("importing from a URL (fromSrc other than -)")
	}
	ref := ""
	if opts.Repo != "" {
		named, err := reference.ParseNormalizedNamed(opts.Repo)
		if err != nil {
			return invalid("invalid reference format: %s", opts.Repo)
		}
		if opts.Tag != "" {
			if named, err = reference.WithTag(reference.TrimNamed(named), opts.Tag); err != nil {
				return invalid("invalid tag format: %s", opts.Tag)
			}
		}
		ref = reference.TagNameOnly(named).String()
	}
	cfg, err := parseChanges(opts.Changes)
	if err != nil {
		return err
	}
	body, err := decompress(opts.Body)
	if err != nil {
		return invalid("invalid import source: %v", err)
	}
	img, err := d.store.Import(ctx, body, ref, cfg, opts.Message)
	if err != nil {
		return err
	}
	// dockerd tags first (a tag event), then logs import with the image ID.
	if ref != "" {
		d.imageEvent("tag", img.ID.String(), familiar(ref), img.Config.Config.Labels)
	}
	d.imageEvent("import", img.ID.String(), img.ID.String(), img.Config.Config.Labels)
	return out.Send(jsonMessage{Status: img.ID.String()})
}

// decompress accepts a plain or gzip-compressed tar.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(512)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

// parseChanges applies Dockerfile instructions given with --change.
func parseChanges(changes []string) (ocispec.ImageConfig, error) {
	var cfg ocispec.ImageConfig
	for _, ch := range changes {
		ch = strings.TrimSpace(ch)
		if ch == "" {
			continue
		}
		instr, rest, _ := strings.Cut(ch, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = parseExecOrShell(rest)
		case "ENTRYPOINT":
			cfg.Entrypoint = parseExecOrShell(rest)
		case "ENV":
			pairs, err := keyValues(rest)
			if err != nil {
				return cfg, err
			}
			for _, kv := range pairs {
				cfg.Env = append(cfg.Env, kv[0]+"="+kv[1])
			}
		case "WORKDIR":
			cfg.WorkingDir = rest
		case "USER":
			cfg.User = rest
		case "LABEL":
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			pairs, err := keyValues(rest)
			if err != nil {
				return cfg, err
			}
			for _, kv := range pairs {
				cfg.Labels[kv[0]] = kv[1]
			}
		case "STOPSIGNAL":
			cfg.StopSignal = rest
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "VOLUME":
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			// ["/a","/b"] or "/a /b": a list of paths, never a shell command.
			vols, err := volumePaths(rest)
			if err != nil {
				return cfg, err
			}
			for _, v := range vols {
				cfg.Volumes[v] = struct{}{}
			}
		default:
			return cfg, invalid("%s is not a valid change command", strings.ToLower(instr))
		}
	}
	return cfg, nil
}

// volumePaths reads VOLUME's arguments: ["/a","/b"] or "/a /b" (a list of
// paths, never a shell command).
func volumePaths(s string) ([]string, error) {
	var vols []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &vols) == nil {
		return vols, nil
	}
	return words(s)
}

// parseExecOrShell reads ["a","b"] (exec form) or a shell command line.
func parseExecOrShell(s string) []string {
	var exec []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &exec) == nil {
		return exec
	}
	return []string{"/bin/sh", "-c", s}
}

// words splits a Dockerfile argument list on blanks, keeping quoted parts
// ("two words", 'x y') together and removing the quotes.
func words(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, invalid("unmatched quote in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// keyValues reads ENV/LABEL arguments: "k=v k2=\"v 2\"" or the legacy
// single pair "k v w" (value is the rest of the line).
func keyValues(s string) ([][2]string, error) {
	ws, err := words(s)
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, invalid("missing key=value")
	}
	if !strings.Contains(ws[0], "=") {
		k, v, _ := strings.Cut(strings.TrimSpace(s), " ")
		return [][2]string{{k, strings.Trim(strings.TrimSpace(v), `"`)}}, nil
	}
	var out [][2]string
	for _, w := range ws {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, invalid("syntax error - can't find = in %q. Must be of the form: name=value", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}
