#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run invoke it. Installs what the
# tests need first, so it works on a fresh Debian machine with only the Rust
# toolchain. Dev profile only (CI has 2 cores and no time for --release).
set -euo pipefail
cd "$(dirname "$0")/.."

# Real servers: nginx in front of PHP-FPM (tests/tests/real_servers.rs),
# Prometheus and promtool (tests/prometheus.rs scrapes `run`; the /metrics
# tests check both text formats with `promtool check metrics`). Later
# stages add Alertmanager and an SMTP server here.
need=()
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
compgen -G '/usr/sbin/php-fpm*' >/dev/null || need+=(php-fpm)
{ [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Criterion benches in test mode: each runs once and asserts its counts.
cargo test --workspace --benches
