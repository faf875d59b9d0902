#!/usr/bin/env bash
# Ingest with and without readers: `sitepulse run` reads a Traefik CLF file
# of LINES lines (500 sites) while CLIENTS keep-alive clients poll
# /api/v1/sites and /metrics in a loop (wrk), against the same run with no
# clients. Readers load immutable snapshots and never touch the pipeline,
# so the only cost they can put on ingest is CPU.
#
#   cargo build --release -p sitepulse -p sitepulse-benches
#   apt-get install -y wrk
#   benches/live/readers.sh [LINES] [CLIENTS] [REPS]    # default 5000000 200 3
#
# Two placements, each REPS times, alternating without / with clients:
#   pinned:   ingest threads (sitepulse-tail, sitepulse-pipeline) on CPU 0,
#             HTTP threads and wrk on CPU 1: what readers cost ingest through
#             shared state (locks, cache lines), with CPU set aside for
#             each, as on a node whose cores are not all busy;
#   shared:   no pinning: on a 2-core machine wrk and the HTTP threads also
#             take CPU from ingest, so this mostly measures CPU sharing.
# Per run: lines/s (file moved into the tailed directory → last line
# counted), CPU µs per line of the two ingest threads, requests/s served.
# SITEPULSE_BIN=path compares another build (the one before snapshots);
# READ_PATHS="/healthz" polls something that reads no state (a control:
# what 200 busy clients cost ingest through the CPU, caches and kernel
# alone); PLACES=pinned runs one placement.
source "$(dirname "$0")/common.sh"
LINES=${1:-5000000}
CLIENTS=${2:-200}
REPS=${3:-3}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install -y wrk)" >&2; exit 1; }
# tmpfs when there is one: a file copied onto a disk just before a run
# would be written back during it, and the writeback is noise.
DIR=$(mktemp -d "${BENCH_DIR:-$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)}/sitepulse-readers.XXXXXX")
PID=; WPID=
trap 'kill $PID $WPID 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$GEN" --format traefik_clf --lines "$LINES" --out "$DIR/corpus.log" >/dev/null 2>&1
cat "$DIR/corpus.log" >/dev/null
PATHS=${READ_PATHS:-/api/v1/sites /metrics}
{
    printf 'local paths = {'
    for p in $PATHS; do printf ' "%s",' "$p"; done
    printf ' }\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format("GET", paths[i %% #paths + 1])\nend\n'
} >"$DIR/poll.lua"
echo "corpus: $LINES lines, $(($(stat -c %s "$DIR/corpus.log") / 1048576)) MiB; clients: $CLIENTS on $PATHS; bin: $BIN; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# CPU seconds of the threads whose name starts with $2, in process $1.
thread_cpu() {
    local total=0 t
    for t in /proc/"$1"/task/*; do
        if [[ $(cat "$t/comm" 2>/dev/null) == "$2"* ]]; then
            total=$(awk -v t="$TICKS" -v a="$total" '{ printf "%.3f", a + ($14 + $15) / t }' "$t/stat")
        fi
    done
    echo "$total"
}

# Pins the ingest threads to CPU 0 and every other thread to CPU 1.
pin() {
    local t name
    for t in /proc/"$1"/task/*; do
        name=$(cat "$t/comm")
        if [[ $name == sitepulse-tail* || $name == sitepulse-pipel* ]]; then
            taskset -p -c 0 "${t##*/}" >/dev/null
        else
            taskset -p -c 1 "${t##*/}" >/dev/null
        fi
    done
}

one() { # placement clients
    local place=$1 clients=$2 run="$DIR/run"
    rm -rf "$run"; mkdir -p "$run/logs"
    write_config "$run" "$run/logs/*.log" ""
    start_run "$run/config.yaml" "$run/err"
    local port
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$run/err" | head -1 | sed 's/.*://')
    local wrap=()
    if [ "$place" = pinned ]; then
        pin "$PID"
        wrap=(taskset -c 1)
        taskset -p -c 1 $$ >/dev/null # this shell, its sleeps and mv
    else
        taskset -p -c 0,1 $$ >/dev/null
    fi
    if [ "$clients" -gt 0 ]; then
        "${wrap[@]}" wrk -t 2 -c "$clients" -d 3600s -s "$DIR/poll.lua" "http://127.0.0.1:$port" >"$run/wrk.out" 2>&1 &
        WPID=$!
        sleep 1 # all connections open and polling before the file arrives
    fi
    local c0 r0 t0 t1
    c0=$(thread_cpu "$PID" sitepulse-tail); r0=$(thread_cpu "$PID" sitepulse-pipel)
    t0=$(date +%s.%N)
    # A new name for the same inode: the file appears whole, nothing is copied.
    ln "$DIR/corpus.log" "$run/logs/access.log"
    # The poll itself is a reader too: cheap (no interpreter), and in the
    # pinned placement on the readers' CPU.
    while :; do
        n=$("${wrap[@]}" curl -s "http://127.0.0.1:$port/api/v1/status" | grep -o '"lines":[0-9]*' | head -1 | cut -d: -f2)
        [ "${n:-0}" -ge "$LINES" ] && break
        sleep 0.05
    done
    t1=$(date +%s.%N)
    local c1 r1 rps="-"
    c1=$(thread_cpu "$PID" sitepulse-tail); r1=$(thread_cpu "$PID" sitepulse-pipel)
    if [ -n "$WPID" ]; then
        kill -INT "$WPID"; wait "$WPID" || true; WPID=
        rps=$(awk '/Requests\/sec/ { print $2 }' "$run/wrk.out")
    fi
    stop_run
    python3 - "$place" "$clients" "$LINES" "$t0" "$t1" "$c0" "$c1" "$r0" "$r1" "$rps" <<'PY'
import sys
place, clients, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0, t1, c0, c1, r0, r1 = map(float, sys.argv[4:10])
rps = sys.argv[10]
wall = t1 - t0
cpu = (c1 - c0) + (r1 - r0)
print(f"{place:7} clients={clients:<4} {n / wall / 1e6:5.2f} M lines/s ({wall:5.2f} s)  "
      f"ingest {cpu * 1e6 / n:5.3f} CPU us/line  readers {rps} req/s")
PY
}

for place in ${PLACES:-pinned shared}; do
    for _ in $(seq "$REPS"); do
        one "$place" 0
        one "$place" "$CLIENTS"
    done
done | tee "$DIR/results"
# Medians per placement: the machine is shared and noisy.
python3 - "$DIR/results" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+)\s+clients=(\d+)\s+([\d.]+) M lines/s .*ingest ([\d.]+) CPU", line)
    if m:
        runs.setdefault((m[1], int(m[2])), []).append((float(m[3]), float(m[4])))
for place in dict.fromkeys(k[0] for k in runs):
    base = runs.get((place, 0))
    for (p, c), rs in runs.items():
        if p != place or c == 0 or not base:
            continue
        b = statistics.median(r[0] for r in base)
        l = statistics.median(r[0] for r in rs)
        bc = statistics.median(r[1] for r in base)
        lc = statistics.median(r[1] for r in rs)
        print(f"median {place}: {b:.2f} -> {l:.2f} M lines/s with {c} clients ({(l / b - 1) * 100:+.1f}%), "
              f"ingest {bc:.3f} -> {lc:.3f} CPU us/line ({(lc / bc - 1) * 100:+.1f}%)")
PY
