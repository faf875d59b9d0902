#!/usr/bin/env bash
# A Loki outage at node scale: many files, rotations while the sink lags,
# SIGKILL and SIGTERM restarts, then Loki back behind 503s; every line must
# arrive (collector/tests/sink_loki.rs, soak_many_files_outage_rotations_and_kills).
#
#   SOAK_FILES=2000 SOAK_LINES=1000 SOAK_RESTARTS=3 tests/soak/sink_loki.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export SOAK_FILES=${SOAK_FILES:-1000} SOAK_LINES=${SOAK_LINES:-1000} SOAK_RESTARTS=${SOAK_RESTARTS:-3}
cargo test -p sitepulse --test sink_loki soak -- --ignored --nocapture
