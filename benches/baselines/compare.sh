#!/usr/bin/env bash
# Same-run comparison on one Traefik CLF corpus: `wc -l` (the I/O floor),
# sitepulse replay, and mtail (Debian's package) doing the same per-site job.
# CPU seconds (user+sys) and peak RSS from /usr/bin/time, per line.
#   benches/baselines/compare.sh [LINES]      (default 1000000; needs: apt-get install -y mtail time)
# SITEPULSE_BASE=path/to/an/older/sitepulse adds that build's replay, measured
# alternately with this one REPS times (default 1), for before/after figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
lines=${1:-1000000}
corpus=${TMPDIR:-/tmp}/sitepulse-compare-clf-$lines.log
cargo build -q --release -p sitepulse -p sitepulse-benches
[ -s "$corpus" ] || target/release/gen-corpus -q --format traefik_clf --lines "$lines" --out "$corpus"
measure() {
  local name=$1; shift
  /usr/bin/time -f "%U %S %M" -o /tmp/sitepulse-compare.time "$@" >/dev/null 2>&1
  read -r u s m < /tmp/sitepulse-compare.time
  awk -v n="$name" -v u="$u" -v s="$s" -v m="$m" -v l="$lines" \
    'BEGIN { printf "%-10s %7.2f s cpu  %6.2f us/line  %7.1f MiB peak RSS\n", n, u+s, (u+s)*1e6/l, m/1024 }'
}
uptime
measure wc wc -l "$corpus"
for _ in $(seq "${REPS:-1}"); do
  if [ -n "${SITEPULSE_BASE:-}" ]; then
    measure before "$SITEPULSE_BASE" replay "$corpus"
  fi
  measure sitepulse target/release/sitepulse replay "$corpus"
done
if command -v mtail >/dev/null; then
  progs=$(mktemp -d); cp benches/baselines/traefik_clf.mtail "$progs/"
  measure mtail mtail --one_shot --one_shot_format=prometheus --logtostderr --progs "$progs" --logs "$corpus"
fi
