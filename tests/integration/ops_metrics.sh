#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Prometheus metrics.  Server, relay and both portals serve /metrics on
# loopback ports of their own (config key metrics); a real Prometheus,
# started here on loopback, scrapes the four every second while a
# transfer runs through a tunnel.
#
# Checks: promtool finds each endpoint's text valid; paths other than
# /metrics are 404; through Prometheus' HTTP API: all four targets up; the
# server counted the grant (netport_server_tunnel_decisions_total by rule)
# and a denial by its code; the relay one TCP pairing and the bytes it
# forwarded; the client portal an open tunnel on a relay path, a stream
# opened, tunnel bytes above the transfer's size and keepalive round trips
# in its RTT histogram; the server a handshake failure by its reason
# (a client with a certificate of another CA); labels stay bounded (no
# series per connection: the family of tunnels by state has at most a few
# series).  Without Prometheus (not installed) the API checks are skipped
# and the endpoint checks still run.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
m_srv=$(np_port)
m_rel=$(np_port)
m_pa=$(np_port)
m_pb=$(np_port)
up_port=$(np_port)
sink_port=$(np_port)
nobody_port=$(np_port)
{
	echo "rules:"
	np_dp_rule up pa "$up_port" pb "$sink_port"
	np_dp_rule nobody pa "$nobody_port" pc 9
} | np_policy

np_step "server, relay and portals, each with /metrics on loopback"
np_dp_server metrics="127.0.0.1:$m_srv"
np_wait_log hub "metrics: serving http://127\\.0\\.0\\.1:$m_srv/metrics"
np_dp_relay r1 metrics="127.0.0.1:$m_rel"
np_dp_portal pa 2 0 metrics="127.0.0.1:$m_pa"
np_dp_portal pb 0 1 metrics="127.0.0.1:$m_pb"
np_dp_app sink sink "$sink_port"

np_step "each endpoint's text passes promtool; other paths are 404"
for port in "$m_srv" "$m_rel" "$m_pa" "$m_pb"; do
	curl -sS --fail --max-time 5 "http://127.0.0.1:$port/metrics" \
	    >"$NP_TMP/m-$port.txt" || np_fail "GET /metrics on $port failed"
	if command -v promtool >/dev/null; then
		promtool check metrics <"$NP_TMP/m-$port.txt" ||
		    np_fail "promtool: the text of port $port is not valid"
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	    "http://127.0.0.1:$port/")
	[ "$code" = 404 ] || np_fail "GET / on $port answered $code"
done

np_step "a transfer through the tunnel, a denied request, a stranger"
bytes=$((64 * 1024 * 1024))
np_dp_client put 60 put "$up_port" "$bytes"
np_dp_done put 60
np_wait_log sink '^sink 1: received '
# A rule whose service portal is not connected: denied, PEER_OFFLINE.
curl -s --max-time 5 "http://127.0.0.1:$nobody_port/" >/dev/null 2>&1 || true
np_wait_log hub 'tunnel denied: rule nobody'
# A TLS client whose certificate another CA issued: a handshake failure.
mkdir -p "$NP_TMP/other"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$NP_TMP/other/k.pem" -out "$NP_TMP/other/c.pem" -days 1 \
    -subj /CN=stranger 2>/dev/null
openssl s_client -connect "$NP_SERVER_ADDR" -cert "$NP_TMP/other/c.pem" \
    -key "$NP_TMP/other/k.pem" -tls1_3 </dev/null >/dev/null 2>&1 || true
curl -sS --max-time 5 "http://127.0.0.1:$m_srv/metrics" |
    grep -q '^netport_handshake_failures_total{reason=' ||
    np_fail "the server counted no handshake failure"
curl -sS --max-time 5 "http://127.0.0.1:$m_srv/metrics" | sed -n \
    '/^netport_handshake_failures_total{/p; /^netport_server_tunnel_decisions_total{/p' |
    sed 's/^/    /'

