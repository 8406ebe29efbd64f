#!/usr/bin/env bash
# check.sh DIR — smoke-test a running hierarchy with dig (package dnsutils):
# walks root -> test. -> example.test. by hand and checks each record type.
set -uo pipefail
PORT="${DNS_PORT:-53}"
pass=0; fail=0
q() { dig +norec +nocookie +time=2 +tries=1 -p "$PORT" "$@"; }
expect() { # description, command output, grep -E pattern
  if grep -Eq -- "$3" <<<"$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1"; echo "$2" | sed 's/^/    /'; fi
}
expect "root refers test. with glue"        "$(q @127.0.0.101 www.example.test A)"  'ns\.nic\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+127\.0\.0\.102'
expect "test. refers example.test. + glue"  "$(q @127.0.0.102 www.example.test A)"  'ns2\.example\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+127\.0\.0\.104'
out=$(q @127.0.0.102 host.glueless.test A)
expect "glueless.test. referral"            "$out" 'glueless\.test\..*NS[[:space:]]+ns\.other\.test\.'
expect "glueless.test. referral has no glue" "$out" 'ADDITIONAL: 1$|ADDITIONAL: 1,'
for s in 127.0.0.103 127.0.0.104; do
  expect "$s A"          "$(q @$s www.example.test A +short)"          '^192\.0\.2\.10$'
  expect "$s AAAA"       "$(q @$s www.example.test AAAA +short)"       '^2001:db8::10$'
  expect "$s MX"         "$(q @$s example.test MX +short)"             '^10 mail\.example\.test\.$'
  expect "$s TXT"        "$(q @$s example.test TXT +short)"            'v=spf1'
  expect "$s SRV"        "$(q @$s _sip._udp.example.test SRV +short)"  '^10 60 5060 sip\.example\.test\.$'
  expect "$s CNAME"      "$(q @$s alias.example.test A)"               'alias\.example\.test\..*CNAME[[:space:]]+www\.example\.test\.'
  expect "$s cross CNAME" "$(q @$s cross.example.test A)"              'CNAME[[:space:]]+target\.other\.test\.'
  expect "$s wildcard"   "$(q @$s foo.wild.example.test A +short)"     '^192\.0\.2\.99$'
  expect "$s NXDOMAIN+SOA" "$(q @$s nope.example.test A)"              'status: NXDOMAIN'
  expect "$s NODATA+SOA" "$(q @$s v4only.example.test AAAA)"           'example\.test\..*SOA'
  expect "$s TTL 5"      "$(q @$s short.example.test A)"               'short\.example\.test\.[[:space:]]+5[[:space:]]'
  expect "$s big TXT truncated over UDP" "$(q @$s big.example.test TXT +ignore)" 'flags: qr aa tc'
  expect "$s big TXT over TCP" "$(q @$s big.example.test TXT +tcp)"   'ANSWER: 12,'
done
expect "other.test. ns (glueless target)" "$(q @127.0.0.104 ns.other.test A +short)" '^127\.0\.0\.104$'
expect "glueless.test. data"              "$(q @127.0.0.104 host.glueless.test A +short)" '^192\.0\.2\.88$'
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
