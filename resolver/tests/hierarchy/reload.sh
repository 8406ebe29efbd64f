#!/usr/bin/env bash
# reload.sh DIR — make every running instance re-read changed zone files.
# Edit DIR/zones/<zone>.zone first (bump the SOA serial, good practice though
# NSD reloads on mtime). Uses nsd-control over the instance's unix socket;
# `kill -HUP $(cat DIR/<inst>/nsd.pid)` does the same.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
DIR="$(cd "$1" && pwd)"
PATH="$PATH:/usr/sbin"
for i in $INSTANCES; do
  [ -n "$(inst_pid "$DIR" "$i")" ] && nsd-control -c "$DIR/$i/nsd.conf" reload >/dev/null
done
exit 0
