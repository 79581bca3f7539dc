#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Hostile peers on the public segment, each a check, while real portals
# behind NAT keep working.  The attacker is host x (203.0.113.66); rA does
# MASQUERADE --random-fully, rB plain MASQUERADE.  tests/net/hostile.py
# plays the attacker.
#
# 1. Oversized frame header: with a valid portal certificate (evil), after
#    a good TLS handshake, a client trickles a frame header announcing
#    65535 bytes, one byte every 0.3 s: the server closes the connection
#    once the header is complete, logging why.  The same header followed by
#    8 MiB as fast as possible is closed without the server buffering it
#    (its peak memory grows by less than NP_NET_MEM_MIB, default 64); 7
#    bytes of a header and then silence are closed by the dead-peer timeout.
# 2. 1,000 half-open TLS handshakes (a partial ClientHello each, reopened
#    whenever the server closes one) for 14 s: meanwhile a new portal pc
#    registers and carries a stream through a new tunnel, and the
#    established portals keep their sessions; the server keeps at most
#    max_unauth_per_source (64) of x's handshakes, evicting the oldest,
#    and logs that in a few summary lines, not a line per connection.
# 3. At the relay's pairing port: garbage, 1,500 tickets with bad
#    signatures, 100 handshakes that never finish (more than the per-source
#    cap), 40 valid tickets presented by one side only (asked for through
#    the server by two portals of the attacker, f1 and f2) and the same 40
#    again (replays).  Meanwhile NP_NET_HOSTILE_MIB MiB (default 128) go
#    through the established tunnel pa -> pb with equal digests at both
#    ends, and a new tunnel (portal pd) pairs and carries a stream.  The
#    relay refuses every bad half with a logged reason, stays registered,
#    and its peak memory grows by less than NP_NET_MEM_MIB.
#
# Also: a portal that drips a frame one byte a second, before any HELLO,
# is closed by the server (only whole frames count as signs of life, and a
# session must send its first message within handshake_timeout).
. "$(dirname "$0")/netlib.sh"

mib=${NP_NET_HOSTILE_MIB:-128}
bytes=$((mib * 1024 * 1024))
mem_mib=${NP_NET_MEM_MIB:-64}
HOSTILE=$NL_DIR/hostile.py

# nl_hwm NAME: peak resident memory of NAME so far, in KiB.
nl_hwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/${NP_PID[$1]}/status"
}

np_step "topology: rA random-fully, rB masq, attacker x on the public segment"
nl_topo random-fully masq
nl_public_host x 203.0.113.66
np_dp_pki pc pd evil f1 f2
{
	echo "rules:"
	nl_rule bulk pa 127.0.0.1:9000 pb 127.0.0.1:9001
	nl_rule echo pc 127.0.0.1:7001 pb 127.0.0.1:7000
	nl_rule echo2 pd 127.0.0.1:7002 pb 127.0.0.1:7000
	nl_rule bait f1 127.0.0.1:9999 f2 127.0.0.1:9998
} | np_policy
nl_server
nl_relay pairing_timeout=3s handshake_timeout=3s
nl_portal pa A 1 0
nl_portal pb B 0 3
np_wait_log pa 'listening on 127\.0\.0\.1:9000 '
nl_app B sink sink 9001
nl_app B echo echo 7000
# One stream now, so that the tunnel pa -> pb is up before the attacks.
nl_client A warm 30 put 9000 1024
np_dp_done warm 30
np_wait_log sink '^sink 1: received 1024 bytes'

np_step "1. oversized frame headers from a portal with a valid certificate"
hwm0=$(nl_hwm hub)
nl_start x trickle "$NL_PY" "$HOSTILE" trickle 203.0.113.10:443 evil
np_wait_exit trickle 0 60
sed 's/^/    /' "$(np_log trickle)"
np_wait_log_count hub 'peer=portal/evil .*closed: bad frame header \(version 1, type 1, length 65535\)' 2
np_wait_log hub 'peer=portal/evil .*closed: peer silent for'
hwm1=$(nl_hwm hub)
echo "    server peak memory: $((hwm0 / 1024)) MiB before, $((hwm1 / 1024)) MiB after"
[ $((hwm1 - hwm0)) -lt $((mem_mib * 1024)) ] ||
    np_fail "the server's peak memory grew by $(( (hwm1 - hwm0) / 1024 )) MiB"
np_log_line hub 'closed: bad frame header' | sed 's/^.* ctl_conn_close: /    hub: /'

np_step "2. 1000 half-open TLS handshakes while a new portal comes"
np_portal_conf pc tunnel.keepalive=1s tunnel.dead_timeout=5s \
    tunnel.setup_timeout=10s connect_timeout=2s drain_timeout=2s
