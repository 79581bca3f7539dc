#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The QUIC direct path on loopback (direct.quic: on on both portals).
#   1. Direct TCP is blackholed (iptables DROP on the direct listeners'
#      TCP ports): a tunnel comes up on the relay, the portals probe each
#      other's UDP port and move the tunnel to a QUIC path ("now direct:
#      ... (loopback/quic, QUIC, TLSv1.3, ..."); netport status shows it
#      with its round-trip time.  An echo works; 64 MiB arrive
#      whole (equal SHA-256); the relay is killed and a new stream works.
#      iperf3 -u at 50 Mbit/s (1400-byte datagrams) through a udp rule:
#      the datagrams travel as QUIC DATAGRAM frames (counted in status),
#      under 5 % lost.
#   2. A datagram sent at pb's UDP port by a stranger: a probe with a
#      forged ticket, a QUIC Initial from an address no probe vetted, and
#      junk: none is answered, each is counted, the portal lives on.
#   3. With TCP open again, a new tunnel ends on direct TCP, which on a
#      LAN (here loopback) ranks above QUIC; with direct.quic: prefer it
#      ends on QUIC.
#   No stream is ever reset.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v iptables >/dev/null; then
	echo "SKIP: needs root and iptables (blackholing loopback ports)"
	exit 77
fi
mib=${NP_QUIC_MIB:-64}
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
NP_EXIT_HOOK=np_dp_unblackhole

echo_once() {
	np_dp_echo_once "$port_echo" "$1"
}
portals() {
	local timing=(tunnel.keepalive=500ms tunnel.dead_timeout=3s
		tunnel.setup_timeout=3s direct.retry=2s
		"direct.quic=${quic_mode:-on}")
	NP_DIRECT=auto np_dp_portal pa 4 0 "${timing[@]}" \
	    "direct.listen=127.0.0.1:$pa_direct"
	NP_DIRECT=auto np_dp_portal pb 0 4 "${timing[@]}" \
	    "direct.listen=127.0.0.1:$pb_direct"
	np_wait_port "$port_up" open
}

np_step "server, relay, portals with QUIC paths; direct TCP blackholed"
np_dp_server
np_dp_relay
np_dp_blackhole "$pa_direct" "$pb_direct"
portals
np_wait_log pa "QUIC paths on UDP port $pa_direct "
np_dp_app sink sink "$sink_port"
np_dp_app echo echo "$echo_port"

