#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run invoke it. Installs what the
# tests need first, so it works on a fresh Debian machine with only the Rust
# toolchain. Dev profile only (CI has 2 cores and no time for --release).
set -euo pipefail
cd "$(dirname "$0")/.."

# Real servers: nginx in front of PHP-FPM (tests/tests/real_servers.rs),
# Prometheus and promtool (tests/prometheus.rs scrapes `run`; the /metrics
# tests check both text formats with `promtool check metrics`; the SLO
# rules pass `promtool check rules` and `promtool test rules`).
need=()
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
compgen -G '/usr/sbin/php-fpm*' >/dev/null || need+=(php-fpm)
{ [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || need+=(prometheus)
# Alertmanager (alerting/tests/notify_alertmanager.rs: pushed alerts read
# back, its own webhook compared with ours); openssl makes the SMTP TLS
# test's certificate.
[ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
command -v openssl >/dev/null || need+=(openssl)
# protoc: the KEDA scaler's test that the committed generated code is
# current; python3-venv: the Python clients below.
command -v protoc >/dev/null || need+=(protobuf-compiler)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# Clients and servers nobody here wrote, from PyPI: grpcio with stubs
# generated from externalscaler.proto at test time (the KEDA scaler),
# kubernetes-validate (the external metrics API's answers and deploy/
# manifests), aiosmtpd (the SMTP server the email notifier sends to).
PYVENV="$PWD/target/pyvenv"
"$PYVENV/bin/python" -c 'import grpc, grpc_tools.protoc, kubernetes_validate, aiosmtpd' 2>/dev/null || {
  python3 -m venv "$PYVENV"
  "$PYVENV/bin/pip" install -q grpcio==1.85.3 grpcio-tools==1.85.1 kubernetes-validate==1.37.0 aiosmtpd==1.4.6
}
export SITEPULSE_PYVENV="$PYVENV" SITEPULSE_PYTHON="$PYVENV/bin/python"

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Criterion benches in test mode: each runs once and asserts its counts.
cargo test --workspace --benches
