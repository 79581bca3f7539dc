#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# NAT state lost under a transfer: pa (behind rA) and pb (behind rB), both
# MASQUERADE, have a punched direct path; while 64 MiB flow from A to a
# sink on B, both routers forget every connection (conntrack -F), as a
# router that reboots or runs out of table does.  Whatever the NATs then
# do with the direct path's packets (pick the flow up again, or drop it),
# the tunnel must recover: the transfer completes with the same SHA-256 at
# both ends and no stream is reset.  The test says which way it went.
#
# NP_NET_CT_MIB (64) and NP_NET_CT_RATE (MiB/s, 8) size the transfer.
. "$(dirname "$0")/netlib.sh"

command -v conntrack >/dev/null ||
    np_fail "conntrack is missing (bash scripts/setup.sh installs it)"
mib=${NP_NET_CT_MIB:-64}
# NP_CT_QUIC=on (net_conntrack_quic.sh): the direct path is QUIC over UDP.
quic=${NP_CT_QUIC:-off}
direct_re='tunnel [0-9a-f]{32} to portal/pb now direct: 203\.0\.113\.102:[0-9]+ '
[ "$quic" = off ] || direct_re+='.*/quic, QUIC'
rate=${NP_NET_CT_RATE:-8}
bytes=$((mib * 1024 * 1024))
secs=$((mib / rate + 60))

np_step "topology: rA masq, rB masq; a punched direct path pa -> pb"
nl_topo masq masq
np_dp_pki
{
	echo "rules:"
	nl_rule up pa 127.0.0.1:9000 pb 127.0.0.1:9001
} | np_policy
nl_server
nl_relay
direct=(direct.mode=auto tunnel.setup_timeout=4s direct.retry=5s
	tunnel.keepalive=500ms tunnel.dead_timeout=3s "direct.quic=$quic")
nl_portal pa A 1 0 "${direct[@]}" 'direct.addresses=["10.1.0.2"]'
nl_portal pb B 0 1 "${direct[@]}" 'direct.addresses=["10.2.0.2"]'
nl_app B sink sink 9001

# flush_under_transfer N LOOSE: transfer N (1, 2) with the routers'
# nf_conntrack_tcp_loose set to LOOSE.  Loose (Linux's default), a router
# that meets a mid-stream TCP segment of a flow it forgot takes it up
# again; strict, it treats the segment as INVALID and drops it, so every
# TCP flow through the NATs dies at once: the control sessions, the relay
# connections and the direct path.
flush_under_transfer() {
	local n=$1 loose=$2 lost d
	nl_x rA sysctl -qw net.netfilter.nf_conntrack_tcp_loose="$loose"
	nl_x rB sysctl -qw net.netfilter.nf_conntrack_tcp_loose="$loose"
	nl_client A "put$n" "$secs" put 9000 "$bytes" --progress $((bytes / 4)) \
	    --rate "$rate"
	np_wait_log pa "$direct_re" 20
	np_wait_log "put$n" '^progress: ' 60
	lost=$(np_log_count pa 'lost its path')
	nl_x rA conntrack -F >/dev/null 2>&1
	nl_x rB conntrack -F >/dev/null 2>&1
	np_is_running "put$n" || np_fail "transfer $n ended before the flush"
	np_dp_done "put$n" "$secs"
	np_wait_log_count sink '^sink [0-9]+: received ' "$n"
	d=$(np_dp_same_data "put$n" '^put: sent ' sink '^sink [0-9]+: received ' "$bytes")
	echo "    $d"
	if [ "$(np_log_count pa 'lost its path')" -gt "$lost" ]; then
		echo "    the direct path died with the NAT state; the tunnel went on:"
		np_log_line pa 'resumed via relay|now direct: ' |
		    sed 's/.*tunnel_on_resume: /      /'
	else
		echo "    the NATs took the direct path's flow up again; no path was lost"
	fi
	# Strict TCP tracking kills TCP flows; a QUIC path's UDP flow is
	# simply tracked anew (the same port, when it is free).
	[ "$loose" = 1 ] || [ "$quic" = on ] ||
	    [ "$(np_log_count pa 'lost its path')" -gt "$lost" ] ||
	    np_fail "strict NATs dropped nothing: the test did not test recovery"
}

np_step "$mib MiB at $rate MiB/s, conntrack -F on both routers at a quarter (loose TCP tracking)"
flush_under_transfer 1 1
if [ "$quic" = off ]; then
	np_step "again, with strict TCP tracking: every flow through the NATs dies"
else
	np_step "again, with strict TCP tracking: the TCP flows die, the QUIC path's UDP flow is tracked anew"
fi
flush_under_transfer 2 0
for d in pa pb; do
	np_no_log "$d" 'stream [0-9]+ \(rule up\) reset'
done
for d in pa pb r1 hub sink; do
	np_stop "$d"
done
np_pass "conntrack flushed on both NATs under a direct transfer (QUIC paths $quic): $mib MiB intact, no stream reset, whether the NATs take flows up again or drop them"
