#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Short request/response UDP flows do not exhaust the flow table.  A DNS
# client asks from a fresh source port every time, so each query is a flow
# of one exchange.  Such a flow ends after udp.flow_idle_new (here 2 s),
# not udp.flow_idle (60 s), and when the table is full a new client takes
# the place of the flow whose exchange finished longest ago: on the client
# side (udp.max_flows 16 per rule: portal alice) and on the service side
# (16 per tunnel: portal bob, full with the flows of portal carol, which
# has room for 1,024).  A flow that carries a second exchange is
# established: it keeps udp.flow_idle and is never pushed out by new
# clients.
# Checks, with dnsmasq behind the service portal and dig through two udp
# rules (alice's and carol's): 400 queries, each from a new socket, 4 dig
# processes at a time (many times the flows the tables hold, and well
# above 17 queries/s), are all answered; both portals end finished
# exchanges to make room; a flow of one exchange ends on the short
# timeout, in 2 s and not after 60 s; an established flow made before the
# load is neither evicted nor expired, and still answers after it.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server srv
np_cert relay relay-1
np_cert portal alice
np_cert portal bob
np_cert portal carol
dns_port=$(np_port)
dns_rule=$(np_port)
dns_rule2=$(np_port)
queries_per_dig=100
digs=4
total=$((queries_per_dig * digs))

np_policy <<EOF
rules:
  - {name: dns, protocol: udp, client: alice, listen: "127.0.0.1:$dns_rule", service: bob, target: "127.0.0.1:$dns_port"}
  - {name: dns2, protocol: udp, client: carol, listen: "127.0.0.1:$dns_rule2", service: bob, target: "127.0.0.1:$dns_port"}
EOF

np_start dns dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
    --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
    --port="$dns_port" --address=/example.test/192.0.2.1 \
    --pid-file="$NP_TMP/dnsmasq.pid" --log-facility=- --cache-size=0
np_server_conf srv
np_start_server srv
np_relay_conf relay-1
np_start_relay relay-1
np_portal_conf alice udp.max_flows=16 udp.flow_idle=60s udp.flow_idle_new=2s
np_portal_conf bob udp.max_flows=16 udp.flow_idle=60s udp.flow_idle_new=2s
np_portal_conf carol udp.flow_idle=60s udp.flow_idle_new=2s
np_start_portal alice
np_start_portal bob
np_start_portal carol
np_wait_log relay-1 'registered'
np_wait_log alice "listening on udp 127\\.0\\.0\\.1:$dns_rule "
np_wait_log carol "listening on udp 127\\.0\\.0\\.1:$dns_rule2 "
np_wait_log bob 'rule set .* applied'

np_step "an established flow: two exchanges from one socket"
# It asks twice, says which port it asks from, then waits for the file
# "go" and asks a third time from the same socket.
cat >"$NP_TMP/keeper.py" <<'PY'
import os, socket, struct, sys, time
port, go = int(sys.argv[1]), sys.argv[2]
def ask(s, qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split("."))
    q += b"\0" + struct.pack(">HH", 1, 1)
    s.send(q)
    d = s.recv(4096)
    rid, _, _, an = struct.unpack(">HHHH", d[:8])
    if rid != qid or an < 1 or d[-4:] != socket.inet_aton("192.0.2.1"):
        sys.exit("bad answer to %s: %r" % (name, d))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.connect(("127.0.0.1", port))
ask(s, 1, "keep1.example.test")
ask(s, 2, "keep2.example.test")
print("established from 127.0.0.1:%d" % s.getsockname()[1], flush=True)
deadline = time.time() + 120
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("never told to go on")
    time.sleep(0.05)
s.settimeout(5)
ask(s, 3, "keep3.example.test")
print("third exchange answered", flush=True)
PY
np_start keeper python3 "$NP_TMP/keeper.py" "$dns_rule" "$NP_TMP/go"
np_wait_log keeper 'established from 127\.0\.0\.1:[0-9]+' 20
keeper_addr=$(np_log_line keeper 'established from' | awk '{ print $3 }')

