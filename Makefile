# dhtr — build, run and test. `make run` and `make test` work on a fresh
# Debian machine: `deps` installs what the build needs if it is missing.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/dhtr-target
CARGO ?= cargo
# Arguments for `make run`, e.g. make run ARGS="--bootstrap /ip4/.../p2p/..."
ARGS ?=
# Seeds for the simulator tests (comma-separated); `make soak` picks random ones.
DHTR_SIM_SEEDS ?= 11,23,42
export DHTR_SIM_SEEDS

# Debian packages the build needs: a C/C++ toolchain, and libclang for
# RocksDB's bindgen (Debian's own librocksdb is too old for the crate); and
# what the DNS tests use: NSD as real authoritative servers, dig and kdig.
DEB_PACKAGES := gcc g++ make pkg-config clang libclang-dev nsd dnsutils knot-dnsutils

.PHONY: all deps build release run test unit lint fmt sim soak bench bench-dns demo clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(CARGO) build --workspace

release: deps
	$(CARGO) build --release -p dhtr-node --bins

# One node with embedded defaults: a 1-node ring, data in ./dhtr-data,
# libp2p on port 4001 (TCP and QUIC), metrics on http://127.0.0.1:9464/metrics.
run: release
	$(CARGO_TARGET_DIR)/release/dhtr run $(ARGS)

# Everything CI checks: formatting, clippy, unit and simulation tests,
# and the real-process ring test.
test: deps lint unit

unit:
	$(CARGO) test --workspace --all-targets --all-features -- --nocapture

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

fmt:
	$(CARGO) fmt --all

# Ledger benchmarks: commit latency and throughput of a committee of 4 in one
# process (memory, RocksDB with and without fsync) and as 4 processes over
# loopback libp2p (fsync on and off); ed25519 single vs batch verification.
bench: deps
	$(CARGO) run --release -p dhtr-ledger --features rocksdb --bin dhtr-ledger-bench
	$(CARGO) build --release -p dhtr-node
	$(CARGO_TARGET_DIR)/release/dhtr-ledger-net-bench $(CARGO_TARGET_DIR)/release/dhtr
	bash scripts/dns-bench.sh $(CARGO_TARGET_DIR)/release

# The simulator table: N = 100, 1000, 10000.
sim:
	$(CARGO) run --release -p dhtr-sim --example sim

# Longer randomised simulation runs of the Chord and ledger cores and of
# whole nodes at N = 1000, known-defect scenarios included (random seeds,
# printed so a failure can be replayed with DHTR_SIM_SEEDS /
# DHTR_LEDGER_SEEDS / DHTR_NODE_SEEDS).
soak:
	@seeds=$$(for i in 1 2 3 4 5 6 7 8; do echo -n "$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '),"; done); \
	seeds=$${seeds%,}; echo "DHTR_SIM_SEEDS=$$seeds"; \
	DHTR_SOAK=1 DHTR_SIM_SEEDS=$$seeds $(CARGO) test --release -p dhtr-sim --test chord -- --nocapture
	@seeds=$$(for i in $$(seq 1 200); do echo -n "$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '),"; done); \
	seeds=$${seeds%,}; echo "DHTR_LEDGER_SEEDS=$$seeds"; \
	DHTR_LEDGER_SEEDS=$$seeds $(CARGO) test --release -p dhtr-sim --test consensus --test ring
	@seeds=$$(for i in 1 2 3 4; do echo -n "$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '),"; done); \
	seeds=$${seeds%,}; echo "DHTR_NODE_SEEDS=$$seeds DHTR_NODE_N=1000"; \
	DHTR_NODE_SEEDS=$$seeds DHTR_NODE_N=1000 $(CARGO) test --release -p dhtr-sim --test node -- --include-ignored --nocapture

# DNS figures against a local NSD hierarchy: cache-hit QPS vs Unbound (dnsperf),
# latency of cold fallback resolutions and of network hits.
bench-dns: deps release
	bash scripts/dns-bench.sh $(CARGO_TARGET_DIR)/release

# A local DNS hierarchy and a 4-node cluster: names resolved with dig through
# different nodes, showing where each answer came from; stops what it started.
demo: deps release
	bash scripts/demo.sh $(CARGO_TARGET_DIR)/release/dhtr

clean:
	$(CARGO) clean
