#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A neighbour behind the same NAT cannot lock portals out of a relay by
# holding half-open connections.  Everything here comes from 127.0.0.1,
# like a LAN behind one NAT address: with max_pending_per_source at 4, a
# client holds 4 connections that never finish their ticket; a portal's
# tunnel must still pair (the relay evicts the oldest unfinished
# handshake, saying why), and a fetch through it must work.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
echo_port=$(np_port)
rule_port=$(np_port)
{
	echo "rules:"
	np_dp_rule echo pa "$rule_port" pb "$echo_port"
} | np_policy
np_dp_server
np_dp_relay r1 max_pending_per_source=4 handshake_timeout=30s
np_dp_portal pa 1 0
np_dp_portal pb 0 1
np_dp_app echo echo "$echo_port"
relay=$(np_log_line r1 'portals dial ')
relay=${relay##* }

np_step "four half-open handshakes from this address fill the cap"
np_start holder python3 -c '
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
socks = []
for i in range(4):
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(b"NPR\x01\x01\x01\x00")      # a ticket length, no ticket
    socks.append(s)
print("holding 4", flush=True)
time.sleep(60)
' "$relay"
np_wait_log holder 'holding 4'

np_step "a portal's tunnel still pairs: the oldest half-open one is evicted"
out=$(python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"still reachable\n")
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
print(got.decode().strip())
' "$rule_port") || np_fail "the echo through the tunnel failed"
[ "$out" = "still reachable" ] || np_fail "echo answered '$out'"
np_wait_log r1 'evicted: the oldest unfinished handshake'
np_wait_log r1 'tunnel pa>pb paired'

np_stop holder 143
np_pass "half-open connections from one address did not lock the portals out"
