package main

import (
	"bufio"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c config) {
			assert.Check(t, is.Equal(c.port, "8080"))
			assert.Check(t, is.Equal(c.connectionTimeout, time.Minute))
			assert.Check(t, is.Equal(c.reconnectionTimeout, 10*time.Second))
			assert.Check(t, is.Equal(c.removeRetries, 10))
			assert.Check(t, !c.verbose)
		}},
		{name: "as testcontainers-go sets them", env: map[string]string{
			"RYUK_CONNECTION_TIMEOUT": "30s", "RYUK_RECONNECTION_TIMEOUT": "3s", "RYUK_VERBOSE": "true", "RYUK_PORT": "9000",
		}, check: func(t *testing.T, c config) {
			assert.Check(t, is.Equal(c.port, "9000"))
			assert.Check(t, is.Equal(c.connectionTimeout, 30*time.Second))
			assert.Check(t, is.Equal(c.reconnectionTimeout, 3*time.Second))
			assert.Check(t, c.verbose)
		}},
		{name: "whole seconds", env: map[string]string{"RYUK_RECONNECTION_TIMEOUT": "5"}, check: func(t *testing.T, c config) {
			assert.Check(t, is.Equal(c.reconnectionTimeout, 5*time.Second))
		}},
		{name: "bad duration", env: map[string]string{"RYUK_CONNECTION_TIMEOUT": "soon"}, wantErr: "RYUK_CONNECTION_TIMEOUT"},
		{name: "bad port", env: map[string]string{"RYUK_PORT": "0"}, wantErr: "RYUK_PORT"},
		{name: "bad retries", env: map[string]string{"RYUK_REMOVE_RETRIES": "-1"}, wantErr: "RYUK_REMOVE_RETRIES"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"RYUK_PORT", "RYUK_CONNECTION_TIMEOUT", "RYUK_RECONNECTION_TIMEOUT", "RYUK_REQUEST_TIMEOUT",
				"RYUK_REMOVE_RETRIES", "RYUK_RETRY_DELAY", "RYUK_SHUTDOWN_TIMEOUT", "RYUK_VERBOSE"} {
				t.Setenv(k, tc.env[k])
			}
			c, err := loadConfig()
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			tc.check(t, c)
		})
	}
}

// TestProtocol: filter lines as testcontainers-go v0.45.0 sends them are
// acknowledged one by one, deduplicated, and become Docker label filters;
// connection events drive the session timer.
func TestProtocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	defer ln.Close()
	r := &registry{filters: map[string]url.Values{}}
	events := make(chan int, 10)
	go r.accept(ln, events)

	conn, err := net.Dial("tcp", ln.Addr().String())
	assert.NilError(t, err)
	_, err = conn.Write([]byte("label=org.testcontainers=true&label=org.testcontainers.sessionId=abc\nlabel=x=y\nlabel=x=y\n"))
	assert.NilError(t, err)
	br := bufio.NewReader(conn)
	for range 3 {
		line, err := br.ReadString('\n')
		assert.NilError(t, err)
		assert.Equal(t, line, "ACK\n")
	}
	assert.Equal(t, <-events, 1)
	conn.Close()
	assert.Equal(t, <-events, -1)

	got := r.snapshot()
	assert.Assert(t, is.Len(got, 2))
	assert.Check(t, got[0]["label"]["org.testcontainers=true"])
	assert.Check(t, got[0]["label"]["org.testcontainers.sessionId=abc"])
	assert.Check(t, got[1]["label"]["x=y"])
}

func TestWaitForSession(t *testing.T) {
	cfg := config{connectionTimeout: 50 * time.Millisecond, reconnectionTimeout: 50 * time.Millisecond}
	events := make(chan int)
	sigs := make(chan os.Signal)
	// Nobody connects: no reaping.
	assert.Check(t, !waitForSession(cfg, events, sigs))
	// A client comes and goes, another reconnects within the grace period.
	done := make(chan bool)
	go func() { done <- waitForSession(cfg, events, sigs) }()
	events <- 1
	events <- -1
	time.Sleep(20 * time.Millisecond)
	events <- 1
	select {
	case <-done:
		t.Fatal("reaped while a client was connected")
	case <-time.After(150 * time.Millisecond):
	}
	events <- -1
	assert.Check(t, <-done)
}
