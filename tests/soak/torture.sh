#!/usr/bin/env bash
# Soak: the SIGKILL torture test of `sitepulse run` at the size of a busy
# node, over many seeds. Each seed's output is kept; a summary line per run
# and a total come out at the end. CI runs the small version (the default
# sizes of collector/tests/torture.rs); this is for a developer machine.
#
#   tests/soak/torture.sh                 # 20 seeds, 24 writers, 10 kills, 5000 lines/s each
#   SEEDS="11 33 44" tests/soak/torture.sh
#   RUNS=40 WRITERS=48 KILLS=20 RATE=5000 tests/soak/torture.sh
#   OUT=/tmp/soak tests/soak/torture.sh   # where the logs go
#
# A seed replays batch sizes, rotation and kill timing, not the OS
# scheduling: the same seed can pass once and fail once. Exit status 1
# when any run failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-20}
WRITERS=${WRITERS:-24}
KILLS=${KILLS:-10}
RATE=${RATE:-5000}
OUT=${OUT:-$(mktemp -d /tmp/sitepulse-soak-torture.XXXXXX)}
if [ -z "${SEEDS:-}" ]; then
  SEEDS=""
  for i in $(seq 1 "$RUNS"); do SEEDS="$SEEDS $((i * 11))"; done
fi
mkdir -p "$OUT"

# Built once; each run starts the test binary itself, so editing sources
# during a soak changes nothing (do not rebuild target/release meanwhile:
# the test starts target/release/sitepulse).
bin=$(cargo test --release -p sitepulse --test torture --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "torture soak: building the test failed" >&2; exit 2; }

echo "torture soak: $WRITERS writers at $RATE lines/s, $KILLS kills; seeds:$SEEDS; logs in $OUT"
pass=0
fail=0
for seed in $SEEDS; do
  log="$OUT/seed-$seed.log"
  start=$(date +%s)
  if SITEPULSE_TORTURE_WRITERS=$WRITERS SITEPULSE_TORTURE_KILLS=$KILLS \
    SITEPULSE_TORTURE_RATE=$RATE SITEPULSE_TORTURE_SEED=$seed \
    "$bin" --nocapture >"$log" 2>&1; then
    verdict=pass
    pass=$((pass + 1))
  else
    verdict=FAIL
    fail=$((fail + 1))
  fi
  kill_line=$(grep -m1 '^kill phase: written' "$log" || echo "kill phase: (no summary)")
  clean_line=$(grep -m1 '^clean phase: written' "$log" || echo "clean phase: (no summary)")
  echo "seed $seed: $verdict in $(($(date +%s) - start)) s | ${kill_line#kill phase: } | clean: ${clean_line#clean phase: }"
done
echo "torture soak: $pass passed, $fail failed (logs in $OUT)"
[ "$fail" -eq 0 ]
