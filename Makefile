# codex-claude-proxy — every command a user or CI needs. All cargo calls use the lock file.
CARGO      ?= cargo
ARGS       ?=
MUSL       := x86_64-unknown-linux-musl
STATIC_BIN := target/$(MUSL)/release/codex-claude-proxy

.PHONY: build run test lint bench static dist clean

build:
	$(CARGO) build --release --locked

## Run the proxy (pass options with ARGS="--port 9000 --log-level debug").
run:
	$(CARGO) run --release --locked -- $(ARGS)

test:
	$(CARGO) test --locked --lib --bins --tests
	# The patched tiny_http and ureq-proto in vendor/ (their PATCHES.md name these tests).
	$(CARGO) test --locked -p tiny_http --lib --tests
	$(CARGO) test --locked -p ureq-proto --lib

## Then clippy for Windows and macOS, the workflow files and the shell scripts (scripts/lint.sh;
## installs its tools on first use).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	# No unwrap or expect outside tests.
	$(CARGO) clippy --locked --lib --bins -- -D warnings -D clippy::unwrap_used -D clippy::expect_used
	scripts/lint.sh

## Benchmark against a local mock backend; prints one table (not part of `make test`). It runs
## the binary `make build` made (or BENCH_PROXY_BIN=path, e.g. the static one), never rebuilds it.
BENCH_PROXY_BIN ?= $(or $(CARGO_TARGET_DIR),target)/release/codex-claude-proxy
bench: build
	BENCH_PROXY_BIN=$(BENCH_PROXY_BIN) $(CARGO) run --release --locked --example bench

## Fully static musl binary; installs the musl target and musl-gcc (ring needs it) if missing.
static:
	@rustup target list --installed 2>/dev/null | grep -qx $(MUSL) || rustup target add $(MUSL)
	@command -v musl-gcc >/dev/null || { \
	  echo "musl-gcc not found: installing Debian's musl-tools (needed to build ring for musl)"; \
	  if command -v apt-get >/dev/null; then (apt-get update -qq || true) && apt-get install -y -qq musl-tools; \
	  else echo "install musl-tools (musl-gcc) with your package manager, then re-run make static" >&2; exit 1; fi; }
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked --target $(MUSL)
	@ldd $(STATIC_BIN) 2>&1 | grep -Eq 'not a dynamic executable|statically linked' || { echo "error: $(STATIC_BIN) is not static" >&2; ldd $(STATIC_BIN); exit 1; }
	@ls -l $(STATIC_BIN) | awk '{printf "static binary: %s (%.2f MiB)\n", $$NF, $$5/1048576}'

## Release archives for Linux (static musl), macOS and Windows, with SHA256SUMS, in target/dist/
## (slow: minutes per target; see scripts/dist.sh).
dist:
	scripts/dist.sh

clean:
	$(CARGO) clean
