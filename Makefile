# HyperBox: a Docker Engine API daemon on containerd.
# Everything here works on a fresh Debian bookworm machine as root.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go
# containerd and its shim are built from the containerd module pinned in go.mod.
CONTAINERD_PKG := github.com/containerd/containerd/v2/cmd/containerd
SHIM_PKG := github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
CONTAINERD_TAGS := no_btrfs no_zfs no_devmapper
# Debian packages the daemon and the tests need.
DEBS := crun runc tini busybox-static ca-certificates iptables iproute2 tmux util-linux
ORACLE_DEBS := docker.io
ARGS ?=

.PHONY: all deps build run test test-unit test-e2e test-oracle busybox clean

all: build

deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go is required (expected at /usr/local/go)"; exit 1; }

build: deps
	$(GO) build -o bin/hyperboxd ./cmd/hyperboxd
	$(GO) build -tags "$(CONTAINERD_TAGS)" -o bin/containerd $(CONTAINERD_PKG)
	$(GO) build -o bin/containerd-shim-runc-v2 $(SHIM_PKG)
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -o bin/hyperbox-pause ./cmd/hyperbox-pause
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -o bin/hyperbox-shim ./cmd/hyperbox-shim

# Runs the daemon in the foreground on /var/run/docker.sock (override with ARGS="-H unix:///path ...").
run: build
	bin/hyperboxd $(ARGS)

# A busybox image (from Debian's busybox-static) to `docker load`, since no
# registry is reachable here: bin/busybox.tar.
busybox: deps
	$(GO) run ./tests/testutil/busybox/mkarchive -o bin/busybox.tar

# Unit tests (with the race detector), then the end-to-end suites against a
# race-enabled hyperboxd that each suite starts on its own socket and dirs.
test: build compose buildx devcontainers
	$(GO) vet ./...
	$(GO) build -race -o bin/hyperboxd-race ./cmd/hyperboxd
	$(GO) test -race -count=1 -timeout 10m ./cmd/... ./server/... ./compat/... ./engine/... ./storage/... ./bench/...
	HYPERBOXD=$(CURDIR)/bin/hyperboxd-race $(GO) test -count=1 -p 1 -timeout 25m ./tests/...
	cd tests/testcontainers && HYPERBOXD=$(CURDIR)/bin/hyperboxd-race $(GO) test -count=1 -timeout 10m ./...
	$(GO) build -o bin/bench ./bench
	HYPERBOXD=$(CURDIR)/bin/hyperboxd bin/bench -smoke -reference off

test-unit: build
	$(GO) test -race -count=1 ./cmd/... ./server/... ./compat/... ./engine/... ./storage/...

test-e2e: build compose buildx devcontainers
	$(GO) test -count=1 -p 1 -timeout 25m ./tests/...

# The same end-to-end suites against Debian's dockerd (20.10), which the
# test harness starts on its own socket, data-root and exec-root.
test-oracle: deps compose buildx devcontainers
	@dpkg -s $(ORACLE_DEBS) >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(ORACLE_DEBS); }
	HYPERBOX_TEST_TARGET=dockerd $(GO) test -count=1 -p 1 -timeout 25m ./tests/...

# The docker compose v2 CLI plugin the compose tests run (tests/compose), built
# from the version pinned in its own tools module, tests/tools/compose, so its
# ~190 dependencies stay out of the main module. Rebuilt only when the pin
# changes; cold build about 2.5 min, up to date: nothing to do.
.PHONY: compose
COMPOSE_MOD := github.com/docker/compose/v2
compose: bin/docker-compose
bin/docker-compose: tests/tools/compose/go.mod tests/tools/compose/go.sum
	cd tests/tools/compose && v=$$($(GO) list -m -f '{{.Version}}' $(COMPOSE_MOD)) && \
	CGO_ENABLED=0 $(GO) build -buildvcs=false -trimpath -ldflags "-s -w -X $(COMPOSE_MOD)/internal.Version=$$v" \
		-o $(CURDIR)/bin/docker-compose $(COMPOSE_MOD)/cmd

# The devcontainers CLI (npm package @devcontainers/cli) the devcontainers
# tests run (tests/devcontainers), pinned to an exact version in
# tests/tools/devcontainers/package-lock.json. `npm ci` runs only when the
# pin changes: npm writes node_modules/.package-lock.json, the stamp.
.PHONY: devcontainers
DEVCONTAINERS_DIR := tests/tools/devcontainers
devcontainers: $(DEVCONTAINERS_DIR)/node_modules/.package-lock.json
$(DEVCONTAINERS_DIR)/node_modules/.package-lock.json: $(DEVCONTAINERS_DIR)/package.json $(DEVCONTAINERS_DIR)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
		{ echo "the devcontainers CLI needs node (>= 20) and npm: install Node.js 20+ (e.g. from nodejs.org or NodeSource)"; exit 1; }
	@node -e 'process.exit(parseInt(process.versions.node) < 20 ? 1 : 0)' || \
		{ echo "the devcontainers CLI needs node >= 20, found $$(node --version)"; exit 1; }
	cd $(DEVCONTAINERS_DIR) && npm ci --no-audit --no-fund
	@touch $@

