#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# QUIC through the relay, paired over UDP (direct.quic: on), on loopback
# with every direct path blocked (iptables DROP on both portals' direct
# ports, TCP and UDP).
#   1. A tunnel comes up on the relay over TCP, and moves to a QUIC path
#      through the same relay: both portals register over UDP with the
#      grant's ticket, the relay pairs them and forwards blind.  The relay's
#      status shows the pair; 32 MiB arrive whole; iptables -u datagrams
#      ride DATAGRAM frames through the relay.
#   2. Strangers at the relay's UDP port: a registration with a forged
#      ticket is refused with a status (an answer no larger than the
#      request), junk gets nothing; both are counted; the tunnel goes on.
#   No stream is ever reset.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v iptables >/dev/null; then
	echo "SKIP: needs root and iptables (blocking loopback ports)"
	exit 77
fi
mib=${NP_QUIC_RELAY_MIB:-32}
bytes=$((mib * 1024 * 1024))
secs=$((mib / 4 + 60))
np_dp_pki
port_up=$(np_port)
port_echo=$(np_port)
sink_port=$(np_port)
echo_port=$(np_port)
pa_direct=$(np_port)
pb_direct=$(np_port)
perf_rule=$(np_port)
perf_port=$(np_port)
{
	echo "rules:"
	np_dp_rule up pa "$port_up" pb "$sink_port"
	np_dp_rule echo pa "$port_echo" pb "$echo_port"
	np_dp_rule iperf-ctl pa "$perf_rule" pb "$perf_port"
	np_dp_rule iperf-data pa "$perf_rule" pb "$perf_port"
	echo "    protocol: udp"
} | np_policy
# The rules this test adds, removed again on exit.
block_direct() {
	local p
	np_dp_blackhole "$pa_direct" "$pb_direct"
	for p in "$pa_direct" "$pb_direct"; do
		iptables -w -I INPUT -i lo -p udp --dport "$p" -j DROP
	done
}
unblock_direct() {
	local p
	np_dp_unblackhole
	for p in "$pa_direct" "$pb_direct"; do
		iptables -w -D INPUT -i lo -p udp --dport "$p" -j DROP 2>/dev/null || true
	done
}
NP_EXIT_HOOK=unblock_direct

echo_once() {
	np_dp_echo_once "$port_echo" "$1"
}

np_step "server, relay, portals with QUIC paths; every direct path blocked"
np_dp_server
np_dp_relay
np_wait_log r1 'UDP: pairing portals on port [0-9]+'
block_direct
timing=(tunnel.keepalive=500ms tunnel.dead_timeout=3s tunnel.setup_timeout=3s
	direct.retry=30s direct.quic=on)
NP_DIRECT=auto np_dp_portal pa 4 0 "${timing[@]}" \
    "direct.listen=127.0.0.1:$pa_direct"
NP_DIRECT=auto np_dp_portal pb 0 4 "${timing[@]}" \
    "direct.listen=127.0.0.1:$pb_direct"
np_wait_port "$port_up" open
np_dp_app sink sink "$sink_port"
np_dp_app echo echo "$echo_port"

np_step "the tunnel moves from the relay over TCP to QUIC through the relay"
echo_once "first " || np_fail "the first echo failed"
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb up via relay '
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb now via relay 127\.0\.0\.1:[0-9]+ \(r1/quic, QUIC, TLSv1\.3' 15
np_log_line pa 'now via relay .*QUIC' | sed 's/.*tunnel_on_resume: /    /'
np_wait_log r1 'UDP: tunnel pa>pb paired'
"$NETPORT" status -c "$NP_TMP/r1.yaml" | tee "$NP_TMP/r1-st.txt" | grep 'UDP on'
grep -Eq 'UDP on port [0-9]+: 1 pair\(s\)' "$NP_TMP/r1-st.txt" ||
    np_fail "the relay's status does not show the UDP pair"
"$NETPORT" status -c "$NP_TMP/pa.yaml" | grep -E 'relay .*/quic|r1/quic' ||
    np_fail "pa's status does not show the QUIC path through the relay"
echo_once "through the relay over QUIC " || np_fail "echo failed"

np_step "$mib MiB through the relay over QUIC, whole; UDP as DATAGRAM frames"
np_dp_client up "$secs" put "$port_up" "$bytes"
np_dp_done up "$secs"
np_wait_log sink '^sink 1: received '
echo "    $(np_dp_same_data up '^put: sent ' sink '^sink 1: received ' "$bytes")"
np_start iperfd iperf3 -s -B 127.0.0.1 -p "$perf_port" --one-off
np_wait_port "$perf_port" open
timeout 30 iperf3 -c 127.0.0.1 -p "$perf_rule" -u -b 20M -l 1200 -t 2 -J \
    >"$NP_TMP/iperf.json" || np_fail "iperf3 -u through the relay failed"
python3 - "$NP_TMP/iperf.json" <<'PY' || np_fail "UDP through the relay lost too much"
import json, sys
s = json.load(open(sys.argv[1]))["end"]["sum"]
print("    iperf3 -u: %.1f Mbit/s received, %.2f %% lost" % (
    s["bits_per_second"] / 1e6, s["lost_percent"]))
sys.exit(0 if s["lost_percent"] < 5 else 1)
PY
"$NETPORT" status -c "$NP_TMP/pb.yaml" >"$NP_TMP/pb-st.txt"
dg_in=$(sed -nE 's/.*r1\/quic .*datagrams [0-9]+ out, ([0-9]+) in.*/\1/p' "$NP_TMP/pb-st.txt" | head -1)
[ "${dg_in:-0}" -gt 1000 ] ||
    np_fail "pb took ${dg_in:-no} DATAGRAM frames through the relay"

np_step "strangers at the relay's UDP port: a forged registration refused, junk ignored"
relay_port=$(sed -nE 's/.*UDP on port ([0-9]+):.*/\1/p' "$NP_TMP/r1-st.txt")
python3 - "$relay_port" <<'PY' || np_fail "the relay answered a stranger wrongly"
import os, socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.sendto(b"\x55" * 64, ("127.0.0.1", port))
try:
    d = s.recv(64)
    print("junk answered: %r" % d)
    sys.exit(1)
except socket.timeout:
    pass
ticket = os.urandom(120)
req = bytes([0x82]) + b"NPR" + bytes([1, 1]) + struct.pack(">H", len(ticket)) + ticket
s.sendto(req, ("127.0.0.1", port))
d = s.recv(64)
if len(d) != 5 or d[0] != 0x83 or d[1:4] != b"NPR" or d[4] in (0, 8):
    print("unexpected answer to a forged registration: %r" % d)
    sys.exit(1)
print("    junk: no answer; a forged ticket: refused with status %d (%d bytes)" % (d[4], len(d)))
PY
"$NETPORT" status -c "$NP_TMP/r1.yaml" | grep 'UDP on'
"$NETPORT" status -c "$NP_TMP/r1.yaml" | grep -Eq 'UDP on .* [1-9][0-9]* dropped, [1-9][0-9]* registration' ||
    np_fail "the relay did not count the strangers"
echo_once "after the strangers " || np_fail "echo failed after the strangers"
np_no_log pa 'stream [0-9]+ \(rule (up|echo)\) reset'
np_pass "QUIC through the relay paired over UDP: $mib MiB whole, UDP as DATAGRAM frames; strangers refused or ignored, counted"
