#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The QUIC path across two NATs: pa behind rA and pb behind rB, both
# MASQUERADE, both with direct.quic: on.  The portals probe each other's
# reflexive UDP addresses (STUN's, and the one each probe comes from),
# punch both NATs, and the tunnel moves to a QUIC path, which across NATs
# ranks above a punched TCP path.
#   1. The tunnel ends on QUIC ("now direct: 203.0.113.102:... (.../quic,
#      QUIC, TLSv1.3"); status shows the path up; 32 MiB arrive whole.
#   2. Both WAN links get 12 ms of delay and 0.5 % loss each way (a round
#      trip of about 50 ms, 1 % loss each way end to end; NP_NET_QUIC_DELAY
#      and NP_NET_QUIC_LOSS change them).  The portals start again on the
#      impaired links; NP_NET_QUIC_MIB (8) MiB go over the QUIC path
#      (NP_NET_QUIC_CC, default bbr), then, with the portals restarted
#      without direct paths, over the relay (TCP).  Both arrive
#      whole; the times (start to the sink's last byte) are printed, not judged (bench/ judges speed).
. "$(dirname "$0")/netlib.sh"

mib=${NP_NET_QUIC_MIB:-8}
delay=${NP_NET_QUIC_DELAY:-12}
loss=${NP_NET_QUIC_LOSS:-0.5}
bytes=$((mib * 1024 * 1024))
big=$((32 * 1024 * 1024))

np_step "topology: rA masq, rB masq; portals with QUIC paths"
nl_topo masq masq
np_dp_pki
{
	echo "rules:"
	nl_rule up pa 127.0.0.1:9000 pb 127.0.0.1:9001
} | np_policy
nl_server
nl_relay
direct=(direct.mode=auto direct.quic=on "direct.quic_cc=${NP_NET_QUIC_CC:-bbr}"
	tunnel.setup_timeout=4s
	direct.retry=5s tunnel.keepalive=500ms tunnel.dead_timeout=3s)
nl_portal pa A 1 0 "${direct[@]}" 'direct.addresses=["10.1.0.2"]'
nl_portal pb B 0 1 "${direct[@]}" 'direct.addresses=["10.2.0.2"]'
nl_app B sink sink 9001
np_wait_log pa 'STUN: reflexive UDP address 203\.0\.113\.101:'
np_wait_log pb 'STUN: reflexive UDP address 203\.0\.113\.102:'

np_step "both NATs punched: the tunnel moves to a QUIC path; 32 MiB whole"
nl_client A put1 90 put 9000 "$big"
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb now direct: 203\.0\.113\.102:[0-9]+ \([a-z]+/quic, QUIC, TLSv1\.3' 20
np_log_line pa 'to portal/pb now direct: .*/quic' | sed 's/.*tunnel_on_resume: /    /'
np_dp_done put1 90
np_wait_log_count sink '^sink [0-9]+: received ' 1
echo "    $(np_dp_same_data put1 '^put: sent ' sink '^sink [0-9]+: received ' "$big")"
nl_x A "$NETPORT" status -c "$NP_TMP/pa.yaml" | tee "$NP_TMP/st1.txt"
grep -Eq '/quic 203\.0\.113\.102:[0-9]+: up, rtt [0-9]+ us' "$NP_TMP/st1.txt" ||
    np_fail "status does not show the QUIC path up"

np_step "WAN links: $delay ms each way, $loss % loss each way on both routers"
nl_impair_router rA delay="$delay" loss="$loss"
nl_impair_router rB delay="$delay" loss="$loss"
nput=1
# put BYTES: one more put of BYTES through rule up, waited for until the
# sink has it all; $elapsed is the time from its start to then (the
# sender alone finishes early: the tunnel buffers).
put() {
	local t0
	nput=$((nput + 1))
	t0=$(date +%s%N)
	nl_client A "put$nput" 600 put 9000 "$1"
	np_wait_log_count sink '^sink [0-9]+: received ' "$nput" 600
	elapsed=$((($(date +%s%N) - t0) / 1000000))
	np_dp_done "put$nput" 600
}
# The portals start again on the impaired links, so that the path's
# congestion control learns them from the start (a QUIC connection keeps
# its minimum RTT, and the first one's was under a millisecond).  A first
# small put brings the tunnel up and onto its path; the second is timed.
np_stop pa
np_stop pb
n=$(np_log_count pa 'to portal/pb now direct: .*/quic, QUIC')
nl_portal pa A 1 0 "${direct[@]}" 'direct.addresses=["10.1.0.2"]'
nl_portal pb B 0 1 "${direct[@]}" 'direct.addresses=["10.2.0.2"]'
put 65536
np_wait_log_more pa 'to portal/pb now direct: .*/quic, QUIC' "$n" 30
put "$bytes"
echo "    QUIC path: $(np_dp_same_data "put$nput" '^put: sent ' sink '^sink [0-9]+: received ' "$bytes")"
nl_x A "$NETPORT" status -c "$NP_TMP/pa.yaml" | grep '/quic .*: up' |
    sed 's/^ */    after: /'
np_no_log pa 'lost its path'
t_quic=$elapsed

np_step "the same over the relay (TCP): portals without direct paths"
np_stop pa
np_stop pb
nl_portal pa A 1 0 direct.mode=off tunnel.keepalive=500ms tunnel.dead_timeout=3s
nl_portal pb B 0 1 direct.mode=off tunnel.keepalive=500ms tunnel.dead_timeout=3s
put 65536
put "$bytes"
echo "    relay path: $(np_dp_same_data "put$nput" '^put: sent ' sink '^sink [0-9]+: received ' "$bytes")"
t_relay=$elapsed
echo "    $mib MiB, $delay ms and $loss % loss each way per router, start to last byte: QUIC path $t_quic ms, relay (TCP) $t_relay ms"
for d in pa pb; do
	np_no_log "$d" 'stream [0-9]+ \(rule up\) reset'
done
for d in pa pb r1 hub sink; do
	np_stop "$d"
done
np_pass "two MASQUERADE NATs punched for QUIC; 32 MiB whole; under 50 ms RTT and 1 % loss $mib MiB took $t_quic ms over QUIC and $t_relay ms over the relay"
