#!/usr/bin/env bash
# Runs every fuzz target in turn, one process on one core, for SECS seconds
# each, on its corpus (collector/fuzz/corpus/<target>, seeded by
# seed-corpus.sh), and prints one Markdown table row per target. Logs go to
# collector/fuzz/target/logs/<target>.log, crashes to artifacts/<target>/.
# Usage: collector/fuzz/run-all.sh [SECS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/.."   # collector/: where `cargo fuzz` finds fuzz/
secs=${1:-180}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
logs=fuzz/target/logs
mkdir -p "$logs"
[ -d fuzz/corpus ] || fuzz/seed-corpus.sh >/dev/null

cargo +nightly fuzz build -O -a >"$logs/build.log" 2>&1 || { cat "$logs/build.log" >&2; exit 1; }
echo "| target | seconds | runs | exec/s | cov | ft | corpus | crashes |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for t in "${targets[@]}"; do
    log=$logs/$t.log
    cargo +nightly fuzz run -O -a "$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    line=${done_line:-$last}
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")
    corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$line")
    crash=none
    if [ "$rc" -ne 0 ]; then
        crash="exit $rc: $(grep -m1 -E 'panicked|ERROR: (libFuzzer|AddressSanitizer)' "$log" | cut -c1-120)"
    fi
    echo "| $t | $secs | ${runs:-?} | ${execs:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $crash |"
done
