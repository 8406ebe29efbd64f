# Shared settings for the local DNS hierarchy (sourced by start.sh, stop.sh, reload.sh).
# Instances: name -> loopback IP. Every instance listens on $DNS_PORT (default 53) of its own IP.
DNS_PORT="${DNS_PORT:-53}"
INSTANCES="root tld ns3 ns4"
inst_ip() {
  case "$1" in
    root) echo 127.0.0.101 ;;  # "."
    tld)  echo 127.0.0.102 ;;  # "test."
    ns3)  echo 127.0.0.103 ;;  # example.test. (ns1), other.test. (ns2)
    ns4)  echo 127.0.0.104 ;;  # example.test. (ns2), other.test. (ns1, ns), glueless.test.
  esac
}
inst_zones() {
  case "$1" in
    root) echo "." ;;
    tld)  echo "test." ;;
    ns3)  echo "example.test. other.test." ;;
    ns4)  echo "example.test. other.test. glueless.test." ;;
  esac
}
zone_file() { # zone name -> file name under DIR/zones
  if [ "$1" = "." ]; then echo root.zone; else echo "${1%.}.zone"; fi
}
# pid of a running instance from OUR pid file only (empty if not running)
inst_pid() {
  local pf="$1/$2/nsd.pid" pid
  [ -s "$pf" ] || return 0
  pid=$(cat "$pf")
  # only report it if it is still an nsd process (NSD retitles itself "nsd: xfrd" etc.)
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in nsd*) echo "$pid" ;; esac
}
