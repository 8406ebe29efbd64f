#!/usr/bin/env bash
# set-short.sh DIR IPV4 — change short.example.test. (TTL 5 s) to IPV4 on both
# example.test. servers: rewrite the zone file, bump the SOA serial, reload.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="$(cd "$1" && pwd)"; ip="$2"
f="$DIR/zones/example.test.zone"
old=$(sed -nE 's/.* ([0-9]+) ; serial.*/\1/p' "$f")
sed -i -E "s/^(short[[:space:]]+5[[:space:]]+IN[[:space:]]+A[[:space:]]+).*/\1$ip/; s/ $old ; serial/ $((old + 1)) ; serial/" "$f"
"$HERE/reload.sh" "$DIR"