np_step "a tunnel comes up on the relay and moves to a QUIC path"
echo_once "first " || np_fail "the first echo failed"
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb up via relay '
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb now direct: 127\.0\.0\.1:[0-9]+ \((loopback|peer)/quic, QUIC, TLSv1\.3' 15
np_wait_log pb 'tunnel [0-9a-f]{32} to portal/pa now direct: .*/quic, QUIC, TLSv1\.3' 15
echo "    $(np_log_line pa 'to portal/pb now direct' | sed 's/.*tunnel_on_resume: //')"
"$NETPORT" status -c "$NP_TMP/pa.yaml" | tee "$NP_TMP/st1.txt"
grep -Eq 'QUIC paths: on, UDP port [0-9]+, congestion control bbr' "$NP_TMP/st1.txt" ||
    np_fail "status does not show the QUIC paths"
grep -Eq '/quic 127\.0\.0\.1:[0-9]+: up, rtt [0-9]+ us' "$NP_TMP/st1.txt" ||
    np_fail "status does not show the QUIC path up"
echo_once "over QUIC " || np_fail "echo over QUIC failed"

np_step "$mib MiB over QUIC, whole"
np_dp_client up "$secs" put "$port_up" "$bytes"
np_dp_done up "$secs"
np_wait_log sink '^sink 1: received '
d=$(np_dp_same_data up '^put: sent ' sink '^sink 1: received ' "$bytes")
echo "upload: $d"

np_step "UDP over the QUIC path: DATAGRAM frames, 50 Mbit/s for 3 s"
np_start iperfd iperf3 -s -B 127.0.0.1 -p "$perf_port" --one-off
np_wait_port "$perf_port" open
timeout 30 iperf3 -c 127.0.0.1 -p "$perf_rule" -u -b 50M -l 1400 -t 3 -J \
    >"$NP_TMP/iperf.json" || np_fail "iperf3 -u through the QUIC path failed"
python3 - "$NP_TMP/iperf.json" <<'PY' || np_fail "UDP over QUIC lost too much"
import json, sys
s = json.load(open(sys.argv[1]))["end"]["sum"]
print("    iperf3 -u: %.1f Mbit/s received, %.2f %% lost (%d of %d)" % (
    s["bits_per_second"] / 1e6, s["lost_percent"], s["lost_packets"],
    s["packets"]))
sys.exit(0 if s["lost_percent"] < 5 else 1)
PY
"$NETPORT" status -c "$NP_TMP/pb.yaml" | tee "$NP_TMP/st-udp.txt" | grep '/quic'
dg_in=$(sed -nE 's/.*datagrams [0-9]+ out, ([0-9]+) in.*/\1/p' "$NP_TMP/st-udp.txt" | head -1)
[ "${dg_in:-0}" -gt 1000 ] ||
    np_fail "pb took ${dg_in:-no} DATAGRAM frames: the datagrams went in the stream"

np_step "the relay dies: the QUIC path carries on"
np_kill9 r1
np_wait_log hub 'peer=relay/r1 .*closed'
echo_once "without a relay " || np_fail "a new stream failed without the relay"
np_no_log pa 'lost its path'

np_step "strangers at pb's UDP port: nothing answered, counted"
before=$("$NETPORT" status -c "$NP_TMP/pb.yaml" | grep 'QUIC paths:')
python3 - "$pb_direct" <<'PY' || np_fail "a stranger's datagram was answered"
import os, socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
ticket = os.urandom(80)
probe = bytes([0x80]) + b"NPR" + bytes([0x81, 1]) + struct.pack(">H", len(ticket)) + ticket
initial = bytes([0xc3]) + struct.pack(">I", 1) + bytes([8]) + os.urandom(8) + bytes([8]) + os.urandom(8) + os.urandom(1180)
for d in (probe, initial, b"\x55" * 40, bytes([0x81]) + b"NPR"):
    s.sendto(d, ("127.0.0.1", port))
try:
    data, _ = s.recvfrom(2048)
    print("answered: %r" % data[:16])
    sys.exit(1)
except socket.timeout:
    print("no answer to a forged probe, a stray Initial, junk")
PY
after=$("$NETPORT" status -c "$NP_TMP/pb.yaml" | grep 'QUIC paths:')
echo "    before: $before"
echo "    after:  $after"
[ "$before" != "$after" ] || np_fail "the stray datagrams were not counted"
echo_once "after the strangers " || np_fail "echo failed after the strangers"

np_step "TCP open again: a new tunnel ends on direct TCP (a LAN path ranks above QUIC)"
np_stop pa
np_stop pb
np_dp_unblackhole
np_dp_relay r1
portals
tcp_re='to portal/pb now direct: 127\.0\.0\.1:[0-9]+ \((loopback|accepted), TLSv1\.3'
n=$(np_log_count pa "$tcp_re")
echo_once "again " || np_fail "echo failed"
np_wait_log_more pa "$tcp_re" "$n" 15
# The QUIC candidate, ranked lower, is given up and the tunnel stays on
# TCP: once pa lists no QUIC path, the last move must be the TCP one.
for _ in $(seq 100); do
	"$NETPORT" status -c "$NP_TMP/pa.yaml" | grep -q '/quic 127\.' || break
	sleep 0.1
done
"$NETPORT" status -c "$NP_TMP/pa.yaml" | grep -q '/quic 127\.' &&
    np_fail "pa still has a QUIC path beside its direct TCP path"
np_log_line pa 'now direct: ' | grep -Eq "$tcp_re" ||
    np_fail "the tunnel left direct TCP for a lower-ranked path"
np_log_line pa 'now direct: ' | sed 's/.*tunnel_on_resume: /    /'
echo_once "on TCP " || np_fail "echo failed on direct TCP"

np_step "direct.quic: prefer: a new tunnel ends on QUIC, even on a LAN"
np_stop pa
np_stop pb
quic_mode=prefer portals
n=$(np_log_count pa 'to portal/pb now direct: .*/quic, QUIC')
echo_once "prefer " || np_fail "echo failed"
np_wait_log_more pa 'to portal/pb now direct: 127\.0\.0\.1:[0-9]+ \([a-z]+/quic, QUIC, TLSv1\.3' "$n" 15
np_log_line pa 'now direct: ' | sed 's/.*tunnel_on_resume: /    /'
echo_once "on QUIC again " || np_fail "echo failed on the preferred QUIC path"
np_no_log pa 'stream [0-9]+ \(rule (up|echo)\) reset'
np_pass "QUIC path taken with TCP blackholed, ${mib} MiB whole, no relay needed; UDP as DATAGRAM frames; strangers unanswered; TCP preferred on a LAN, QUIC with prefer"
