#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Direct paths across real networks (direct.mode auto everywhere; each
# portal announces its LAN or public address).  Portals:
#   pa  on LAN A (10.1.0.2) behind rA, MASQUERADE
#   pa2 on LAN A too (10.1.0.3): the same LAN as pa, no NAT between them
#   pb  on LAN B (10.2.0.2) behind rB, MASQUERADE --random-fully
#   pc  on a public address (203.0.113.30), no NAT
#   pd  on LAN C (10.3.0.2) behind rC, MASQUERADE (keeps ports)
# and an echo server on each of B, A2, C and the public host.
#
# Checks:
#   - pa learns its reflexive UDP address (rA's) from the server by STUN;
#   - pa -> pb, both behind NAT with no port mapping: the direct attempts
#     (lan addresses that are unreachable, reflexive addresses with no
#     mapping) fail, the tunnel stays on the relay and works; netport
#     status lists each attempt and why it failed;
#   - pa -> pa2, same LAN: the tunnel moves to a direct path (lan), and the
#     relay carries nothing of it any more;
#   - pa -> pc, a public address: the tunnel moves to a direct path to pc's
#     public address (pa dials out through its NAT), and 8 MiB pass intact;
#   - pa -> pd, both behind port-keeping NATs: each dials the other's
#     reflexive address from its direct listener's port (TCP hole
#     punching), the SYNs cross, and the tunnel moves to that connection.
. "$(dirname "$0")/netlib.sh"

np_step "topology: rA masq with hosts A and A2, rB random-fully, a public host"
nl_topo masq random-fully
nl_lan_host rA A2 10.1.0.3
nl_public_host pub 203.0.113.30
nl_router rC 203.0.113.103 10.3.0 masq
nl_lan_host rC C 10.3.0.2
np_dp_pki pa2 pc pd
{
	echo "rules:"
	nl_rule nat pa 127.0.0.1:7001 pb 127.0.0.1:7000
	nl_rule lan pa 127.0.0.1:7002 pa2 127.0.0.1:7000
	nl_rule pub pa 127.0.0.1:7003 pc 127.0.0.1:7000
	nl_rule punch pa 127.0.0.1:7004 pd 127.0.0.1:7000
} | np_policy

np_step "server, relay, portals with direct paths, echo servers"
nl_server
nl_relay
direct=(direct.mode=auto tunnel.setup_timeout=4s direct.retry=60s)
nl_portal pa A 4 0 "${direct[@]}" 'direct.addresses=["10.1.0.2"]'
nl_portal pb B 0 1 "${direct[@]}" 'direct.addresses=["10.2.0.2"]'
nl_portal pa2 A2 0 1 "${direct[@]}" 'direct.addresses=["10.1.0.3"]'
nl_portal pc pub 0 1 "${direct[@]}" 'direct.addresses=["203.0.113.30"]'
nl_portal pd C 0 1 "${direct[@]}" 'direct.addresses=["10.3.0.2"]'
nl_app B echo_b echo 7000
nl_app A2 echo_a2 echo 7000
nl_app pub echo_c echo 7000
nl_app C echo_d echo 7000
np_wait_log pa 'listening on 127\.0\.0\.1:7004 '

# round PORT: one echo of 8 MiB through the client portal's port PORT.
round() {
	nl_echo_round A "$1"
}

np_step "pa -> pb, both behind NAT: the tunnel stays on the relay"
round 7001
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb up via relay '
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb stays on relay .*: no direct path' 20
# STUN to the server: pa's UDP mapping on rA (MASQUERADE keeps the port).
np_wait_log pa 'STUN: reflexive UDP address 203\.0\.113\.101:[0-9]+ \(local port [0-9]+\)'
NETPORT=$(nl_netport A) "$NETPORT" status -c "$NP_TMP/pa.yaml" >"$NP_TMP/st.txt" 2>&1 ||
    np_fail "netport status failed: $(cat "$NP_TMP/st.txt")"
sed -n '/ pb /,/^  [0-9a-f]/p' "$NP_TMP/st.txt" | sed 's/^/    /'
grep -q 'reflexive 203\.0\.113\.102:' "$NP_TMP/st.txt" ||
    np_fail "no attempt at pb's reflexive address in status"
grep -q 'lan 10\.2\.0\.2:' "$NP_TMP/st.txt" ||
    np_fail "no attempt at pb's LAN address in status"
grep -Eq 'reflexive UDP address: 203\.0\.113\.101:[0-9]+ \(STUN' "$NP_TMP/st.txt" ||
    np_fail "pa's status shows no reflexive UDP address"
np_no_log pa 'to portal/pb now direct'
round 7001

np_step "pa -> pa2 on the same LAN: the tunnel moves to a direct path"
round 7002
# Whichever dial wins: pa's to pa2's LAN address, or pa2's to pa, which pa
# accepted (then the address is pa2's, with its source port).
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pa2 now direct: 10\.1\.0\.3:[0-9]+ \((lan|accepted)' 20
np_wait_log pa2 'tunnel [0-9a-f]{32} to portal/pa now direct: '
echo "    $(np_log_line pa 'to portal/pa2 now direct' | sed 's/.*tunnel_on_resume: //')"
round 7002

np_step "pa -> pc on a public address: the tunnel moves to a direct path"
round 7003
# pa dials pc's public address while pc dials pa's reflexive one: when
# pc's SYN reaches rA after pa's went out, conntrack takes it for the
# answer and the two SYNs cross (punched on both sides). Either way the
# path goes straight to pc's public address.
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pc now direct: 203\.0\.113\.30:[0-9]+ \((public|lan|accepted|punched)' 20
echo "    $(np_log_line pa 'to portal/pc now direct' | sed 's/.*tunnel_on_resume: //')"
round 7003
np_step "pa -> pd, both behind port-keeping NATs: a punched direct path"
round 7004
# Whichever way the SYNs met: crossed (punched on both sides), or one
# reached the other's listener once the other's own SYN had opened its
# NAT (reflexive on the dialler's side, accepted on the listener's).
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pd now direct: 203\.0\.113\.103:[0-9]+ \((punched|reflexive|accepted)' 20
np_wait_log pd 'tunnel [0-9a-f]{32} to portal/pa now direct: 203\.0\.113\.101:[0-9]+ \((punched|reflexive|accepted)' 20
echo "    $(np_log_line pa 'to portal/pd now direct' | sed 's/.*tunnel_on_resume: //')"
round 7004
for d in pa pb pa2 pc pd; do
	np_no_log "$d" 'stream [0-9]+ \(rule [a-z0-9]+\) reset'
done

for d in pa pb pa2 pc pd r1 hub; do
	np_stop "$d"
done
np_stop echo_b
np_stop echo_a2
np_stop echo_c
np_stop echo_d
np_pass "behind NAT and a port-randomising NAT: relayed, attempts shown; same LAN and public address: direct; two port-keeping NATs: punched"
