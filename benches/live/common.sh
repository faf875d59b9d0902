# Shared helpers of the live benchmarks (sourced).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${SITEPULSE_BIN:-$ROOT/target/release/sitepulse}
GEN=${GEN_CORPUS_BIN:-$ROOT/target/release/gen-corpus}
TICKS=$(getconf CLK_TCK)

# CPU seconds (user+system) a process has used so far.
cpu_secs() {
    awk -v t="$TICKS" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"
}

# Peak RSS in MiB.
peak_rss_mib() {
    awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# GET a path from the collector, given its stderr log.
get() {
    local port
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$1" | head -1 | sed 's/.*://')
    curl -sf "http://127.0.0.1:$port$2"
}

# Starts `sitepulse run` on config $1 with stderr to $2; sets PID.
start_run() {
    "$BIN" run --config "$1" 2>"$2" &
    PID=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$2" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "sitepulse did not start:" >&2
    cat "$2" >&2
    exit 1
}

stop_run() {
    kill -TERM "$PID"
    wait "$PID"
}

write_config() { # dir, glob, extra yaml lines
    cat >"$1/config.yaml" <<YAML
tail:
  sources:
    - include: ["$2"]
  read_existing: beginning
  ignore_older_secs: 0
  checkpoint_path: "$1/checkpoints.json"
  checkpoint_interval_ms: ${CKPT_MS:-1000}
  rescan_secs: ${RESCAN_SECS:-60}
server:
  listen: "127.0.0.1:0"
$3
YAML
}
