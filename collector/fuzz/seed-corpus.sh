#!/usr/bin/env bash
# Seeds collector/fuzz/corpus/<target>/ from collector/samples (git-ignored;
# libFuzzer adds what it finds to the same folders). Idempotent: a seed is
# named by its content's hash. Usage: collector/fuzz/seed-corpus.sh [lines]
set -euo pipefail
cd "$(dirname "$0")"
samples=../samples
corpus=corpus
per=${1:-40}   # lines (or chunks) taken from each sample file

# put DIR < bytes: one seed file named by its hash.
put() {
    local dir=$1 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    [ -s "$tmp" ] || { rm -f "$tmp"; return; }
    mv "$tmp" "$dir/$(sha1sum "$tmp" | cut -c1-40)"
}

# lines FILE N: N lines spread evenly over FILE (first lines included).
lines() {
    awk -v n="$2" -v total="$(wc -l <"$1")" \
        'BEGIN { step = int(total / n); if (step < 1) step = 1 } (NR - 1) % step == 0 && c < n { print; c++ }' "$1"
}

parser_seed() {
    local target=$1 file=$2
    mkdir -p "$corpus/$target"
    lines "$file" "$per" | while IFS= read -r line; do
        printf '%s' "$line" | put "$corpus/$target"
    done
}

parser_seed parse_traefik_clf $samples/traefik_clf.log
parser_seed parse_traefik_json $samples/traefik_json.log
parser_seed parse_nginx $samples/nginx.log
parser_seed parse_fpm_access $samples/fpm_access.log
parser_seed parse_fpm_error $samples/fpm_error.log
# A slow-log record is a block the framer joined: seed whole blocks.
mkdir -p "$corpus/parse_fpm_slow"
awk -v n="$per" 'BEGIN { RS = ""; ORS = "" } NR <= n { f = sprintf("%s/blk%03d", dir, NR); print $0 "\n" > f; close(f) }' \
    dir="$corpus/parse_fpm_slow" $samples/fpm_slow.log
for f in "$corpus"/parse_fpm_slow/blk*; do put "$corpus/parse_fpm_slow" <"$f"; rm -f "$f"; done
parser_seed parse_wordpress $samples/wordpress/debug.log

# The pipeline reads whole inputs: chunks of a few consecutive lines of
# every sample, plain and container-framed (CRI pods, Docker json-file).
mkdir -p "$corpus/pipeline"
find $samples -type f -name '*.log' | sort | while IFS= read -r file; do
    total=$(wc -l <"$file")
    step=$(( total / per )); [ "$step" -ge 1 ] || step=1
    for ((i = 0; i < per; i++)); do
        start=$(( i * step + 1 ))
        [ "$start" -le "$total" ] || break
        sed -n "${start},$(( start + i % 8 ))p" "$file" | put "$corpus/pipeline"
    done
done
for d in "$corpus"/*/; do echo "$d $(ls "$d" | wc -l) files"; done
