#!/usr/bin/env bash
# gen-zones.sh ZONEDIR — write the test hierarchy's zone files.
#   .               root, served by 127.0.0.101 (a.root-servers.hier.)
#   test.           TLD, 127.0.0.102 (ns.nic.test.)
#   example.test.   ns1 127.0.0.103, ns2 127.0.0.104 (glue in test.)
#   other.test.     ns1 127.0.0.104, ns2 127.0.0.103 (glue in test.);
#                   ns.other.test. 127.0.0.104 exists ONLY inside other.test.
#   glueless.test.  NS ns.other.test. -> no glue anywhere in test.: the
#                   resolver has to resolve ns.other.test. on the side.
set -euo pipefail
Z="$1"; mkdir -p "$Z"
SOA_TIMERS="3600 600 86400 30"   # refresh retry expire minimum(negative TTL 30 s)

cat > "$Z/root.zone" <<ZONE
\$TTL 3600
.                       86400 IN SOA a.root-servers.hier. hostmaster.hier. 1 $SOA_TIMERS
.                       86400 IN NS  a.root-servers.hier.
a.root-servers.hier.    86400 IN A   127.0.0.101
; delegation of test. with glue
test.                   86400 IN NS  ns.nic.test.
ns.nic.test.            86400 IN A   127.0.0.102
ZONE

cat > "$Z/test.zone" <<ZONE
\$ORIGIN test.
\$TTL 3600
@               IN SOA ns.nic.test. hostmaster.nic.test. 1 $SOA_TIMERS
@               IN NS  ns.nic.test.
ns.nic          IN A   127.0.0.102
; example.test.: in-bailiwick NS with glue
example         IN NS  ns1.example.test.
example         IN NS  ns2.example.test.
ns1.example     IN A   127.0.0.103
ns2.example     IN A   127.0.0.104
; other.test.: in-bailiwick NS with glue
other           IN NS  ns1.other.test.
other           IN NS  ns2.other.test.
ns1.other       IN A   127.0.0.104
ns2.other       IN A   127.0.0.103
; glueless.test.: NS name lives in a sibling zone and has NO glue here
glueless        IN NS  ns.other.test.
ZONE

{
cat <<ZONE
\$ORIGIN example.test.
\$TTL 300
@               IN SOA ns1.example.test. hostmaster.example.test. (
                       1 ; serial
                       $SOA_TIMERS )
@               IN NS    ns1
@               IN NS    ns2
ns1             IN A     127.0.0.103
ns2             IN A     127.0.0.104
@               IN A     192.0.2.1
@               IN AAAA  2001:db8::1
@               IN MX    10 mail
@               IN TXT   "v=spf1 -all"
mail            IN A     192.0.2.25
www             IN A     192.0.2.10
www             IN AAAA  2001:db8::10
; name with only an A record -> AAAA query is NODATA (NOERROR, empty, SOA in authority)
v4only          IN A     192.0.2.4
_sip._udp       IN SRV   10 60 5060 sip
sip             IN A     192.0.2.50
; CNAME inside the zone
alias           IN CNAME www
; CNAME into another zone (other.test.)
cross           IN CNAME target.other.test.
; two-step chain: chain -> cross (this zone) -> target.other.test.
chain           IN CNAME cross
; CNAME into the glueless zone
deep            IN CNAME host.glueless.test.
; wildcard: anything.wild.example.test. A/TXT
*.wild          IN A     192.0.2.99
*.wild          IN TXT   "wildcard"
; short TTL record a test can change (set-short.sh DIR IP)
short       5   IN A     192.0.2.5
ZONE
# big TXT RRset: 12 strings of 200 chars (> 2400 bytes) -> truncated over UDP with EDNS 1232
for n in $(seq -w 1 12); do
  printf 'big             IN TXT   "%s-%s"\n' "$n" "$(printf 'x%.0s' $(seq 1 196))"
done
} > "$Z/example.test.zone"

cat > "$Z/other.test.zone" <<ZONE
\$ORIGIN other.test.
\$TTL 300
@               IN SOA ns1.other.test. hostmaster.other.test. 1 $SOA_TIMERS
@               IN NS    ns1
@               IN NS    ns2
ns1             IN A     127.0.0.104
ns2             IN A     127.0.0.103
; the NS target of glueless.test.; only defined here
ns              IN A     127.0.0.104
target          IN A     192.0.2.77
target          IN AAAA  2001:db8::77
@               IN TXT   "other zone"
ZONE

cat > "$Z/glueless.test.zone" <<ZONE
\$ORIGIN glueless.test.
\$TTL 300
@               IN SOA ns.other.test. hostmaster.glueless.test. 1 $SOA_TIMERS
@               IN NS    ns.other.test.
host            IN A     192.0.2.88
host            IN AAAA  2001:db8::88
@               IN MX    5 host
ZONE
