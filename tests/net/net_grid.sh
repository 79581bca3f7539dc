#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The NAT grid: a client portal behind each kind of router, to a service
# portal behind each kind, every pair once; the path each pair must end up
# on is stated below and checked, and every pair carries an echo before
# and after.  Router kinds (each pair uses two different routers, so that
# no two portals share a LAN):
#   op   routing only: the LAN is reachable from outside
#   eim  MASQUERADE, which keeps a connection's source port
#        (endpoint-independent mapping), and a stateful firewall
#   sym  MASQUERADE --random-fully: a new port per destination
#   fw   no translation, a stateful firewall (unsolicited inbound dropped)
#   up   eim with miniupnpd: the portal maps its port (UPnP or NAT-PMP)
# Direct paths here are TCP: a public or mapped address dialled, or a
# punch (both portals dial each other's address from their listener's
# port, and the SYNs cross).  A random-fully side defeats punching toward
# it: such pairs stay on the relay, unless the other side is reachable.
#
# With NP_GRID_QUIC=on (net_grid_quic.sh) every portal also tries QUIC
# paths: each pair must end up on the same kind of path (direct or relay),
# and the pairs whose direct path is a punch through NATs or firewalls on
# both sides (UDP punches where TCP does) must end up on QUIC, which ranks
# above a punched TCP path; pairs with an interface address reachable
# from outside keep direct TCP (a "lan" candidate ranks above QUIC); the
# relayed pairs end on QUIC through the relay, paired over UDP.
#
# NP_GRID=PAIR[,PAIR...] (e.g. eim-sym,fw-fw) runs only those pairs.
. "$(dirname "$0")/netlib.sh"

kinds=(op eim sym fw up)
declare -A mode=([op]=none [eim]=masq [sym]=random-fully [fw]=firewall
	[up]=masq)
# What each pair (client-service) must end up on.
declare -A expect=(
	[op-op]=direct [op-eim]=direct [op-sym]=direct [op-fw]=direct
	[op-up]=direct [eim-eim]=direct [eim-sym]=relay [eim-fw]=direct
	[eim-up]=direct [sym-sym]=relay [sym-fw]=relay [sym-up]=direct
	[fw-fw]=direct [fw-up]=direct [up-up]=direct)

quic=${NP_GRID_QUIC:-off}
declare -A expect_quic=([eim-eim]=1 [eim-fw]=1 [eim-up]=1 [fw-fw]=1
	[fw-up]=1 [up-up]=1)

pairs=()
for ((i = 0; i < ${#kinds[@]}; i++)); do
	for ((j = i; j < ${#kinds[@]}; j++)); do
		pairs+=("${kinds[i]}-${kinds[j]}")
	done
done
if [ -n "${NP_GRID:-}" ]; then
	IFS=, read -r -a pairs <<<"$NP_GRID"
fi

np_step "topology: two routers of each kind, one portal behind each"
nl_switch
nl_public_host srv 203.0.113.10
nl_public_host relay 203.0.113.20
n=0
for k in "${kinds[@]}"; do
	for i in 1 2; do
		n=$((n + 1))
		nl_router "r$k$i" "203.0.113.$((100 + n))" "10.$n.0" "${mode[$k]}"
		nl_lan_host "r$k$i" "h$k$i" "10.$n.0.2"
	done
done
nl_stun
nl_miniupnpd rup1
nl_miniupnpd rup2

np_dp_pki op1 op2 eim1 eim2 sym1 sym2 fw1 fw2 up1 up2
declare -A nclient=() nservice=() port=()
p=7100
for pair in "${pairs[@]}"; do
	c=${pair%-*}1
	s=${pair#*-}2
	p=$((p + 1))
	port[$pair]=$p
	nclient[$c]=$((${nclient[$c]:-0} + 1))
	nservice[$s]=$((${nservice[$s]:-0} + 1))
done
{
	echo "rules:"
	for pair in "${pairs[@]}"; do
		nl_rule "$pair" "${pair%-*}1" "127.0.0.1:${port[$pair]}" \
		    "${pair#*-}2" 127.0.0.1:7000
	done
} | np_policy

np_step "server, relay, portals, echo servers"
nl_server
nl_relay
for k in "${kinds[@]}"; do
	for i in 1 2; do
		name=$k$i
		portmap=off
		[ "$k" != up ] || portmap=auto
		nl_portal "$name" "h$name" "${nclient[$name]:-0}" \
		    "${nservice[$name]:-0}" direct.mode=auto \
		    tunnel.setup_timeout=4s direct.retry=60s \
		    "direct.portmap=$portmap" "direct.quic=$quic" \
		    "direct.addresses=[\"$(ip -n "${NL_PREFIX}h$name" -4 -o \
		    addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)\"]"
		if [ "${nservice[$name]:-0}" -gt 0 ]; then
			nl_app "h$name" "echo_$name" echo 7000
		fi
	done
done
for i in 1 2; do
	np_wait_log "up$i" 'port mapping by (upnp|natpmp): ' 20
done

np_step "every pair: an echo, then the path it must end up on"
for pair in "${pairs[@]}"; do
	nl_echo_round "h${pair%-*}1" "${port[$pair]}" 256
done
printf '    %-8s %-7s %s\n' pair expect "what the client portal says"
for pair in "${pairs[@]}"; do
	c=${pair%-*}1
	s=${pair#*-}2
	if [ "${expect[$pair]}" = direct ]; then
		np_wait_log "$c" "tunnel [0-9a-f]{32} to portal/$s now direct: " 20
		if [ "$quic" = on ] && [ -n "${expect_quic[$pair]:-}" ]; then
			np_wait_log "$c" "tunnel [0-9a-f]{32} to portal/$s now direct: .*/quic, QUIC" 20
		fi
		got=$(np_log_line "$c" "to portal/$s now direct: " |
		    sed 's/.*now direct: \([^ ]*\) (\([a-z/]*\).*/direct \1 (\2)/')
	else
		np_wait_log "$c" "tunnel [0-9a-f]{32} to portal/$s stays on relay " 20
		np_no_log "$c" "to portal/$s now direct"
		got=relay
		if [ "$quic" = on ]; then
			# Through the relay, but over UDP: QUIC paired there.
			np_wait_log "$c" "tunnel [0-9a-f]{32} to portal/$s now via relay [^ ]+ \([^ ]+/quic, QUIC" 20
			got="relay (QUIC)"
		fi
	fi
	printf '    %-8s %-7s %s\n' "$pair" "${expect[$pair]}" "$got"
done

np_step "every pair again, on its path"
for pair in "${pairs[@]}"; do
	nl_echo_round "h${pair%-*}1" "${port[$pair]}" 256
done
for k in "${kinds[@]}"; do
	for i in 1 2; do
		np_no_log "$k$i" 'stream [0-9]+ \(rule [a-z-]+\) reset'
	done
done
for k in "${kinds[@]}"; do
	for i in 1 2; do
		np_stop "$k$i"
	done
done
np_stop r1
np_stop hub
np_pass "${#pairs[@]} pairs of router kinds, each on the path stated for it (QUIC paths $quic)"
