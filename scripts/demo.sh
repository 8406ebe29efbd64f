#!/usr/bin/env bash
# make demo: a local DNS hierarchy (NSD on 127.0.0.101-104) and a 4-node
# dhtr cluster (127.0.0.91-94, DNS on port 5335); a few names resolved with
# dig through different nodes, showing where each answer came from. Stops
# everything it started, also on Ctrl-C or failure. Needs root (port 53).
set -euo pipefail
BIN="${1:?usage: demo.sh PATH_TO_DHTR}"
HIER="$(cd "$(dirname "$0")/../resolver/tests/hierarchy" && pwd)"
WORK="$(mktemp -d /tmp/dhtr-demo-XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  "$HIER/stop.sh" "$WORK/hier" >/dev/null 2>&1 || true
  echo "stopped everything; logs in $WORK"
}
trap cleanup EXIT INT TERM

echo "== starting the DNS hierarchy (root, test., example.test., other.test., glueless.test.)"
mkdir -p "$WORK/hier"
"$HIER/start.sh" "$WORK/hier" >/dev/null
printf '. 3600000 IN NS a.root-servers.hier.\na.root-servers.hier. 3600000 IN A 127.0.0.101\n' >"$WORK/root.hints"

echo "== starting 4 dhtr nodes"
boot=""
for i in 1 2 3 4; do
  ip="127.0.0.9$i"
  args=(run --network demo --test-network --data-dir "$WORK/n$i" --listen "/ip4/$ip/tcp/4601" --http-listen "$ip:9600"
        --dns-listen "$ip:5335" --root-hints "$WORK/root.hints" --log warn)
  [ -n "$boot" ] && args+=(--bootstrap "$boot")
  "$BIN" "${args[@]}" >"$WORK/n$i.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do "$BIN" status --http "$ip:9600" >/dev/null 2>&1 && break; sleep 0.1; done
  if [ -z "$boot" ]; then
    boot="/ip4/$ip/tcp/4601/p2p/$("$BIN" status --http "$ip:9600" --json | sed -nE 's/.*"peer_id": "([^"]+)".*/\1/p' | head -1)"
  fi
done
sleep 5  # stabilization: successor lists fill one position per round

source_of() { # node name: which source answered the last query on that node
  curl -s "http://127.0.0.9$1:9600/metrics" | grep '^dhtr_dns_queries_total' | grep -v ' 0$' | sed -E 's/.*source="([a-z]+)".*rcode="([A-Z]+)".* ([0-9.e+]+)$/\1:\2=\3/' | tr '\n' ' '
}
ask() { # node name type
  local out; out=$(dig -p 5335 @127.0.0.9$1 +short "$2" "$3" | tr '\n' ' ')
  printf '  n%s  %-28s %-5s -> %-40s [%s]\n' "$1" "$2" "$3" "${out:-(no records)}" "$(source_of "$1")"
}

echo "== n1 resolves from the roots (fallback) and asks the committees to insert what it found"
ask 1 www.example.test A
ask 1 cross.example.test A
ask 1 example.test MX
ask 1 deep.example.test A
sleep 3
echo "== n3 and n4 answer the same names from the network (a strict majority of each committee)"
ask 3 www.example.test A
ask 4 cross.example.test A
ask 3 example.test MX
echo "== the committed history of www.example.test A (read from n2)"
"$BIN" history --http 127.0.0.92:9600 www.example.test A
echo "== with every authoritative server stopped, n2 still answers from the network"
"$HIER/stop.sh" "$WORK/hier" >/dev/null
ask 2 www.example.test A