np_step "$total queries from $total source ports, $digs dig processes at a time, two rules"
for i in $(seq "$digs"); do
	for j in $(seq "$queries_per_dig"); do
		echo "q$i-$j.example.test"
	done >"$NP_TMP/names.$i"
done
start=$(np__now_ms)
pids=()
for i in $(seq "$digs"); do
	# Each name is one query from a new socket; no retry, so that a
	# query the tunnel dropped shows as unanswered, not as late.
	port=$dns_rule
	[ $((i % 2)) -eq 0 ] || port=$dns_rule2
	timeout 30 dig -p "$port" @127.0.0.1 +tries=1 +time=2 +short \
	    -f "$NP_TMP/names.$i" >"$NP_TMP/dig.$i" 2>&1 &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || true
done
elapsed=$(($(np__now_ms) - start))
answered=$(cat "$NP_TMP"/dig.? | grep -c '^192\.0\.2\.1$' || true)
rate=$((total * 1000 / (elapsed > 0 ? elapsed : 1)))
echo "$answered of $total answered in $elapsed ms ($rate queries/s)"
[ "$answered" -eq "$total" ] ||
    np_fail "$answered of $total queries answered in $elapsed ms: $(grep -v '^192' "$NP_TMP"/dig.? | head -3)"
[ "$rate" -gt 50 ] || np_fail "only $rate queries/s: not a test of a busy client"

np_step "both portals made room by ending finished exchanges"
np_wait_log alice 'rule dns: 16 flows \(udp.max_flows\); new clients such as .* take the places of finished exchanges'
np_wait_log bob 'peer=portal/carol .*16 flows in this tunnel \(udp.max_flows\); new flows take the places of finished exchanges'
np_no_log alice 'dropping datagrams from new clients'
np_no_log bob 'reset: .*flows in this tunnel'
np_no_log carol 'dropping datagrams from new clients'

np_step "a flow of one exchange ends on udp.flow_idle_new"
# One query from a port below the kernel's ephemeral range, so that no
# dig socket of the load can have had it: its flow is a single exchange.
# It must end 2 s after its answer (udp.flow_idle_new), not 60 s.
probe_port=$(np_port)
python3 - "$dns_rule" "$probe_port" <<'PY' || np_fail "the probe query was not answered"
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[2])))
s.settimeout(5)
q = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0)
q += b"\x05probe\x07example\x04test\x00" + struct.pack(">HH", 1, 1)
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
d = s.recv(4096)
sys.exit(0 if d[:2] == q[:2] and d[-4:] == socket.inet_aton("192.0.2.1") else 1)
PY
probe="flow [0-9]+ \\(rule dns, 127\\.0\\.0\\.1:$probe_port\\) ended"
np_wait_log alice "$probe" 10
id=$(np_log_line alice "$probe" | sed -E 's/.* flow ([0-9]+) \(rule dns.*/\1/')
line=$(np_log_line alice "stream $id \\(rule dns\\) reset")
case $line in
*'(udp.flow_idle_new)'*) echo "probe flow: $line" ;;
*) np_fail "the probe's flow $id did not end on udp.flow_idle_new: $line" ;;
esac

np_step "the established flow outlived the load and its short timeout"
np_no_log alice "\\(rule dns, $keeper_addr\\) ended"
touch "$NP_TMP/go"
np_wait_log keeper 'third exchange answered'
np_wait_exit keeper 0
np_no_log alice "\\(rule dns, $keeper_addr\\) ended"

np_stop alice
np_stop carol
np_stop bob
np_stop relay-1
np_stop srv
np_stop dns 0
np_pass "$answered/$total DNS queries answered at $rate/s through 16-flow tables (client and service side); single exchanges end on udp.flow_idle_new"
