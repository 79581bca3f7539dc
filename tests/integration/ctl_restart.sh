#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The server dies and comes back.  With a relay and two real portals
# registered, the server is killed with SIGKILL: the relay and both portals
# log "reconnecting to server ... in N ms (attempt K)" with an exponential
# backoff within reconnect.min and reconnect.max (each delay within the
# jittered range of docs: the K-th delay lies in [b/2, b] for b =
# min(100 ms * 2^(K-1), 1 s)).  Meanwhile the client portal keeps its
# listener and refuses an application's connection, saying it has no
# session to ask for a tunnel.  The server restarts on the same port with
# a new ticket key: the relay registers again and learns the new key, the
# portals get their rule sets again without reopening their listener, and
# a tunnel through the relay works with tickets of the new key.  A second
# kill shows the backoff starting over at attempt 1.  Last, the server is
# frozen (SIGSTOP): the portals close their session after the dead-peer
# timeout, and once the server runs again (SIGCONT) everyone reconnects.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
np_cert relay r1
np_cert portal pa
np_cert portal pb
P1=$(np_port)
TARGET=$(np_port)
np_policy <<EOF
rules:
  - name: web
    client: pa
    listen: 127.0.0.1:$P1
    service: pb
    target: 127.0.0.1:$TARGET
EOF
np_echo_server target "$TARGET"
np_server_conf hub
np_start_server hub
# From now on the server always listens on the same address.
np_server_conf hub "listen=$NP_SERVER_ADDR"
np_relay_conf r1
np_start_relay r1
np_portal_conf pa
np_portal_conf pb
np_start_portal pa
np_start_portal pb
np_wait_log r1 'registered; ticket key'
np_wait_log pa "listening on 127\\.0\\.0\\.1:$P1 for rule web"
np_wait_log pb 'rule set 0 applied: 0 client-side, 1 service-side'

cat >"$NP_TMP/app.py" <<'EOF'
# An application: connects, sends a line, prints the first reply or error.
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"%s\n" % sys.argv[2].encode())
    s.settimeout(15)
    print("result: %r" % s.recv(100), flush=True)
except OSError as e:
    print("result: %s" % e, flush=True)
EOF

# check_backoff NAME FROM: the delays of NAME's reconnection attempts,
# counted from attempt 1 logged at or after log line FROM, grow as the
# backoff says.
check_backoff() {
	python3 - "$(np_log "$1")" "$2" <<'EOF' || np_fail "$1: reconnection delays off the backoff"
import re, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
delays = []
for l in lines:
    m = re.search(r"reconnecting to server \S+ in (\d+) ms \(attempt (\d+)\)", l)
    if m:
        if int(m.group(2)) != len(delays) + 1:
            break
        delays.append(int(m.group(1)))
if len(delays) < 4:
    sys.exit("only %d attempts: %r" % (len(delays), delays))
for k, d in enumerate(delays, 1):
    b = min(100 * 2 ** (k - 1), 1000)
    if not b // 2 <= d <= b:
        sys.exit("attempt %d after %d ms, expected %d..%d ms; all: %r"
                 % (k, d, b // 2, b, delays))
print("delays", delays)
EOF
}

np_step "the server is killed: everyone retries with backoff"
from_r1=$(wc -l <"$(np_log r1)")
from_pa=$(wc -l <"$(np_log pa)")
from_pb=$(wc -l <"$(np_log pb)")
np_kill9 hub
for n in r1 pa pb; do
	np_wait_log "$n" 'reconnecting to server .* in [0-9]+ ms \(attempt 5\)' 10
done
check_backoff r1 "$from_r1"
check_backoff pa "$from_pa"
check_backoff pb "$from_pb"
np_port_listening "$P1" || np_fail "pa closed its listener while the server was away"
np_start app python3 "$NP_TMP/app.py" "$P1" "server away"
np_wait_log pa "refused: no session with the server to ask for a tunnel"
np_wait_log app 'result: '
np_wait_exit app 0
np_no_log app "result: b'server away"

np_step "the server restarts: registrations, rules and a tunnel again"
key1=$(np_log_line r1 'registered; ticket key' | sed -E 's/.*ticket key ([0-9a-f]+).*/\1/')
np_start_server hub
np_wait_log hub 'peer=relay/r1 .*relay registered'
np_wait_log hub 'peer=portal/pa .*portal registered'
np_wait_log hub 'peer=portal/pb .*portal registered'
np_wait_log_count r1 'registered; ticket key' 2
key2=$(np_log_line r1 'registered; ticket key' | sed -E 's/.*ticket key ([0-9a-f]+).*/\1/')
[ "$key1" != "$key2" ] || np_fail "the restarted server has the same ticket key $key1"
np_wait_log_count pa 'session with server .* is up' 2
np_wait_log_count pa 'rule set 0 applied: 1 client-side, 0 service-side' 2
np_wait_log_count pb 'rule set 0 applied: 0 client-side, 1 service-side' 2
[ "$(np_log_count pa "listening on 127\\.0\\.0\\.1:$P1 ")" -eq 1 ] ||
    np_fail "pa reopened its listener after the restart"
np_start app python3 "$NP_TMP/app.py" "$P1" "after restart"
np_wait_log hub 'tunnel granted: rule web, portal/pa -> portal/pb via relay/r1'
np_wait_log app "result: b'after restart"
np_wait_exit app 0

np_step "a second kill: the backoff starts over"
np_kill9 hub
np_wait_log_count pa 'reconnecting to server .* \(attempt 1\)' 2
line=$(np_log_line pa 'reconnecting to server .* \(attempt 1\)')
delay=$(sed -E 's/.* in ([0-9]+) ms .*/\1/' <<<"$line")
[ "$delay" -ge 50 ] && [ "$delay" -le 100 ] ||
    np_fail "first delay after a good session is $delay ms, expected 50..100"
np_start_server hub
np_wait_log_count pa 'session with server .* is up' 3
np_wait_log_count pb 'session with server .* is up' 3
np_wait_log_count r1 'registered; ticket key' 3

np_step "the server freezes: dead-peer timeout, then everyone comes back"
np_signal hub STOP
np_wait_log pa 'closed: peer silent for [0-9]+ ms \(dead-peer timeout 1000 ms\)' 5
np_wait_log pb 'closed: peer silent for [0-9]+ ms \(dead-peer timeout 1000 ms\)' 5
np_wait_log r1 'closed: peer silent for [0-9]+ ms \(dead-peer timeout 1000 ms\)' 5
np_signal hub CONT
np_wait_log_count pa 'session with server .* is up' 4 15
np_wait_log_count pb 'session with server .* is up' 4 15
np_wait_log_count r1 'registered; ticket key' 4 15
np_start app python3 "$NP_TMP/app.py" "$P1" "after the freeze"
np_wait_log app "result: b'after the freeze"
np_wait_exit app 0

np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop target 143

np_pass "relay and portals ride out server kills and a freeze"
