#!/usr/bin/env bash
# Memory of `sitepulse run` with a Loki sink whose receiver is down (nothing
# listens on its port): the spool fills to spool.max_bytes, shipping stops
# reading ahead, aggregation goes on. Peak RSS for each backlog size given,
# with and without the sink, one run each, same binary: a bounded design
# shows the same peak however large the backlog.
#
#   cargo build --release -p sitepulse -p sitepulse-benches
#   benches/live/sink_memory.sh [LINES...]       # default 500000 2000000
#
# SPOOL_BYTES (default 64 MiB) and BATCH_BYTES (1 MiB) size the sink.
source "$(dirname "$0")/common.sh"
SIZES=("${@:-500000 2000000}")
# shellcheck disable=SC2206
SIZES=(${SIZES[*]})
SPOOL=${SPOOL_BYTES:-67108864}
BATCH=${BATCH_BYTES:-1048576}
DIR=$(mktemp -d /tmp/sitepulse-sinkmem.XXXXXX)
PID=
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
# A port nothing listens on.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf "%-10s %-6s %10s %12s %12s %10s\n" lines sink peak_MiB counted spool_MiB blocked
for n in "${SIZES[@]}"; do
    rm -rf "$DIR/logs" && mkdir -p "$DIR/logs"
    "$GEN" --format traefik_clf --sites 500 --lines "$n" >"$DIR/logs/access.log"
    for sink in no yes; do
        rm -rf "$DIR/checkpoints.json" "$DIR/spool"
        extra=""
        if [ "$sink" = yes ]; then
            extra="sinks:
  loki:
    endpoint: http://127.0.0.1:$DEAD/loki/api/v1/push
    batch_bytes: $BATCH
    spool: {max_bytes: $SPOOL}"
        fi
        write_config "$DIR" "$DIR/logs/*.log" "$extra"
        start_run "$DIR/config.yaml" "$DIR/run.err"
        counted=0
        for _ in $(seq 600); do
            counted=$(get "$DIR/run.err" /api/v1/status | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(c["records"] for c in s["sources"].values()))' 2>/dev/null || echo 0)
            [ "$counted" -ge "$n" ] && break
            sleep 0.5
        done
        sleep 2
        status=$(get "$DIR/run.err" /api/v1/status)
        spool=$(echo "$status" | python3 -c 'import json,sys; s=json.load(sys.stdin)["sinks"]; print("%.1f" % (s[0]["spool_bytes"]/1048576) if s else "-")')
        blocked=$(echo "$status" | python3 -c 'import json,sys; s=json.load(sys.stdin)["sinks"]; print(s[0]["blocked"] if s else "-")')
        printf "%-10s %-6s %10s %12s %12s %10s\n" "$n" "$sink" "$(peak_rss_mib "$PID")" "$counted" "$spool" "$blocked"
        stop_run
    done
done
