#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A NAT that forgets idle connections quickly.  Router rA does
# MASQUERADE --random-fully with a conntrack timeout for established TCP
# connections of NP_NET_NAT_TIMEOUT seconds (default 5) and
# nf_conntrack_tcp_loose=0, so a forgotten connection cannot be picked up
# again mid-stream: its next packet is INVALID and dropped, and a new
# mapping would get another random port anyway.  The portals send tunnel
# keepalives every 2 s and the server control keepalives every 2 s, both
# shorter than that timeout.
#
# Through the tunnel pa -> pb, a client on A checks one round with an echo
# server on B, stays silent for NP_NET_IDLE seconds (default 3 x the NAT
# timeout), and checks another round: the keepalives kept the mapping, so
# it works, on the same tunnel (one grant) and the same translated port.
# As a control, a plain TCP connection from A to an echo server on srv
# idles just as long at the same time: its mapping expires (it leaves rA's
# conntrack table) and its second round gets no answer.  That proves the
# timeout bites, and so that the tunnel survived it because of its
# keepalives.  pa's control session is never lost either.
. "$(dirname "$0")/netlib.sh"

command -v conntrack >/dev/null || np_fail "conntrack is missing (bash scripts/setup.sh installs it)"
nat_timeout=${NP_NET_NAT_TIMEOUT:-5}
idle=${NP_NET_IDLE:-$((3 * nat_timeout))}

np_step "topology: rA random-fully, conntrack timeout ${nat_timeout} s, no loose pick-up; rB firewall"
nl_topo random-fully firewall
nl_sysctl rA net.netfilter.nf_conntrack_tcp_timeout_established="$nat_timeout" \
    net.netfilter.nf_conntrack_tcp_loose=0
np_dp_pki
{
	echo "rules:"
	nl_rule echo pa 127.0.0.1:7001 pb 127.0.0.1:7000
} | np_policy
nl_server keepalive=2s dead_timeout=20s
nl_relay
nl_portal pa A 1 0 tunnel.keepalive=2s tunnel.dead_timeout=20s
nl_portal pb B 0 1 tunnel.keepalive=2s tunnel.dead_timeout=20s
np_wait_log pa 'listening on 127\.0\.0\.1:7001 '
nl_app B echo echo 7000
nl_help srv rawecho echo 203.0.113.10 7007
np_wait_log rawecho '^echo listening on '

# The reply port of rA's entry for a connection to PORT on the public
# side (the translated source port), or nothing when there is no entry.
mapped_port() {
	nl_x rA conntrack -L -p tcp --dport "$1" 2>/dev/null |
	    sed -nE 's/.* dport=[0-9]+ .*src=[0-9.]+ dst=203\.0\.113\.101 sport=[0-9]+ dport=([0-9]+).*/\1/p' |
	    head -1 || true
}

np_step "one round each, then $idle s of silence: through the tunnel, and direct"
nl_help A tun idle 7001 --idle "$idle" --wait 5
nl_help A raw idle 7007 --host 203.0.113.10 --idle "$idle" --wait 5
np_wait_log tun '^idle: first round ok'
np_wait_log raw '^idle: first round ok'
t0=$(np__now_ms)
tport=$(mapped_port 8443)
rport=$(mapped_port 7007)
[ -n "$tport" ] && [ -n "$rport" ] ||
    np_fail "no translated entries on rA: tunnel '$tport', direct '$rport'"
echo "    rA maps the tunnel to port $tport, the direct connection to port $rport"

# The direct connection's entry goes away after the timeout; wait for it.
deadline=$((t0 + (nat_timeout + 5) * 1000))
while [ -n "$(mapped_port 7007)" ]; do
	[ "$(np__now_ms)" -lt "$deadline" ] ||
	    np_fail "the direct connection's mapping is still there $((nat_timeout + 5)) s later"
	sleep 0.2
done
echo "    the direct connection's mapping expired after $(( ($(np__now_ms) - t0) / 1000 )) s"
[ "$(mapped_port 8443)" = "$tport" ] ||
    np_fail "the tunnel's mapping changed or expired: '$(mapped_port 8443)', was $tport"

np_step "after the silence: the tunnel works, the direct connection is dead"
np_wait_exit tun 0 $((idle + 15))
np_wait_exit raw 0 $((idle + 15))
np_log_line tun '^idle: ' | sed 's/^/    tunnel: /'
np_log_line raw '^idle: ' | sed 's/^/    direct: /'
np_wait_log tun '^idle: alive after '
np_wait_log raw '^idle: dead after '
[ "$(mapped_port 8443)" = "$tport" ] ||
    np_fail "the tunnel's mapping changed: '$(mapped_port 8443)', was $tport"
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1"
np_no_log pa 'reconnecting to server|tunnel .* closed|reset'
np_no_log pb 'reconnecting to server|tunnel .* closed|reset'
[ "$(np_log_count hub 'peer=portal/pa .*portal registered')" -eq 1 ] ||
    np_fail "pa registered more than once"

for d in pa pb r1 hub echo rawecho; do
	np_stop "$d"
done
np_pass "NAT timeout ${nat_timeout} s, ${idle} s idle: the tunnel kept its mapping (keepalive 2 s), a plain connection lost its own"
