#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The service portal's local allow-list against the targets of its rules,
# as the quick start sets it up: pb allows 127.0.0.1:ECHO (an address) and
# a prefix.  Rule direct targets 127.0.0.1:ECHO itself: pb applies it
# without a warning and data passes.  Rule outside targets 127.0.0.2:ECHO,
# an address the list does not hold: pb warns once that its streams will
# be refused, and one is.  Rule byname targets localhost:ECHO: only its
# resolved address can let it through, and pb says so.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
echo_port=$(np_port)
p_direct=$(np_port)
p_outside=$(np_port)
p_byname=$(np_port)
np_policy <<EOF
rules:
  - name: direct
    client: pa
    listen: 127.0.0.1:$p_direct
    service: pb
    target: 127.0.0.1:$echo_port
  - name: outside
    client: pa
    listen: 127.0.0.1:$p_outside
    service: pb
    target: 127.0.0.2:$echo_port
  - name: byname
    client: pa
    listen: 127.0.0.1:$p_byname
    service: pb
    target: localhost:$echo_port
EOF

np_step "server, relay, an echo server, portals; pb with an allow-list"
np_echo_server echo "$echo_port"
np_dp_server
np_dp_relay
np_dp_portal pa 3 0
# np_dp_portal's settings, with a list in the file (np__conf writes
# scalars only).
np_portal_conf pb tunnel.keepalive=1s tunnel.dead_timeout=5s \
    tunnel.setup_timeout=10s connect_timeout=2s drain_timeout=2s
printf 'allow: ["127.0.0.1:%s", "10.0.0.0/8:*"]\n' "$echo_port" >>"$NP_TMP/pb.yaml"
np_start_portal pb
np_wait_log pb 'rule set [0-9]+ applied: 0 client-side, 3 service-side'
np_wait_port "$p_direct" open
np_wait_port "$p_outside" open

np_step "the rule whose target is an allowed address draws no warning"
np_no_log pb "rule direct: "
np_wait_log pb "rule outside: target 127\\.0\\.0\\.2:$echo_port is not in the local allow-list; its streams will be refused"
np_wait_log pb "rule byname: target localhost:$echo_port is not in the local allow-list by name; streams pass only if it resolves to an allowed address"

np_step "data passes under rule direct"
out=$(python3 - "$p_direct" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"allowed by address")
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
print(got.decode())
PY
) || np_fail "the echo through rule direct failed"
[ "$out" = "allowed by address" ] || np_fail "rule direct echoed '$out'"

np_step "a stream under rule outside is refused"
python3 - "$p_outside" <<'PY' || np_fail "the target outside the allow-list answered"
import socket, sys
# A close, a reset or a broken pipe all say "refused", and the reset may
# reach connect() itself; only an answer is wrong.
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(b"x")
    d = s.recv(10)
except (ConnectionResetError, BrokenPipeError):
    d = b""
sys.exit(0 if d == b"" else 1)
PY
np_wait_log pb "target 127\\.0\\.0\\.2:$echo_port \\(127\\.0\\.0\\.2:$echo_port\\) is not in the local allow-list"
[ "$(np_log_count pb 'rule outside: target')" -eq 1 ] ||
    np_fail "pb warned $(np_log_count pb 'rule outside: target') times about rule outside, expected once"

np_stop echo 143
np_pass "allow-list: an address target matches as an address; outside and by-name targets are told apart"
