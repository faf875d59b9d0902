#!/usr/bin/env bash
# Idle cost of `sitepulse run`: FILES watched files, a trickle of RATE
# lines per second spread over them, CPU of the collector over SECS.
#
#   cargo build --release -p sitepulse
#   benches/live/idle.sh [FILES] [RATE] [SECS]     # default 1000 100 60
#
# LAYOUT=pods puts each file in its own Kubernetes-style directory
# (logs/<ns>_<pod>_<uid>/app/0.log), one inotify watch per file.
source "$(dirname "$0")/common.sh"
FILES=${1:-1000}
RATE=${2:-100}
SECS=${3:-60}
DIR=$(mktemp -d /tmp/sitepulse-idle.XXXXXX)
PID=; WPID=
trap 'kill $PID $WPID 2>/dev/null || true; rm -rf "$DIR"' EXIT
mkdir -p "$DIR/logs"
LINE='10.42.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8" 1 "websecure-site001-example-com@kubernetes" "http://10.42.1.1:80" 12ms'
if [ "${LAYOUT:-flat}" = pods ]; then
    for i in $(seq -w 1 "$FILES"); do
        mkdir -p "$DIR/logs/site${i}_site${i}-php-7d9f_${i}/app"
        echo "$LINE" >"$DIR/logs/site${i}_site${i}-php-7d9f_${i}/app/0.log"
    done
    write_config "$DIR" "$DIR/logs/*/*/*.log" "${EXTRA_YAML:-}"
else
    for i in $(seq -w 1 "$FILES"); do echo "$LINE" >"$DIR/logs/f$i.log"; done
    write_config "$DIR" "$DIR/logs/*.log" "${EXTRA_YAML:-}"
fi
start_run "$DIR/config.yaml" "$DIR/run.err"
sleep 3 # initial read
# The trickle: one line to a random file, RATE times a second, with the
# current time (a writer that opens, appends and closes, like PHP's
# error_log).
python3 - "$DIR/logs" "$FILES" "$RATE" <<'PY' &
import os, random, sys, time
d, files, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
names = sorted(os.path.relpath(os.path.join(r, f), d)
               for r, _, fs in os.walk(d) for f in fs)
t = time.time()
while True:
    now = time.gmtime()
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", now)
    line = (f'10.42.0.1 - - [{stamp}] "GET /p HTTP/1.1" 200 512 "-" "curl/8" 1 '
            f'"websecure-site{random.randrange(1, 500):03d}-example-com@kubernetes" "http://10.42.1.1:80" 12ms\n')
    with open(os.path.join(d, random.choice(names)), "a") as f:
        f.write(line)
    t += 1.0 / rate
    time.sleep(max(0.0, t - time.time()))
PY
WPID=$!
sleep 2
c0=$(cpu_secs "$PID"); t0=$(date +%s.%N)
sleep "$SECS"
c1=$(cpu_secs "$PID"); t1=$(date +%s.%N)
get "$DIR/run.err" /api/v1/status >"$DIR/status.json"
kill $WPID
stop_run
python3 - "$c0" "$c1" "$t0" "$t1" "$FILES" "$RATE" "$DIR/status.json" <<'PY'
import json, sys
c0, c1, t0, t1 = map(float, sys.argv[1:5])
files, rate, st = sys.argv[5], sys.argv[6], json.load(open(sys.argv[7]))
pct = (c1 - c0) / (t1 - t0) * 100
print(f"idle: {files} files, {rate} lines/s trickle: {pct:.2f}% of one core over {t1 - t0:.0f} s "
      f"(inotify={st['tail']['inotify']}, dirs watched {st['tail']['dirs_watched']}, "
      f"files watched {st['files_watched']}, lines {st['lines']}, behind {st['behind_bytes']} B)")
PY
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
