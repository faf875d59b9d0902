#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run invoke it. Installs what the
# tests need first, so it works on a fresh Debian machine with only the Rust
# toolchain. Dev profile only (CI has 2 cores and no time for --release).
set -euo pipefail
cd "$(dirname "$0")/.."

# Nothing outside cargo is needed yet; later stages (Prometheus, Alertmanager,
# PHP-FPM, nginx end-to-end tests) add their `apt-get install -y ...` here.

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Criterion benches in test mode: each runs once and asserts its counts.
cargo test --workspace --benches
