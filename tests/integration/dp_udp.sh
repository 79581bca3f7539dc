#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# UDP through a tunnel.  A udp rule's client portal listens on a UDP port;
# every client address is a flow; datagrams cross the tunnel whole.
# Checks: DNS with dig against a dnsmasq behind the service portal; 100
# concurrent flows each get their own answers back; datagrams of 1, 1,400,
# 9,000 and 65,507 bytes arrive whole, never merged or split; iperf3 -u at
# a fixed rate (its TCP control connection and its UDP data on the same
# port number, through a tcp and a udp rule) reports its loss; a policy
# reload that removes the udp rule ends its flows and closes its socket.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server srv
np_cert relay relay-1
np_cert portal alice
np_cert portal bob
dns_port=$(np_port)
dns_rule=$(np_port)
echo_port=$(np_port)
echo_rule=$(np_port)
perf_port=$(np_port)
perf_rule=$(np_port)

policy() {
	cat <<EOF
rules:
  - {name: dns, protocol: udp, client: alice, listen: "127.0.0.1:$dns_rule", service: bob, target: "127.0.0.1:$dns_port"}
  - {name: iperf-ctl, client: alice, listen: "127.0.0.1:$perf_rule", service: bob, target: "127.0.0.1:$perf_port"}
  - {name: iperf-data, protocol: udp, client: alice, listen: "127.0.0.1:$perf_rule", service: bob, target: "127.0.0.1:$perf_port"}
EOF
	[ "${1:-}" = no-echo ] && return
	cat <<EOF
  - {name: uecho, protocol: udp, client: alice, listen: "127.0.0.1:$echo_rule", service: bob, target: "127.0.0.1:$echo_port"}
EOF
}
policy | np_policy

np_start dns dnsmasq --no-daemon --conf-file=/dev/null --no-resolv \
    --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
    --port="$dns_port" --address=/probe.example.test/192.0.2.7 \
    --log-facility=-
np_start uecho python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("udp echo ready", flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d, a)
' "$echo_port"
np_wait_log uecho 'udp echo ready'
np_start iperf iperf3 -s -B 127.0.0.1 -p "$perf_port"

np_server_conf srv
np_start_server srv
np_relay_conf relay-1
np_start_relay relay-1
np_portal_conf alice
np_portal_conf bob
np_start_portal alice
np_start_portal bob
np_wait_log relay-1 'registered'
np_wait_log alice "listening on udp 127.0.0.1:$echo_rule"
np_wait_log bob 'rule set .* applied'

np_step "DNS: dig through the tunnel"
ans=$(dig +short +time=5 +tries=2 -p "$dns_rule" @127.0.0.1 probe.example.test A)
[ "$ans" = 192.0.2.7 ] || np_fail "dig answered '$ans'"

np_step "datagram sizes 1, 1400, 9000, 65507 arrive whole"
python3 - "$echo_rule" <<'PY' || np_fail "a datagram did not come back whole"
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.settimeout(5)
s.connect(("127.0.0.1", int(sys.argv[1])))
for size in (1, 1400, 9000, 65507, 0, 65507, 1):
    payload = os.urandom(size)
    for attempt in range(3):        # the first may wait for the tunnel
        s.send(payload)
        try:
            got = s.recv(65536)
        except socket.timeout:
            continue
        break
    else:
        sys.exit("no answer for %d bytes" % size)
    if got != payload:
        sys.exit("%d bytes sent, %d came back (or different)" % (size, len(got)))
print("sizes ok")
PY

np_step "100 concurrent flows, each its own answers"
python3 - "$echo_rule" <<'PY' || np_fail "concurrent flows mixed up or lost"
import os, select, socket, sys, time
port = int(sys.argv[1])
socks = []
for i in range(100):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
want = {}
for rnd in range(5):
    for i, s in enumerate(socks):
        msg = b"flow %03d round %d " % (i, rnd) + os.urandom(32)
        want.setdefault(i, set()).add(msg)
        s.send(msg)
deadline = time.time() + 20
pending = sum(len(v) for v in want.values())
while pending and time.time() < deadline:
    r, _, _ = select.select(socks, [], [], 1)
    for s in r:
        i = socks.index(s)
        while True:
            try:
                d = s.recv(65536)
            except BlockingIOError:
                break
            if d not in want[i]:
                sys.exit("flow %d got a datagram that is not its own" % i)
            want[i].discard(d)
            pending -= 1
print("lost", pending)
# UDP may lose, but not here (loopback, far below any queue): all back.
sys.exit(1 if pending else 0)
PY
n=$(np_log_count srv 'tunnel granted')
[ "$n" -eq 1 ] || np_fail "expected every flow in one tunnel, saw $n grants"

np_step "iperf3 -u at 20 Mbit/s for 3 s"
iperf3 -c 127.0.0.1 -p "$perf_rule" -u -b 20M -t 3 -l 1400 --json \
    >"$NP_TMP/iperf.json" || np_fail "iperf3 -u failed: $(tail -5 "$NP_TMP/iperf.json")"
python3 - "$NP_TMP/iperf.json" <<'PY' || np_fail "iperf3 -u results out of bounds"
import json, sys
r = json.load(open(sys.argv[1]))["end"]["sum"]
print("iperf3 -u: %.1f Mbit/s, %d of %d lost (%.2f%%), jitter %.3f ms" % (
    r["bits_per_second"] / 1e6, r["lost_packets"], r["packets"],
    r["lost_percent"], r["jitter_ms"]))
# At a fixed 20 Mbit/s on loopback almost nothing may be lost.
sys.exit(0 if r["packets"] > 1000 and r["lost_percent"] < 5 else 1)
PY

np_step "removing the udp rule ends its flows and closes its socket"
policy no-echo | np_policy
np_wait_log alice "closed listener udp 127.0.0.1:$echo_rule of rule uecho"
np_wait_log alice "flow .* \\(rule uecho, .*\\) ended"
python3 - "$echo_rule" <<'PY' || np_fail "the removed rule still answers"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.connect(("127.0.0.1", int(sys.argv[1])))
try:
    s.send(b"anyone?")
    s.recv(100)
except (ConnectionRefusedError, socket.timeout):
    sys.exit(0)
sys.exit(1)
PY

np_stop uecho 143
np_stop iperf 1
np_stop dns 0
np_pass "dig, sizes up to 65507, 100 flows, iperf3 -u, rule removal"
