#!/usr/bin/env bash
# start.sh DIR [INSTANCE...] — generate zones + configs in DIR and start the 4
# NSD instances (root tld ns3 ns4) on 127.0.0.101..104 port ${DNS_PORT:-53}.
# Needs root for port 53. No systemd. With INSTANCE names, only those are
# started (e.g. to bring back one server after `stop.sh DIR ns3`), and the zone
# files already in DIR/zones are kept.
# Pid files: DIR/<inst>/nsd.pid, logs: DIR/<inst>/nsd.log, control socket DIR/<inst>/ctl.sock.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
[ $# -ge 1 ] || { echo "usage: $0 DIR [INSTANCE...]" >&2; exit 2; }
mkdir -p "$1"; DIR="$(cd "$1" && pwd)"; shift
ONLY="$*"
[ -n "$ONLY" ] && INSTANCES="$ONLY"

if ! command -v nsd >/dev/null 2>&1 && [ -x /usr/sbin/nsd ]; then PATH="$PATH:/usr/sbin"; fi
if ! command -v nsd >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "nsd not found: installing (apt-get install nsd)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends nsd >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends nsd >/dev/null; }
    PATH="$PATH:/usr/sbin"
  else
    echo "nsd is not installed (Debian package: nsd)" >&2; exit 1
  fi
fi

for i in $INSTANCES; do
  if [ -n "$(inst_pid "$DIR" "$i")" ]; then echo "$i already running in $DIR; run stop.sh first" >&2; exit 1; fi
done

if [ -z "$ONLY" ] || [ ! -d "$DIR/zones" ]; then "$HERE/gen-zones.sh" "$DIR/zones"; fi

for i in $INSTANCES; do
  d="$DIR/$i"; mkdir -p "$d"; rm -f "$d/nsd.pid" "$d/ctl.sock"
  {
    cat <<CONF
server:
  ip-address: $(inst_ip "$i")@$DNS_PORT
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonesdir: "$DIR/zones"
  zonelistfile: "$d/zone.list"
  xfrdfile: "$d/xfrd.state"
  xfrdir: "$d"
  pidfile: "$d/nsd.pid"
  logfile: "$d/nsd.log"
  verbosity: 1
  hide-version: yes
  identity: "$i"
  minimal-responses: no
remote-control:
  control-enable: yes
  control-interface: $d/ctl.sock
CONF
    for z in $(inst_zones "$i"); do
      printf 'zone:\n  name: "%s"\n  zonefile: "%s"\n' "$z" "$(zone_file "$z")"
    done
  } > "$d/nsd.conf"
  nsd-checkconf "$d/nsd.conf"
  for z in $(inst_zones "$i"); do
    nsd-checkzone "$z" "$DIR/zones/$(zone_file "$z")" >/dev/null
  done
  nsd -c "$d/nsd.conf"   # daemonises; writes the pid file
done

# wait until every instance answers its control socket (max ~10 s)
for i in $INSTANCES; do
  ok=
  for _ in $(seq 1 100); do
    if nsd-control -c "$DIR/$i/nsd.conf" status >/dev/null 2>&1 && [ -n "$(inst_pid "$DIR" "$i")" ]; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "instance $i did not come up; see $DIR/$i/nsd.log" >&2; "$HERE/stop.sh" "$DIR" $INSTANCES || true; exit 1; }
done
echo "up in $DIR (port $DNS_PORT):$(for i in $INSTANCES; do printf ' %s=%s' "$i" "$(inst_ip "$i")"; done)"