if ! command -v prometheus >/dev/null; then
	np_pass "metrics endpoints (no prometheus here: API checks skipped)"
fi

np_step "Prometheus scrapes the four every second"
prom_port=$(np_port)
cat >"$NP_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: server
    static_configs: [{targets: ["127.0.0.1:$m_srv"]}]
  - job_name: relay
    static_configs: [{targets: ["127.0.0.1:$m_rel"]}]
  - job_name: pa
    static_configs: [{targets: ["127.0.0.1:$m_pa"]}]
  - job_name: pb
    static_configs: [{targets: ["127.0.0.1:$m_pb"]}]
EOF
np_start prom prometheus --config.file="$NP_TMP/prometheus.yml" \
    --storage.tsdb.path="$NP_TMP/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port"
np_wait_log prom 'Server is ready to receive web requests' 30

# prom_value QUERY: the first result's value ("" when none).
prom_value() {
	curl -sS --max-time 5 -G "http://127.0.0.1:$prom_port/api/v1/query" \
	    --data-urlencode "query=$1" |
	    python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}
# prom_wait QUERY: waits (30 s) until QUERY has a result; prints it.
prom_wait() {
	local v deadline=$(($(np__now_ms) + 30000))
	while :; do
		v=$(prom_value "$1")
		[ -z "$v" ] || { echo "$v"; return 0; }
		[ "$(np__now_ms)" -lt "$deadline" ] ||
		    np_fail "Prometheus: no result for $1 in 30 s"
		sleep 0.5
	done
}

np_step "queries while a slow transfer runs (about 4 MiB/s, at most 60 s)"
np_start slow python3 -c '
import signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
block = b"x" * 65536
end = time.monotonic() + 60
while time.monotonic() < end:
    s.sendall(block)
    time.sleep(0.015)
' "$up_port"
prom_wait 'count(up == 1) == 4' >/dev/null
echo "    all four targets up"
v=$(prom_wait 'netport_server_tunnel_decisions_total{rule="up",decision="granted"}')
echo "    grants of rule up: $v"
v=$(prom_wait 'netport_server_tunnel_decisions_total{rule="nobody",decision="PEER_OFFLINE"}')
echo "    denials of rule nobody (PEER_OFFLINE): $v"
v=$(prom_wait 'netport_relay_pairings_total{transport="tcp"} >= 1')
echo "    relay pairings over tcp: $v"
v=$(prom_wait "netport_relay_forwarded_bytes_total{transport=\"tcp\"} > $bytes")
echo "    relay bytes forwarded: $v"
v=$(prom_wait 'netport_portal_tunnels{job="pa",state="open",path="relay",transport="tcp"} == 1')
v=$(prom_wait 'netport_portal_opened_total{job="pa",kind="stream"} >= 1')
echo "    streams opened by pa: $v"
v=$(prom_wait "netport_portal_tunnel_bytes_total{job=\"pa\",direction=\"out\"} > $bytes")
echo "    tunnel bytes out of pa: $v"
v=$(prom_wait 'rate(netport_portal_tunnel_bytes_total{job="pa",direction="out"}[3s]) > 1000000')
echo "    pa sends at $v bytes/s"
v=$(prom_wait 'netport_portal_tunnel_rtt_seconds_count{job="pa"} > 0')
echo "    tunnel round trips measured by pa: $v"
v=$(prom_wait 'histogram_quantile(0.5, sum(rate(netport_control_rtt_seconds_bucket{job="pa"}[10s])) by (le))')
echo "    pa's median control-session RTT: $v s"
v=$(prom_wait 'sum(netport_handshake_failures_total{job="server"}) >= 1')
echo "    handshake failures at the server: $v"
n=$(prom_wait 'count(netport_portal_tunnels{job="pa"})')
[ "$n" -le 4 ] || np_fail "pa has $n series of netport_portal_tunnels"
np_stop slow
np_pass "four endpoints valid; Prometheus reads grants, denials, pairings, bytes, tunnels, streams, RTT histograms, handshake failures"