# The docker buildx CLI plugin (BuildKit client) the build tests run through
# the daemon's /grpc and /session, built from the version pinned in its own
# tools module, tests/tools/buildx; rebuilt only when the pin changes (cold
# build about 5 min).
.PHONY: buildx
BUILDX_MOD := github.com/docker/buildx
buildx: bin/docker-buildx
bin/docker-buildx: tests/tools/buildx/go.mod tests/tools/buildx/go.sum
	cd tests/tools/buildx && v=$$($(GO) list -m -f '{{.Version}}' $(BUILDX_MOD)) && \
	CGO_ENABLED=0 $(GO) build -buildvcs=false -trimpath \
		-ldflags "-s -w -X $(BUILDX_MOD)/version.Version=$$v -X $(BUILDX_MOD)/version.Package=$(BUILDX_MOD)" \
		-o $(CURDIR)/bin/docker-buildx $(BUILDX_MOD)/cmd/buildx

# testcontainers-go, pinned in its own module tests/testcontainers (which
# replaces github.com/hyperbox/hyperbox with this checkout for the harness),
# against hyperboxd; about 50 s. Ryuk is always on: the suite wraps a static
# reaper into the image testcontainers-go v0.45.0 expects
# (testcontainers/ryuk:0.14.0): a genuine Ryuk if bin/ryuk (`make ryuk`) or
# $HYPERBOX_TEST_RYUK is there, else the module's own tests/testcontainers/reaper
# (same protocol and RYUK_* settings), which it builds at start-up;
# HYPERBOX_TEST_RYUK=own forces the latter.
.PHONY: test-testcontainers ryuk
test-testcontainers: build
	cd tests/testcontainers && HYPERBOXD=$(CURDIR)/bin/hyperboxd $(GO) test -count=1 -timeout 10m ./...

# Optional: the genuine Ryuk reaper, static, from a git checkout of
# github.com/testcontainers/moby-ryuk (RYUK_SRC, bare or not) at the pinned tag,
# to run the testcontainers suite against it instead of our reaper: the module
# proxy has no versions of it (its tags have no "v" prefix), so `go install`
# cannot fetch it.
RYUK_TAG := 0.14.0
RYUK_COMMIT := b3726afd6cc2c36628abcc08e9cabac43f587384
RYUK_SRC ?=
ryuk:
	@test -n "$(RYUK_SRC)" || { echo "set RYUK_SRC to a git checkout of github.com/testcontainers/moby-ryuk"; exit 1; }
	@test "$$(git -C $(RYUK_SRC) rev-parse $(RYUK_TAG)^{commit})" = $(RYUK_COMMIT) || \
		{ echo "$(RYUK_SRC): tag $(RYUK_TAG) is not $(RYUK_COMMIT)"; exit 1; }
	d=$$(mktemp -d) && git -C $(RYUK_SRC) archive $(RYUK_COMMIT) | tar -x -C $$d && \
	(cd $$d && CGO_ENABLED=0 $(GO) build -buildvcs=false -trimpath -ldflags "-s -w" -o $(CURDIR)/bin/ryuk .); \
	rc=$$?; rm -rf $$d; exit $$rc

# The benchmark (bench/): every scenario against a hyperboxd it starts and,
# when Debian's dockerd is installed (or REFERENCE_DOCKER_HOST is set),
# against that reference, interleaved A/B/A/B; prints median, p90 and the
# ratio HyperBox/reference and writes bin/bench.json. HYPERBOX_DOCKER_HOST
# measures an already running hyperboxd instead. See docs/PERFORMANCE.md.
# About 4.5 minutes with BENCH_N=10 on 2 cores. bench-smoke: one iteration of
# every scenario at small sizes, hyperboxd only, about 5 s; non-zero exit if
# any scenario fails.
.PHONY: bench bench-smoke
BENCH_N ?= 10
BENCH_ARGS ?=
bench: build compose
	$(GO) build -o bin/bench ./bench
	bin/bench -n $(BENCH_N) -json bin/bench.json $(BENCH_ARGS)

bench-smoke: build compose
	$(GO) build -o bin/bench ./bench
	bin/bench -smoke -json bin/bench-smoke.json $(BENCH_ARGS)

clean:
	rm -rf bin
