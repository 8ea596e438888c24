#!/usr/bin/env bash
# Runs every test of the workspace on a machine that has only the Rust toolchain: installs
# what the tests need and the machine lacks (scripts/install-test-deps.sh), then
# `cargo test --workspace`. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
exec cargo test --workspace "$@"
