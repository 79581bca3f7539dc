#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Birthday probing (direct.birthday: on, with direct.quic: on): pa behind
# rA, a MASQUERADE that keeps ports, to pb behind rB, MASQUERADE
# --random-fully, which gives each destination a new random port, so no
# simple punch gets through (net_grid's eim-sym pair stays relayed).  pb,
# seeing from STUN that its NAT changes ports, probes from 128 sockets of
# its own toward pa's mapping; pa, seeing from pb's candidates that pb's
# NAT does, sends probes to 1024 random ports of rB: when one of those
# ports is one that rB gave to one of pb's sockets, the two NATs let the
# probes through and a QUIC path starts on that pair of ports.  The
# chance is about 1 - exp(-128 * 1024 / 64512), 87 %, per try.
#
# NP_BIRTHDAY_TRIES (5; scripts/soak.sh: 20) fresh tries, each with both
# portals started again: the test prints the success rate, and fails when
# no try got through (a chance of about 2e-5 at 5 tries), or when a try
# that got through did not carry an echo.
. "$(dirname "$0")/netlib.sh"

tries=${NP_BIRTHDAY_TRIES:-5}

np_step "topology: rA masq (keeps ports), rB random-fully"
nl_topo masq random-fully
np_dp_pki
{
	echo "rules:"
	nl_rule up pa 127.0.0.1:9000 pb 127.0.0.1:9001
} | np_policy
nl_server
nl_relay
nl_app B echo echo 9001
direct=(direct.mode=auto direct.quic=on direct.birthday=on
	tunnel.setup_timeout=4s direct.retry=60s tunnel.keepalive=500ms
	tunnel.dead_timeout=3s)

ok=0
for ((try = 1; try <= tries; try++)); do
	np_step "try $try of $tries"
	n_msg=$(np_log_count hub 'peer=portal/pb server_peer_msg: [0-9]+ direct-path candidate\(s\) now')
	nl_portal pa A 1 0 "${direct[@]}" 'direct.addresses=["10.1.0.2"]'
	nl_portal pb B 0 1 "${direct[@]}" 'direct.addresses=["10.2.0.2"]'
	np_wait_log pa 'STUN: reflexive UDP address 203\.0\.113\.101:'
	np_wait_log pb 'STUN: reflexive UDP address 203\.0\.113\.102:'
	# pb's mapping must be in the candidates pa's grant carries.
	np_wait_log_more hub 'peer=portal/pb server_peer_msg: [0-9]+ direct-path candidate\(s\) now' "$n_msg"
	n_ok=$(np_log_count pa 'to portal/pb now direct: .*quic, QUIC')
	n_relay=$(np_log_count pa 'to portal/pb stays on relay')
	nl_echo_round A 9000 64
	np_wait_log pa 'birthday probing: [0-9]+ probes to random ports of 203\.0\.113\.102' 10
	deadline=$((SECONDS + 8))
	while [ "$SECONDS" -lt "$deadline" ]; do
		[ "$(np_log_count pa 'to portal/pb now direct: .*quic, QUIC')" -gt "$n_ok" ] && break
		[ "$(np_log_count pa 'to portal/pb stays on relay')" -gt "$n_relay" ] && break
		sleep 0.2
	done
	if [ "$(np_log_count pa 'to portal/pb now direct: .*quic, QUIC')" -gt "$n_ok" ]; then
		ok=$((ok + 1))
		echo "    through: $(np_log_line pa 'to portal/pb now direct: ' | sed 's/.*now direct: \([^ ]*\) (\([^,]*\).*/\1 (\2)/')"
		nl_echo_round A 9000 256
	else
		echo "    no pair of ports met; the tunnel stays on its relay"
	fi
	np_stop pa
	np_stop pb
done
echo "    birthday probing got through both NATs in $ok of $tries tries"
[ "$ok" -gt 0 ] || np_fail "no try got through"
np_stop r1
np_stop hub
np_pass "MASQUERADE to MASQUERADE --random-fully: birthday probing got a direct QUIC path in $ok of $tries tries"
