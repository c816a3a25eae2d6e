// Command reaper is the test suite's own resource reaper: a small program that
// speaks the protocol testcontainers-go v0.45.0 uses with Ryuk, so the suite
// can run the reaper flow without a checkout of github.com/testcontainers/moby-ryuk
// (which the Go module proxy does not serve). It is written from
// testcontainers-go's client side (reaper.go) and Ryuk's documented settings;
// it shares no code with Ryuk.
//
// Protocol: it listens on TCP (RYUK_PORT, default 8080) and logs a line
// containing "Started" once the listener is bound (testcontainers-go waits for
// that log and for the port). Each client connection sends lines of
// URL-query-encoded Docker filters ("label=k=v&label=k2=v2"); every line is
// registered and answered with "ACK\n". When the last connection has closed
// and none arrives within RYUK_RECONNECTION_TIMEOUT, the listener closes and
// everything matching any registered filter is removed through the Docker API
// (DOCKER_HOST, default the socket mounted at /var/run/docker.sock):
// containers (forced, with their anonymous volumes), then networks, volumes
// and images, in rounds until nothing matching is left or RYUK_REMOVE_RETRIES
// rounds have run. Then it exits.
//
// Settings (environment, durations as Go durations or whole seconds):
//
//	RYUK_PORT                  listening port (8080)
//	RYUK_CONNECTION_TIMEOUT    exit if no client connects in this time (60s)
//	RYUK_RECONNECTION_TIMEOUT  grace period after the last client left (10s)
//	RYUK_REQUEST_TIMEOUT       bound on each Docker API call (10s)
//	RYUK_REMOVE_RETRIES        removal rounds (10)
//	RYUK_RETRY_DELAY           pause between rounds (1s)
//	RYUK_SHUTDOWN_TIMEOUT      bound on the whole removal (10m)
//	RYUK_VERBOSE               log every filter and removal (false)
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// config is the reaper's settings, read from the RYUK_* environment.
type config struct {
	port                string
	connectionTimeout   time.Duration
	reconnectionTimeout time.Duration
	requestTimeout      time.Duration
	removeRetries       int
	retryDelay          time.Duration
	shutdownTimeout     time.Duration
	verbose             bool
}

func loadConfig() (config, error) {
	var errs []error
	dur := func(key string, def time.Duration) time.Duration {
		v := strings.TrimSpace(os.Getenv(key))
		if v == "" {
			return def
		}
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: not a duration", key, v))
			return def
		}
		return d
	}
	c := config{
		port:                "8080",
		connectionTimeout:   dur("RYUK_CONNECTION_TIMEOUT", time.Minute),
		reconnectionTimeout: dur("RYUK_RECONNECTION_TIMEOUT", 10*time.Second),
		requestTimeout:      dur("RYUK_REQUEST_TIMEOUT", 10*time.Second),
		removeRetries:       10,
		retryDelay:          dur("RYUK_RETRY_DELAY", time.Second),
		shutdownTimeout:     dur("RYUK_SHUTDOWN_TIMEOUT", 10*time.Minute),
	}
	if v := os.Getenv("RYUK_PORT"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("RYUK_PORT=%q: not a port", v))
		} else {
			c.port = v
		}
	}
	if v := os.Getenv("RYUK_REMOVE_RETRIES"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("RYUK_REMOVE_RETRIES=%q: not a positive number", v))
		} else {
			c.removeRetries = n
		}
	}
	if v := os.Getenv("RYUK_VERBOSE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("RYUK_VERBOSE=%q: not a boolean", v))
		}
		c.verbose = b
	}
	return c, errors.Join(errs...)
}

func main() {
	log.SetOutput(os.Stdout)
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	cfg, err := loadConfig()
	if err != nil {
		log.Fatalf("configuration: %v", err)
	}
	os.Exit(run(cfg))
}

