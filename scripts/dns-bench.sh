#!/usr/bin/env bash
# make bench-dns: DNS figures on one box, against a local NSD hierarchy.
#  1. cache hits: dnsperf against one dhtr node and against Unbound (same
#     box, same hierarchy, same query set, both caches warmed), QPS ratio;
#  2. latency of a cold fallback resolution (names never asked before, under
#     a wildcard) through n1, and of a network hit (the same names through
#     n3 once committed), in a 4-node cluster.
# Needs root (port 53); installs dnsperf and unbound with apt if missing.
# Stops everything it started.
set -euo pipefail
BIN_DIR="${1:?usage: dns-bench.sh TARGET_RELEASE_DIR}"
BIN="$BIN_DIR/dhtr"; LAT="$BIN_DIR/dhtr-dns-latency"
HIER="$(cd "$(dirname "$0")/../resolver/tests/hierarchy" && pwd)"
WORK="$(mktemp -d /tmp/dhtr-dnsbench-XXXXXX)"
SECS="${DNSPERF_SECONDS:-10}"
for p in dnsperf unbound; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf unbound >/dev/null
done
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  "$HIER/stop.sh" "$WORK/hier" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/hier"
"$HIER/start.sh" "$WORK/hier" >/dev/null
printf '. 3600000 IN NS a.root-servers.hier.\na.root-servers.hier. 3600000 IN A 127.0.0.101\n' >"$WORK/root.hints"
printf '[dns]\nrate_per_second = 100000000\n' >"$WORK/dhtr.toml"

boot=""
for i in 1 2 3 4; do
  ip="127.0.0.9$i"
  args=(run --network bench --test-network --data-dir "$WORK/n$i" --listen "/ip4/$ip/tcp/4601" --http-listen "$ip:9600"
        --dns-listen "$ip:5335" --root-hints "$WORK/root.hints" --config "$WORK/dhtr.toml" --log warn)
  [ -n "$boot" ] && args+=(--bootstrap "$boot")
  "$BIN" "${args[@]}" >"$WORK/n$i.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do "$BIN" status --http "$ip:9600" >/dev/null 2>&1 && break; sleep 0.1; done
  [ -z "$boot" ] && boot="/ip4/$ip/tcp/4601/p2p/$("$BIN" status --http "$ip:9600" --json | sed -nE 's/.*"peer_id": "([^"]+)".*/\1/p' | head -1)"
done

cat >"$WORK/unbound.conf" <<CONF
server:
  interface: 127.0.0.99@5399
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  root-hints: "$WORK/root.hints"
  module-config: "iterator"
  num-threads: 2
  username: ""
  chroot: ""
  directory: "$WORK"
  pidfile: "$WORK/unbound.pid"
  use-syslog: no
  logfile: "$WORK/unbound.log"
  harden-referral-path: no
  qname-minimisation: no
CONF
/usr/sbin/unbound -d -c "$WORK/unbound.conf" >/dev/null 2>&1 &
PIDS+=($!)
sleep 5

# Query set: the hierarchy's names, warmed in both caches.
printf '%s\n' "www.example.test A" "www.example.test AAAA" "example.test MX" "example.test TXT" \
  "alias.example.test A" "cross.example.test A" "mail.example.test A" "target.other.test A" \
  "host.glueless.test A" "_sip._udp.example.test SRV" >"$WORK/queries"
while read -r n t; do
  dig -p 5335 @127.0.0.91 +short "$n" "$t" >/dev/null; dig -p 5399 @127.0.0.99 +short "$n" "$t" >/dev/null
done <"$WORK/queries"

qps() { dnsperf -s "$1" -p "$2" -d "$WORK/queries" -l "$SECS" -c 20 -q 200 2>/dev/null | sed -nE 's/.*Queries per second: *([0-9.]+).*/\1/p'; }
d=$(qps 127.0.0.91 5335); u=$(qps 127.0.0.99 5399)
echo "cache hits, dnsperf ${SECS}s, 20 clients, 200 outstanding, 10 names:"
echo "  dhtr n1: ${d} qps   unbound: ${u} qps   ratio dhtr/unbound: $(awk -v a="$d" -v b="$u" 'BEGIN { printf "%.2f", a / b }')"

names=(); for k in $(seq 1 200); do names+=("b$k.wild.example.test."); done
echo "cold fallback resolution through n1 (200 names never asked before, delegations warm):"
echo "  $("$LAT" 127.0.0.91:5335 "${names[@]}")"
sleep 5
echo "network hits through n3 (the same names, committed by then; n3 never asked them):"
echo "  $("$LAT" 127.0.0.93:5335 "${names[@]}")"
echo "source of n3's answers: $(curl -s http://127.0.0.93:9600/metrics | grep '^dhtr_dns_queries_total' | grep -v ' 0$' | tr '\n' ' ')"
