#!/usr/bin/env bash
# Soak: `sitepulse run` on 5,000 and 50,000 pod log files under
# RLIMIT_NOFILE 1024/1024 (collector/tests/many_files.rs at node scale).
# Prints each run's phases, RSS and descriptor figures, and the memory an
# idle tracked file costs: the RSS slope between the two runs, so fixed
# costs (500 sites' windows, the runtime) cancel out.
#
#   tests/soak/many_files.sh                  # 5,000 and 50,000 files
#   SIZES="5000 20000 50000" NOFILE=4096 tests/soak/many_files.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZES=${SIZES:-"5000 50000"}
NOFILE=${NOFILE:-1024}
OUT=${OUT:-$(mktemp -d /tmp/sitepulse-soak-many.XXXXXX)}
mkdir -p "$OUT"
bin=$(cargo test --release -p sitepulse --test many_files --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "many-files soak: building the test failed" >&2; exit 2; }

fail=0
prev_n=""
prev_rss=""
for n in $SIZES; do
  log="$OUT/files-$n.log"
  if SITEPULSE_MANY_FILES=$n SITEPULSE_MANY_NOFILE=$NOFILE SITEPULSE_MANY_TIMEOUT_SECS=900 \
    "$bin" --nocapture >"$log" 2>&1; then
    verdict=pass
  else
    verdict=FAIL
    fail=1
  fi
  echo "== $n files, RLIMIT_NOFILE $NOFILE: $verdict"
  grep -E '^  ' "$log" || tail -20 "$log"
  rss=$(sed -n 's/.*idle: RSS \([0-9]*\) KiB.*/\1/p' "$log")
  if [ -n "$prev_n" ] && [ -n "$rss" ] && [ -n "$prev_rss" ]; then
    echo "   idle RSS slope $prev_n -> $n files: $(( (rss - prev_rss) * 1024 / (n - prev_n) )) bytes per tracked file"
  fi
  prev_n=$n
  prev_rss=$rss
done
echo "logs in $OUT"
exit $fail
