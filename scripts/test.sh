#!/usr/bin/env bash
# Runs every test of the workspace on a machine that has only the Rust toolchain: installs
# what the tests need and the machine lacks (scripts/install-test-deps.sh), then
# `cargo test --workspace`, then the tests of features that are off by default (`redis`,
# `otlp`).
# Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo test --workspace "$@"
cargo test -p tether --features redis,otlp --lib --test redis_store --test traces "$@"
cargo test -p tether --features redis,otlp --doc "$@" -- otel redis_store