lines0=$(wc -l <"$(np_log hub)")
nl_start x tlsflood "$NL_PY" "$HOSTILE" tlsflood 203.0.113.10:443 1000 14
np_wait_log tlsflood '^tlsflood: burst of 1000 out' 20
t0=$(np__now_ms)
NETPORT=$(nl_netport A) np_start_portal pc
np_wait_log pc 'rule set [0-9]+ applied: 1 client-side' 15
t1=$(np__now_ms)
nl_help A pcround rounds 7001 --secs 1 --deadline 10
np_wait_exit pcround 0 20
np_wait_log pcround '^ok: '
np_is_running tlsflood || np_fail "the flood ended before the new portal was done"
echo "    pc registered $(( t1 - t0 )) ms after it started, during the flood; its stream went through"
np_wait_exit tlsflood 0 30
sed 's/^/    /' "$(np_log tlsflood)"
np_wait_log hub 'logsum_flush: [0-9]+ handshakes from 203\.0\.113\.66 failed in the last 10 s: evicted: ' 15
full=$(np_log_count hub 'connection 203\.0\.113\.66:[0-9]+ closed: ')
[ "$full" -le 5 ] || np_fail "$full of x's handshakes logged one by one"
echo "    server: $(sed -n "$((lines0 + 1)),\$p" "$(np_log hub)" |
    grep -Eo 'logsum_flush: [0-9]+ handshakes from 203\.0\.113\.66' |
    awk '{ n += $2 } END { print n + 0 }') of x's handshakes summarised," \
    "$full logged in full; peak memory $(( $(nl_hwm hub) / 1024 )) MiB"
for d in pa pb; do
	np_no_log "$d" 'reconnecting to server'
done
# A client that drips a frame one byte a second, before any HELLO; after
# the flood, which comes from the same address and would evict it.
silent='peer=portal/evil .*closed: (no complete message within|peer silent for)'
n=$(np_log_count hub "$silent")
nl_start x drip "$NL_PY" "$HOSTILE" drip 203.0.113.10:443 evil 12
np_wait_exit drip 0 30
sed 's/^/    /' "$(np_log drip)"
np_wait_log drip '^drip: closed by the server'
np_wait_log_more hub "$silent" "$n"

np_step "3. a flood at the relay while $mib MiB cross an established tunnel"
nl_portal pd A 1 0
hwm0=$(nl_hwm r1)
refused0=$(np_log_count r1 'refused ')
nl_start x relayflood "$NL_PY" "$HOSTILE" relayflood 203.0.113.20:8443 f1 f2 bait
np_wait_log relayflood '^garbage: ' 30
nl_client A put 120 put 9000 "$bytes"
nl_help A pdround rounds 7002 --secs 2 --deadline 15
np_wait_exit pdround 0 30
np_wait_log pdround '^ok: '
np_wait_log pd 'tunnel [0-9a-f]{32} to portal/pb up via relay'
np_is_running relayflood || np_fail "the relay flood was over before the new tunnel paired"
echo "    a new tunnel (pd -> pb) paired and carried a stream during the flood"
np_dp_done put 120
np_wait_log sink '^sink [0-9]+: received '"$bytes"' bytes'
line=$(np_log_line put '^put: sent ')
sum=$(np_dp_field "$line" sha256)
grep -q "received $bytes bytes sha256 $sum " "$(np_log sink)" ||
    np_fail "the sink did not get the bytes that were sent: $line"
echo "    $mib MiB through pa -> pb during the flood: $(np_dp_field "$line" rate) MiB/s, digests equal"
np_wait_exit relayflood 0 120
sed 's/^/    /' "$(np_log relayflood)"
grep -q '^unpaired valid tickets: .*status 6 (pairing timeout)' "$(np_log relayflood)" ||
    np_fail "unpaired halves were not refused with status 6"
grep -q '^replayed tickets: 40 status 4 (replay)$' "$(np_log relayflood)" ||
    np_fail "replayed tickets were not all refused as replays"
grep -q '^bogus tickets: 1500 status 2 (bad signature)$' "$(np_log relayflood)" ||
    np_fail "bogus tickets were not all refused for their signature"
hwm1=$(nl_hwm r1)
echo "    relay: $(( $(np_log_count r1 'refused ') - refused0 )) refusals logged in full," \
    "$(grep -Eo 'logsum_flush: [0-9]+ connections from ' "$(np_log r1)" |
    awk '{ n += $2 } END { print n + 0 }') in summaries;" \
    "peak memory $((hwm0 / 1024)) MiB before, $((hwm1 / 1024)) MiB after"
[ $((hwm1 - hwm0)) -lt $((mem_mib * 1024)) ] ||
    np_fail "the relay's peak memory grew by $(( (hwm1 - hwm0) / 1024 )) MiB"
[ "$(np_log_count hub 'peer=relay/r1 .*relay registered')" -eq 1 ] ||
    np_fail "the relay lost its session with the server"
np_no_log r1 'out of memory'
np_no_log hub 'out of memory'

for d in pa pb pc pd r1 hub sink echo; do
	np_stop "$d"
done
np_pass "oversized headers closed, 1000 half-open handshakes and a relay flood survived; $mib MiB intact"
