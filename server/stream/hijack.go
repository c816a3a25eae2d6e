// Package stream implements the long-lived responses of the Engine API:
// hijacked connections (attach, exec), stdcopy framing, flushing writers and
// JSON progress streams.
package stream

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// Content types of hijacked streams (API 1.42+ clients read them).
const (
	MediaTypeRawStream         = "application/vnd.docker.raw-stream"
	MediaTypeMultiplexedStream = "application/vnd.docker.multiplexed-stream"
)

// Conn is a hijacked client connection. Reads come from the client (stdin);
// Done is closed when the client hangs up (the request context no longer
// reports that once the connection is hijacked).
type Conn struct {
	net.Conn
	r    *bufio.Reader
	done chan struct{}
	once sync.Once
}

// Read reads client input (including bytes buffered during the handshake).
func (c *Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Close closes the connection.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when the transport allows it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Context returns a context cancelled when the client hangs up or parent ends.
func (c *Conn) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Hijack takes over the connection and writes the handshake dockerd writes:
// "101 UPGRADED" when the client asked for an upgrade (Go clients require
// it), otherwise a bare "200 OK" with no length or chunking.
func Hijack(w http.ResponseWriter, r *http.Request, contentType string) (*Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, fmt.Errorf("connection cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	// Discard any deadline the server set for ordinary requests.
	_ = nc.SetDeadline(timeZero)
	var hdr string
	if upgrade := r.Header.Get("Upgrade"); upgrade != "" || strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
		proto := upgrade
		if proto == "" {
			proto = "tcp"
		}
		hdr = fmt.Sprintf("HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", contentType, proto)
	} else {
		hdr = fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", contentType)
	}
	if _, err := io.WriteString(nc, hdr); err != nil {
		nc.Close()
		return nil, err
	}
	c := &Conn{Conn: nc, r: brw.Reader, done: make(chan struct{})}
	return c, nil
}
