#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A bulk transfer over a slow, lossy access link.  Router rA's WAN link is
# impaired both ways: 25 ms of delay and 1 % loss on what rA sends to the
# WAN and on what it forwards from the WAN to LAN A, so host A has a 50 ms
# round trip to the public side with 1 % loss each way (delay with netem
# when the kernel has it, else the nfq_delay delay line; loss with an
# iptables statistic rule).  Both routers do NAT (masq).  ping from A to the
# relay measures the link first.
#
# A client on A sends NP_NET_LOSSY_MIB MiB (default 100) through the tunnel
# pa -> relay -> pb to a sink on B, which must receive exactly that many
# bytes with the same SHA-256.  The rate is printed, with how many packets
# the impairment dropped.  The tunnel must carry it all (one grant, no
# stream reset).  NP_NET_LOSSY_LOSS (percent, default 1) and
# NP_NET_LOSSY_DELAY (ms each way, default 25) change the link.
. "$(dirname "$0")/netlib.sh"

mib=${NP_NET_LOSSY_MIB:-100}
loss=${NP_NET_LOSSY_LOSS:-1}
delay=${NP_NET_LOSSY_DELAY:-25}
bytes=$((mib * 1024 * 1024))
# A deadline, not a target: at least 0.5 MiB/s, and 60 s for small sizes.
secs=$((2 * mib > 60 ? 2 * mib : 60))

nl_can_delay || {
	echo "SKIP: $NL_SCRIPT: no netem in this kernel and no nfq_delay (needs libnetfilter-queue-dev)"
	exit 77
}

np_step "topology: rA and rB masq; rA's WAN link ${delay} ms each way, $loss % loss each way"
nl_topo masq masq
nl_impair_router rA delay="$delay" loss="$loss"
np_dp_pki
{
	echo "rules:"
	nl_rule up pa 127.0.0.1:9000 pb 127.0.0.1:9001
} | np_policy

if command -v ping >/dev/null; then
	nl_x A ping -n -q -c 100 -i 0.02 -W 2 203.0.113.20 >"$NP_TMP/ping.out" 2>&1 || true
	rtt=$(sed -nE 's|.*= [0-9.]+/([0-9.]+)/.*|\1|p' "$NP_TMP/ping.out")
	plost=$(sed -nE 's/.* ([0-9.]+)% packet loss.*/\1/p' "$NP_TMP/ping.out")
	echo "    ping A -> relay: rtt avg ${rtt:-?} ms, ${plost:-?} % of 100 round trips lost"
	awk -v r="${rtt:-0}" -v d="$delay" 'BEGIN { exit !(r >= 2 * d * 0.9 && r <= 2 * d * 1.5 + 5) }' ||
	    np_fail "round trip A -> relay is ${rtt:-?} ms, expected about $((2 * delay)) ms"
fi

np_step "server, relay, portals; a sink behind pb"
nl_server
nl_relay
nl_portal pa A 1 0
nl_portal pb B 0 1
np_wait_log pa 'listening on 127\.0\.0\.1:9000 for rule up'
nl_app B sink sink 9001

np_step "$mib MiB from A to B through the tunnel"
nl_client A put "$secs" put 9000 "$bytes"
np_dp_done put "$secs"
np_wait_log sink '^sink 1: received '
up=$(np_dp_same_data put '^put: sent ' sink '^sink 1: received ' "$bytes")
rate=$(np_dp_field "$up" rate)
t=$(np_dp_field "$up" secs)
echo "    $mib MiB in $t s: $rate MiB/s ($(awk -v r="$rate" 'BEGIN { printf "%.1f", r * 8.388608 }') Mbit/s)"

np_step "one tunnel, no resets; what the link dropped"
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1"
for d in pa pb; do
	np_no_log "$d" ' reset'
done
for dev in lan0 wan0; do
	n=$(nl_ipt rA -t raw -L "NL-in-$dev" -v -n -x 2>/dev/null | awk '$3 == "DROP" { print $1 }')
	[ -z "$n" ] || echo "    rA, arriving on $dev: $n packets dropped by the loss rule"
done
np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop sink
for dev in lan0 wan0; do
	if np_is_running "nfq-rA-$dev-in"; then
		np_stop "nfq-rA-$dev-in"
		sed -n 's/^nfq_delay: queue [0-9]*: /    rA, arriving on '"$dev"', delay line: /p' "$NP_TMP/nfq-rA-$dev-in.log"
	fi
done

np_pass "$mib MiB over ${delay} ms x2 RTT and $loss % loss each way: $rate MiB/s, digests equal"
