#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Port mappings on a home router: rA runs miniupnpd (Debian's package,
# UPnP-IGD and NAT-PMP), with its rules in an nftables table of its own,
# and checks its public address with STUN, as it must when that address is
# in a reserved range (tests/net/nethelp.py stun, on two addresses of srv).
# Portals:
#   pa  on LAN A (10.1.0.2) behind rA, direct.portmap: upnp
#   pn  on LAN A too (10.1.0.3), direct.portmap: natpmp
#   pb  on LAN B (10.2.0.2) behind rB, plain MASQUERADE, no mapping
#       service; direct.portmap: auto (it finds no router to ask)
#
# Checks:
#   - pa and pn get a mapping on rA (UPnP, NAT-PMP) and say so in netport
#     status; pb tried both protocols and status says why it has none;
#   - pb -> pa and pb -> pn: pb dials the mapped ports through both NATs
#     and the tunnels move to direct paths, found as upnp and natpmp;
#   - when pa and pn stop, their mappings are gone from the router.
. "$(dirname "$0")/netlib.sh"


np_step "topology: rA masq with hosts A and A2 and miniupnpd, rB masq"
nl_topo masq masq
nl_lan_host rA A2 10.1.0.3
nl_stun
nl_miniupnpd rA

np_dp_pki pn
{
	echo "rules:"
	nl_rule up pb 127.0.0.1:7001 pa 127.0.0.1:7000
	nl_rule pmp pb 127.0.0.1:7002 pn 127.0.0.1:7000
} | np_policy

np_step "server, relay; pa maps by UPnP, pn by NAT-PMP; echo servers"
nl_server
nl_relay
direct=(direct.mode=auto tunnel.setup_timeout=4s direct.retry=60s)
nl_portal pa A 0 1 "${direct[@]}" 'direct.addresses=["10.1.0.2"]' \
    direct.portmap=upnp
nl_portal pn A2 0 1 "${direct[@]}" 'direct.addresses=["10.1.0.3"]' \
    direct.portmap=natpmp
nl_portal pb B 2 0 "${direct[@]}" 'direct.addresses=["10.2.0.2"]' \
    direct.portmap=auto
nl_app A echo_a echo 7000
nl_app A2 echo_a2 echo 7000
np_wait_log pa 'port mapping by upnp: 203\.0\.113\.101:[0-9]+ forwards' 20
np_wait_log pn 'port mapping by natpmp: 203\.0\.113\.101:[0-9]+ forwards' 20
np_wait_log pb 'no port mapping on the router: NAT-PMP: .*; UPnP: ' 20
for d in pa pn pb; do
	echo "    $d: $(np_log_line "$d" 'port mapping' | sed 's/.*portmap_on_report: //')"
done
# In HELLO, or in CANDIDATES when the mapping came after the session.
np_wait_log hub 'portal/pa.*direct-path candidate\(s\)( now)?, first upnp 203\.0\.113\.101:'
np_wait_log hub 'portal/pn.*direct-path candidate\(s\)( now)?, first natpmp 203\.0\.113\.101:'
up_port=$(np_log_line pa 'port mapping by upnp' |
    sed -n 's/.*203\.0\.113\.101:\([0-9]*\) forwards.*/\1/p')
pmp_port=$(np_log_line pn 'port mapping by natpmp' |
    sed -n 's/.*203\.0\.113\.101:\([0-9]*\) forwards.*/\1/p')
nl_x rA nft list chain inet miniupnpd prerouting_miniupnpd >"$NP_TMP/nat.txt"
for port in "$up_port" "$pmp_port"; do
	grep -q "dport $port .*dnat" "$NP_TMP/nat.txt" ||
	    np_fail "no DNAT rule for port $port on rA: $(cat "$NP_TMP/nat.txt")"
done

# status NAME: `netport status` of portal NAME into $NP_TMP/st-NAME.txt.
status() {
	NETPORT=$(nl_netport A) "$NETPORT" status -c "$NP_TMP/$1.yaml" \
	    >"$NP_TMP/st-$1.txt" 2>&1 ||
	    np_fail "netport status of $1 failed: $(cat "$NP_TMP/st-$1.txt")"
}
status pa
grep -q 'port mapping: upnp 203\.0\.113\.101:' "$NP_TMP/st-pa.txt" ||
    np_fail "pa's status shows no UPnP mapping: $(cat "$NP_TMP/st-pa.txt")"
status pn
grep -q 'port mapping: natpmp 203\.0\.113\.101:' "$NP_TMP/st-pn.txt" ||
    np_fail "pn's status shows no NAT-PMP mapping: $(cat "$NP_TMP/st-pn.txt")"
status pb
grep -q 'port mapping: none: NAT-PMP' "$NP_TMP/st-pb.txt" ||
    np_fail "pb's status does not say why it has no mapping: $(cat "$NP_TMP/st-pb.txt")"
sed -n '2p' "$NP_TMP/st-pb.txt" | sed 's/^/    pb: /'

# round PORT: one echo of 8 MiB through the client portal's port PORT.
round() {
	nl_echo_round B "$1"
}

np_step "pb -> pa: the tunnel moves to pa's UPnP-mapped port"
round 7001
np_wait_log pb "tunnel [0-9a-f]{32} to portal/pa now direct: 203\\.0\\.113\\.101:$up_port \\(upnp" 20
echo "    $(np_log_line pb 'to portal/pa now direct' | sed 's/.*tunnel_on_resume: //')"
round 7001

np_step "pb -> pn: the tunnel moves to pn's NAT-PMP-mapped port"
round 7002
np_wait_log pb "tunnel [0-9a-f]{32} to portal/pn now direct: 203\\.0\\.113\\.101:$pmp_port \\(natpmp" 20
echo "    $(np_log_line pb 'to portal/pn now direct' | sed 's/.*tunnel_on_resume: //')"
round 7002
status pb
grep -q "direct .*203\\.0\\.113\\.101:$up_port" "$NP_TMP/st-pb.txt" ||
    np_fail "pb's status shows no direct path to pa: $(cat "$NP_TMP/st-pb.txt")"
for d in pa pn pb; do
	np_no_log "$d" 'stream [0-9]+ \(rule [a-z0-9]+\) reset'
done

np_step "pa and pn stop: their mappings leave the router"
np_stop pa
np_stop pn
grep -Eq "UPnP mapping 203\\.0\\.113\\.101:$up_port removed" "$NP_TMP/pa.log" ||
    np_fail "pa did not remove its mapping: $(np_log_line pa 'mapping')"
grep -Eq "NAT-PMP mapping 203\\.0\\.113\\.101:$pmp_port removed" "$NP_TMP/pn.log" ||
    np_fail "pn did not remove its mapping: $(np_log_line pn 'mapping')"
nl_x rA nft list chain inet miniupnpd prerouting_miniupnpd >"$NP_TMP/nat.txt"
if grep -q 'dnat' "$NP_TMP/nat.txt"; then
	np_fail "rA still forwards ports: $(cat "$NP_TMP/nat.txt")"
fi

for d in pb r1 hub echo_a echo_a2 upnpd-rA stun; do
	np_stop "$d"
done
np_pass "UPnP and NAT-PMP mappings on miniupnpd: direct paths through two NATs, mappings removed on exit"
