#!/usr/bin/env bash
# Rates during the first minute after a start: a writer appends a steady
# load of Traefik access lines (RPS per second, default 120, one site);
# `sitepulse run` starts on it (reading from the end, as after a restart
# whose checkpoint is current) and /api/v1/sites is read once a second for
# SECS seconds. Prints, per second since the start, the 1m and 5m rps of
# each binary given, side by side, and the covered seconds where the answer
# has them.
#
#   benches/live/warmup.sh BEFORE_BIN AFTER_BIN      (RPS=120 SECS=60)
#
# Debug builds are fine: this measures what the rates say, not CPU.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RPS=${RPS:-120}
SECS=${SECS:-60}
(($# >= 1)) || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# The writer: RPS lines a second, evenly spaced, stamped with the wall
# clock in Traefik's CLF (the router names the site).
writer() {
    exec python3 - "$1" "$RPS" <<'PY'
import sys, time
path, rps = sys.argv[1], int(sys.argv[2])
f = open(path, "a", buffering=1)
t0 = time.time()
n = 0
while True:
    now = time.time()
    due = int((now - t0) * rps)
    while n < due:
        ts = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t0 + n / rps))
        f.write(f'10.42.0.7 - - [{ts}] "GET /index.php?p={n} HTTP/1.1" 200 5123 "-" "bench/1" {n} '
                f'"websecure-shop-example-org@kubernetes" "http://10.42.1.2:80" 12ms\n')
        n += 1
    time.sleep(0.005)
PY
}

# Samples the site's rates once a second for SECS seconds after the start.
sample() { # bin, label
    local dir=$WORK/$2
    mkdir -p "$dir"
    : >"$dir/access.log"
    writer "$dir/access.log" &
    local wpid=$!
    sleep 3 # the writer has a backlog the collector must not count
    cat >"$dir/config.yaml" <<YAML
tail:
  sources:
    - include: ["$dir/access.log"]
  read_existing: end
  checkpoint_path: "$dir/checkpoints.json"
server:
  listen: "127.0.0.1:0"
YAML
    BIN=$1 start_run "$dir/config.yaml" "$dir/stderr"
    local t0
    t0=$(date +%s.%N)
    for s in $(seq 1 "$SECS"); do
        sleep "$(python3 -c "import time; print(max(0, $t0 + $s - time.time()))")"
        get "$dir/stderr" /api/v1/sites | python3 -c '
import json, sys
doc = json.load(sys.stdin)
site = next((x for x in doc.get("sites", []) if "shop" in x.get("site", "")), None)
def find(o, key):
    if isinstance(o, dict):
        if key in o and isinstance(o[key], dict):
            return o[key]
        for v in o.values():
            r = find(v, key)
            if r is not None:
                return r
    return None
out = []
for w in ("1m", "5m"):
    x = find(site, w) if site else None
    rps = x.get("rps", 0.0) if x else 0.0
    cov = x.get("covered_secs", "") if x else ""
    out.append(f"{rps:.1f}" + (f"/{cov}" if cov != "" else ""))
print(" ".join(out))
' >>"$dir/samples" || echo "- -" >>"$dir/samples"
    done
    stop_run
    kill "$wpid"
}

labels=()
for i in $(seq 1 $#); do
    bin=${!i}
    label=$(basename "$bin")-$i
    labels+=("$label")
    echo "sampling $bin ..." >&2
    sample "$bin" "$label"
done

printf "%-4s" "s"
for l in "${labels[@]}"; do printf " | %-30s" "$l 1m rps[/cov] 5m rps[/cov]"; done
echo
for s in $(seq 1 "$SECS"); do
    printf "%-4s" "$s"
    for l in "${labels[@]}"; do
        printf " | %-30s" "$(sed -n "${s}p" "$WORK/$l/samples")"
    done
    echo
done
echo "steady load: $RPS requests/s"
