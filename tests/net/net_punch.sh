#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# netport punch between two NATed peers, as a VPN would use it: the control
# node on the public host srv, peer a on LAN A behind rA and peer b on LAN
# B behind rB (both MASQUERADE, stateful firewalls that drop unsolicited
# packets).  Each peer punches from the UDP port its VPN would use and
# prints netpunch's result line with the other's public address and port.
# Then the holes carry traffic: a UDP socket on A's punched port and one on
# B's exchange datagrams through both NATs, which neither could receive
# before (the first probe, before punching, gets no answer).
. "$(dirname "$0")/netlib.sh"

np_step "topology: rA masq, rB masq; control node on srv"
nl_topo masq masq
nl_start srv ctl "$(nl_netport srv)" punch -secret TheSecretWord -local :7777
np_wait_log ctl 'Start in control mode on :7777'

# exchange ROLE PORT PEER: from ROLE's UDP port PORT, datagrams to PEER
# ("ip:port") until one comes back from it (the other side answers), at
# most 3 s; prints "ok" or "none".
exchange() {
	nl_x "$1" "$NL_PY" - "$2" "$3" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
host, port = sys.argv[2].rsplit(":", 1)
s.settimeout(0.2)
deadline = time.monotonic() + 3
while time.monotonic() < deadline:
    s.sendto(b"ping", (host, int(port)))
    try:
        d, a = s.recvfrom(100)
        if d == b"ping":
            s.sendto(b"pong", a)
        print("ok from %s:%d" % a)
        sys.exit(0)
    except socket.timeout:
        pass
print("none")
EOF
}

np_step "before punching, B's public port is closed to A"
out=$(exchange A 5000 203.0.113.102:5001)
[ "$out" = none ] || np_fail "A reached B before any punching: $out"

np_step "peers a (A, port 5000) and b (B, port 5001) punch"
nl_start A peer_a "$(nl_netport A)" punch -peer a -secret TheSecretWord \
    -local :5000 -remote 203.0.113.10:7777
nl_start B peer_b "$(nl_netport B)" punch -peer b -secret TheSecretWord \
    -local :5001 -remote 203.0.113.10:7777 -sign hmac
np_wait_exit peer_a 0 20
np_wait_exit peer_b 0 20
np_wait_log peer_a '^LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: :5000 n/a 5000 203\.0\.113\.102:5001 203\.0\.113\.102 5001$'
np_wait_log peer_b '^LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: :5001 n/a 5001 203\.0\.113\.101:5000 203\.0\.113\.101 5000$'
np_log_line peer_a '^LADDR' | sed 's/^/    a: /'
np_log_line peer_b '^LADDR' | sed 's/^/    b: /'

np_step "the punched ports carry datagrams both ways"
exchange B 5001 203.0.113.101:5000 >"$NP_TMP/b.out" &
bpid=$!
out=$(exchange A 5000 203.0.113.102:5001)
wait "$bpid" || true
case $out in ok*) ;; *) np_fail "A got nothing from B through the punched ports" ;; esac
grep -q '^ok' "$NP_TMP/b.out" || np_fail "B got nothing from A: $(cat "$NP_TMP/b.out")"
echo "    A: $out; B: $(cat "$NP_TMP/b.out")"

np_stop ctl
np_pass "netpunch-compatible punching through two NATs: both result lines, and the holes carry UDP both ways"
