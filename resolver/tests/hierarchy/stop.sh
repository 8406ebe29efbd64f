#!/usr/bin/env bash
# stop.sh DIR [INSTANCE...] — stop the NSD instances started by start.sh DIR,
# using only the pid files in DIR. Instances: root tld ns3 ns4 (default: all).
# NSD daemonises into its own session: the pid in the file is also the process
# group id of that instance's processes (xfrd, main, server), so the KILL
# fallback signals that group only.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
[ $# -ge 1 ] || { echo "usage: $0 DIR [INSTANCE...]" >&2; exit 2; }
DIR="$(cd "$1" 2>/dev/null && pwd)" || exit 0
shift
list="${*:-$INSTANCES}"
declare -A pids
for i in $list; do
  pid=$(inst_pid "$DIR" "$i")
  [ -n "$pid" ] || continue
  pids[$i]=$pid
  kill -TERM "$pid" 2>/dev/null
done
for i in "${!pids[@]}"; do
  pid=${pids[$i]}
  for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 -- "-$pid" 2>/dev/null; then
    echo "$i (group $pid) did not stop on TERM; sending KILL to that group" >&2
    kill -KILL -- "-$pid" 2>/dev/null; sleep 0.2
  fi
done
for i in $list; do
  [ -z "$(inst_pid "$DIR" "$i")" ] && rm -f "$DIR/$i/nsd.pid" "$DIR/$i/ctl.sock"
done
exit 0
