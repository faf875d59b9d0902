#!/usr/bin/env bash
# CPU cost per line of `sitepulse replay`, two builds side by side, per
# format: a generated corpus of each format is replayed by BEFORE and by
# AFTER, interleaved (format by format, BEFORE then AFTER, RUNS rounds), and
# the medians are printed side by side: CPU µs per line (user + sys from
# /usr/bin/time, as throughput.sh does) and lines per second per core
# (lines / CPU seconds), with what AFTER made of the lines.
#
#   cargo build --release -p sitepulse -p sitepulse-benches
#   benches/live/formats.sh BEFORE_BIN AFTER_BIN [CLF_LINES] [TEXT_LINES] [RUNS]
#                                       # default 2000000 2000000 3
#
# FORMATS="traefik_clf text text:cri" picks the corpora (format[:framing];
# `text` is the generator's container application logs, cut to exactly
# TEXT_LINES physical lines). GEN_CORPUS_BIN=path names the generator (it
# must know every format asked for); CORPUS_DIR (default /dev/shm when it
# exists) holds the corpora. A build that predates a format counts its
# lines as unparsed: that is its "before". One replay at a time; on a
# shared machine expect noise (the load average is printed per run).
source "$(dirname "$0")/common.sh"
[ $# -ge 2 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
BEFORE=$(realpath "$1")
AFTER=$(realpath "$2")
CLF_LINES=${3:-2000000}
TEXT_LINES=${4:-2000000}
RUNS=${5:-3}
FORMATS=${FORMATS:-traefik_clf text text:cri}
for b in "$BEFORE" "$AFTER" "$GEN"; do
    [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
BASE=${CORPUS_DIR:-$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)}
DIR=$(mktemp -d "$BASE/sitepulse-formats.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

echo "before: $BEFORE"
echo "after:  $AFTER"
echo "cpus: $(nproc); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for spec in $FORMATS; do
    fmt=${spec%%:*}
    framing=none
    [ "$spec" != "$fmt" ] && framing=${spec#*:}
    n=$CLF_LINES
    [ "$fmt" = text ] && n=$TEXT_LINES
    f="$DIR/${fmt}_$framing.log"
    # The generator counts records; a multi-line format's records span
    # more lines: scale by a sample's lines per record (+0.5%), so the cut
    # to exactly n lines keeps the whole mix (its apps come in blocks).
    records=$n
    case $fmt in text | fpm_slow | wordpress)
        sample=$("$GEN" --format "$fmt" --lines 100000 --quiet --out - | wc -l)
        records=$((n * 100500 / sample + 1)) ;;
    esac
    "$GEN" --format "$fmt" --framing "$framing" --lines "$records" --quiet --out - | head -n "$n" >"$f"
    echo "corpus $spec: $(wc -l <"$f") lines, $(($(stat -c %s "$f") / 1048576)) MiB"
done

RES="$DIR/results.tsv"
for run in $(seq "$RUNS"); do
    for spec in $FORMATS; do
        fmt=${spec%%:*}
        framing=none
        [ "$spec" != "$fmt" ] && framing=${spec#*:}
        f="$DIR/${fmt}_$framing.log"
        cat "$f" >/dev/null # page cache
        for side in before after; do
            bin=$BEFORE
            [ $side = after ] && bin=$AFTER
            load=$(cut -d' ' -f1 /proc/loadavg)
            /usr/bin/time -f "%e %U %S %M" -o "$DIR/time" "$bin" replay "$f" >"$DIR/out" 2>"$DIR/err" || {
                echo "$side replay of $spec failed:" >&2
                cat "$DIR/err" >&2
                exit 1
            }
            read -r e u s m <"$DIR/time"
            # "total: N lines, R records, U unparsed, ..."
            read -r lines records unparsed < <(sed -n 's/^total: \([0-9]*\) lines, \([0-9]*\) records, \([0-9]*\) unparsed.*/\1 \2 \3/p' "$DIR/out")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                "$spec" "$side" "$run" "$e" "$u" "$s" "$m" "$lines" "$records $unparsed" "$load" >>"$RES"
            printf 'run %s %-16s %-6s wall %6.2f s  user %6.2f  sys %5.2f  %s lines %s records %s unparsed  load %s\n' \
                "$run" "$spec" "$side" "$e" "$u" "$s" "$lines" "$records" "$unparsed" "$load"
        done
    done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RES" "$RUNS" <<'PY'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    spec, side, run, e, u, s, m, lines, rec, load = line.rstrip("\n").split("\t")
    records, unparsed = rec.split()
    rows[(spec, side)].append(dict(cpu=float(u) + float(s), wall=float(e), lines=int(lines),
                                   records=int(records), unparsed=int(unparsed), rss=int(m)))
specs = list(dict.fromkeys(k[0] for k in rows))
print(f"\nmedian of {sys.argv[2]} runs (CPU = user + sys of the whole process)")
hdr = ("format", "lines", "µs/line before", "after", "M lines/s/core before", "after",
       "records/unparsed before", "after")
print(f"{hdr[0]:<14} {hdr[1]:>9} | {hdr[2]:>14} {hdr[3]:>7} | {hdr[4]:>21} {hdr[5]:>7} | {hdr[6]:>25} {hdr[7]:>19}")
for spec in specs:
    b, a = rows[(spec, "before")], rows[(spec, "after")]
    n = a[0]["lines"]
    us = lambda rs: statistics.median(r["cpu"] for r in rs) * 1e6 / n
    rate = lambda rs: n / statistics.median(r["cpu"] for r in rs) / 1e6
    ru = lambda rs: f'{rs[0]["records"]}/{rs[0]["unparsed"]}'
    print(f"{spec:<14} {n:>9} | {us(b):>14.3f} {us(a):>7.3f} | {rate(b):>21.2f} {rate(a):>7.2f} | {ru(b):>25} {ru(a):>19}")
PY
