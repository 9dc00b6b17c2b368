# Cloister — the two commands a newcomer needs are `make demo` and `make test`.
# Everything else here serves them, CI (.ci/run calls `make test`) or the maintainers.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
SWIFT ?= swift
PREFIX ?= /usr/local
DESTDIR ?=
# Seconds each fuzz target runs: `make fuzz` (long) and the smoke run inside `make test`.
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_TARGETS ?= store-path nar aterm narinfo sexp wire import

# Debian packages the build and the tests use. Installed only when something is missing, so a
# second `make test` asks apt nothing.
APT_PACKAGES := libgcrypt20-dev libsqlite3-dev zlib1g-dev libbz2-dev nix-bin busybox-static \
                systemd sqlite3 openssl util-linux passwd iproute2

.PHONY: all build release test deps check-architecture swift-test fuzz fuzz-build fuzz-smoke \
        bench bench-vs-nix demo install clean

include Makefile.install

all: build

build:
	$(SWIFT) build

# Release builds link the Swift runtime statically: a worker process (one per connection) then
# starts without resolving Swift's shared libraries — 6 ms instead of 8 ms per new worker,
# ~350 instead of ~280 connections/s back to back (cloister-bench protocol).
RELEASE = $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-release

release:
	$(RELEASE)

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	else echo "dependencies present"; fi

check-architecture:
	scripts/check-architecture

swift-test: build
	$(SWIFT) test

test: deps check-architecture swift-test fuzz-smoke

fuzz-build:
	$(SWIFT) build --scratch-path .build-fuzz --product cloister-fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 | grep -v 'Cannot export local symbol'

# Each target runs from a fresh copy of its seeds; the corpus it grows stays in fuzz-corpus/.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do scripts/fuzz-run $$t $(FUZZ_SECONDS) || exit 1; done

fuzz-smoke: fuzz-build
	@for t in $(FUZZ_TARGETS); do scripts/fuzz-run $$t $(FUZZ_SMOKE_SECONDS) || exit 1; done

# In-process and socket benchmarks, each a ratio against a reference measured in the same run;
# then, as root with no BENCH selection, the same workloads against Debian's nix-daemon.
bench: deps
	$(RELEASE)
	.build-release/release/cloister-bench $(BENCH)
	@if [ -z "$(BENCH)" ] && [ "$$(id -u)" = 0 ]; then scripts/bench-vs-nix-daemon; \
	else echo "bench vs-nix: skipped (needs root and no BENCH selection; run make bench-vs-nix)"; fi

# Cloister's daemon against Debian's nix-daemon through the same nix-store client (root, ~5 min).
bench-vs-nix: deps
	$(RELEASE) --product cloister-daemon
	scripts/bench-vs-nix-daemon

demo: deps
	scripts/demo

clean:
	rm -rf .build .build-release .build-fuzz fuzz-corpus