// run serves clients until the session is over, then reaps. It returns the
// exit code: 0 when everything registered was removed (or nothing was).
func run(cfg config) int {
	ln, err := net.Listen("tcp", ":"+cfg.port)
	if err != nil {
		log.Printf("listen: %v", err)
		return 1
	}
	r := &registry{verbose: cfg.verbose, filters: map[string]url.Values{}}
	events := make(chan int)
	go r.accept(ln, events)
	log.Printf("Started: listening on %s (connection timeout %s, reconnection timeout %s)",
		ln.Addr(), cfg.connectionTimeout, cfg.reconnectionTimeout)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if !waitForSession(cfg, events, sigs) {
		ln.Close()
		return 0
	}
	// New clients are refused from here on: the session is over.
	ln.Close()
	filters := r.snapshot()
	if len(filters) == 0 {
		log.Printf("no filters registered: nothing to remove")
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		log.Printf("docker client: %v", err)
		return 1
	}
	defer cli.Close()
	p := &pruner{cli: cli, requestTimeout: cfg.requestTimeout, verbose: cfg.verbose, self: selfID()}
	if err := p.reap(ctx, filters, cfg.removeRetries, cfg.retryDelay); err != nil {
		log.Printf("removal incomplete: %v", err)
		return 1
	}
	return 0
}

// waitForSession follows connections (+1 and -1 on events) and returns true
// when the clients have gone and the reconnection timeout has passed, false
// when no client came within the connection timeout or a signal arrived.
func waitForSession(cfg config, events <-chan int, sigs <-chan os.Signal) bool {
	timer := time.NewTimer(cfg.connectionTimeout)
	defer timer.Stop()
	active, seen := 0, false
	for {
		select {
		case d := <-events:
			active += d
			if d > 0 {
				seen = true
				timer.Stop()
			} else if active == 0 {
				log.Printf("all clients disconnected: removing in %s unless one reconnects", cfg.reconnectionTimeout)
				timer.Reset(cfg.reconnectionTimeout)
			}
		case <-timer.C:
			if !seen {
				log.Printf("no client connected within %s: exiting", cfg.connectionTimeout)
				return false
			}
			return true
		case s := <-sigs:
			log.Printf("%s: exiting without removing anything", s)
			return false
		}
	}
}

// registry holds the filters clients registered, deduplicated.
type registry struct {
	verbose bool
	mu      sync.Mutex
	filters map[string]url.Values
}

// accept serves connections until ln is closed, sending +1 on events when a
// client connects and -1 when it goes.
func (r *registry) accept(ln net.Listener, events chan<- int) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Printf("accept: %v", err)
			}
			return
		}
		events <- 1
		go func() {
			defer func() { events <- -1 }()
			r.serve(conn)
		}()
	}
}

// serve registers each filter line conn sends and acknowledges it. A last
// line without a newline (one-off clients) is registered too.
func (r *registry) serve(conn net.Conn) {
	defer conn.Close()
	peer := conn.RemoteAddr()
	log.Printf("client %s connected", peer)
	defer log.Printf("client %s disconnected", peer)
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		q, err := url.ParseQuery(line)
		if err != nil || len(q) == 0 {
			log.Printf("client %s: bad filter %q: %v", peer, line, err)
			fmt.Fprintf(conn, "ERROR: bad filter\n")
			return
		}
		r.add(q)
		if _, err := conn.Write([]byte("ACK\n")); err != nil {
			return
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Printf("client %s: %v", peer, err)
	}
}

func (r *registry) add(q url.Values) {
	for _, vs := range q {
		sort.Strings(vs)
	}
	key := q.Encode() // sorted by key: a canonical form
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.filters[key]; ok {
		return
	}
	r.filters[key] = q
	if r.verbose {
		log.Printf("registered filter %s", key)
	}
}

// snapshot returns the registered filters as Docker API filters.
func (r *registry) snapshot() []client.Filters {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.filters))
	for k := range r.filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]client.Filters, 0, len(keys))
	for _, k := range keys {
		f := make(client.Filters)
		for term, vs := range r.filters[k] {
			f.Add(term, vs...)
		}
		out = append(out, f)
	}
	return out
}

// selfID returns this container's hostname, which Docker sets to the short
// container ID, so the reaper never removes itself.
func selfID() string {
	h, err := os.Hostname()
	if err != nil || len(h) < 12 {
		return ""
	}
	return h
}
