package api

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// Attach to a created container, then start it: the hijacked stream carries
// all of its output, framed (stdcopy) without a TTY and raw with one.
func TestAttachBeforeStart(t *testing.T) {
	e := setup(t)
	maxVersion, _ := e.apiVersions(t)

	var seq strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&seq, "%d\n", i)
	}

	cases := []struct {
		name    string
		version string // path prefix version
		tty     bool
		upgrade bool
		cmd     string
		stdout  string
		stderr  string
	}{
		{
			name: "multiplexed", version: "1.41", upgrade: true,
			cmd: "echo out; echo err >&2; echo out2", stdout: "out\nout2\n", stderr: "err\n",
		},
		{
			// Output written the instant the process starts must not be lost.
			name: "no lost output", version: "1.41", upgrade: true,
			cmd: "seq 1 2000; echo done >&2", stdout: seq.String(), stderr: "done\n",
		},
		{
			name: "tty is raw", version: "1.41", upgrade: true, tty: true,
			cmd: "echo hello; echo world >&2", stdout: "hello\r\nworld\r\n",
		},
		{
			// Without an Upgrade header dockerd still hijacks, answering a bare 200.
			name: "no upgrade header", version: "1.41",
			cmd: "echo plain", stdout: "plain\n",
		},
		{
			// From API 1.42 the Content-Type says which framing the stream uses.
			name: "multiplexed at server max version", version: maxVersion, upgrade: true,
			cmd: "echo out; echo err >&2", stdout: "out\n", stderr: "err\n",
		},
		{
			name: "tty at server max version", version: maxVersion, upgrade: true, tty: true,
			cmd: "echo hi", stdout: "hi\r\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := e.create(t, container.Config{
				Cmd: []string{"sh", "-c", tc.cmd}, Tty: tc.tty,
				AttachStdout: true, AttachStderr: true,
			}, nil)

			conn := e.dial(t)
			path := "/v" + tc.version + "/containers/" + id + "/attach?stream=1&stdout=1&stderr=1"
			var hdr []string
			if tc.upgrade {
				hdr = []string{"Connection", "Upgrade", "Upgrade", "tcp"}
			}
			req := conn.send(t, http.MethodPost, path, hdr...)
			resp := conn.readHeaders(t, req, 5*time.Second)
			if tc.upgrade {
				assert.Check(t, is.Equal(resp.StatusCode, http.StatusSwitchingProtocols))
				assert.Check(t, is.Equal(resp.Header.Get("Upgrade"), "tcp"))
				assert.Check(t, is.Equal(resp.Header.Get("Connection"), "Upgrade"))
			} else {
				assert.Check(t, is.Equal(resp.StatusCode, http.StatusOK))
			}
			assert.Check(t, is.Equal(resp.Header.Get("Content-Type"), attachContentType(t, tc.version, tc.tty)))

			e.start(t, id)
			assert.NilError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
			raw, err := io.ReadAll(conn.br)
			assert.NilError(t, err, "stream did not end when the container exited")

			if tc.tty {
				assert.Check(t, len(raw) > 0 && raw[0] > 2, "TTY stream starts like a stdcopy header: %q", raw)
				assert.Check(t, is.Equal(string(raw), tc.stdout))
				return
			}
			stdout, stderr, err := demux(raw)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(stdout, tc.stdout))
			assert.Check(t, is.Equal(stderr, tc.stderr))
		})
	}
}

// attachContentType is the hijack Content-Type dockerd sends: before API 1.42
// always raw-stream; from 1.42 multiplexed-stream unless the container has a TTY.
func attachContentType(t *testing.T, version string, tty bool) string {
	t.Helper()
	if parseVersion(t, version).less(apiVersion{1, 42}) || tty {
		return "application/vnd.docker.raw-stream"
	}
	return "application/vnd.docker.multiplexed-stream"
}

// demux splits a stdcopy stream: frames of an 8-byte header
// [stream, 0, 0, 0, size uint32 big-endian] and size bytes of payload.
func demux(b []byte) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	for len(b) > 0 {
		if len(b) < 8 {
			return "", "", fmt.Errorf("truncated frame header %q", b)
		}
		stream, size := b[0], binary.BigEndian.Uint32(b[4:8])
		if b[1] != 0 || b[2] != 0 || b[3] != 0 {
			return "", "", fmt.Errorf("bad frame header % x", b[:8])
		}
		b = b[8:]
		if uint32(len(b)) < size {
			return "", "", fmt.Errorf("frame of %d bytes, %d left", size, len(b))
		}
		switch stream {
		case 1:
			out.Write(b[:size])
		case 2:
			errb.Write(b[:size])
		default:
			return "", "", errors.New("unexpected stream " + fmt.Sprint(stream))
		}
		b = b[size:]
	}
	return out.String(), errb.String(), nil
}
