#!/usr/bin/env bash
# Throughput of `sitepulse run` reading a Traefik CLF file from disk,
# against `sitepulse replay` of the same file in the same run.
#
#   cargo build --release -p sitepulse -p sitepulse-benches
#   benches/live/throughput.sh [LINES]        # default 1000000
#
# Prints lines/s from start to the last line committed, CPU µs per line
# and peak RSS, for run and for replay.
source "$(dirname "$0")/common.sh"
LINES=${1:-1000000}
DIR=$(mktemp -d /tmp/sitepulse-tput.XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
mkdir -p "$DIR/logs"
"$GEN" --format traefik_clf --lines "$LINES" --out "$DIR/logs/access.log" >/dev/null 2>&1
BYTES=$(stat -c %s "$DIR/logs/access.log")
cat "$DIR/logs/access.log" >/dev/null # warm the page cache for both
echo "corpus: $LINES lines, $((BYTES / 1048576)) MiB; load: $(cut -d' ' -f1-3 /proc/loadavg)"

write_config "$DIR" "$DIR/logs/*.log" ""
t0=$(date +%s.%N)
start_run "$DIR/config.yaml" "$DIR/run.err"
while :; do
    n=$(get "$DIR/run.err" /api/v1/status | python3 -c 'import json,sys; print(json.load(sys.stdin)["lines"])')
    [ "$n" -ge "$LINES" ] && break
    sleep 0.02
done
t1=$(date +%s.%N)
cpu=$(cpu_secs "$PID")
rss=$(peak_rss_mib "$PID")
stop_run
python3 - "$LINES" "$t0" "$t1" "$cpu" "$rss" <<'PY'
import sys
n, t0, t1, cpu, rss = int(sys.argv[1]), *map(float, sys.argv[2:])
wall = t1 - t0
print(f"run:    {n / wall / 1e6:.2f} M lines/s wall ({wall:.2f} s, incl. start), "
      f"{cpu * 1e6 / n:.2f} CPU µs/line ({cpu:.2f} s on all threads), peak RSS {rss:.1f} MiB")
PY
/usr/bin/time -f "%e %U %S %M" -o "$DIR/replay.time" "$BIN" replay "$DIR/logs/access.log" >/dev/null 2>&1
read -r e u s m <"$DIR/replay.time"
python3 -c "
n=$LINES; e=$e; u=$u; s=$s; m=$m
print(f'replay: {n / e / 1e6:.2f} M lines/s wall ({e:.2f} s), {(u + s) * 1e6 / n:.2f} CPU µs/line, peak RSS {m / 1024:.1f} MiB')"
