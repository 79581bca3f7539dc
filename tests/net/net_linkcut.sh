#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Router rA loses its WAN link for NP_NET_CUT_SECS seconds (default 20) in
# the middle of live streams, then gets it back.  NP_NET_CUT=link (default)
# sets rA's wan0 down, which also makes the kernel forget the connections
# masqueraded through it; NP_NET_CUT=drop drops every packet on wan0 with
# iptables instead, and the NAT mappings survive.  rA does MASQUERADE, rB
# is a firewall without translation.
#
# Two pairs of portals on hosts A (behind rA) and B share the path:
#   pa -> pb    tunnel.keepalive 1 s, tunnel.dead_timeout 5 s,
#               tunnel.resume_timeout 40 s: the outage outlasts the path,
#               which is given up after 5 s; the tunnel keeps its streams,
#               asks for a new path until the server answers again, and
#               must resume on it with every stream intact;
#   pa2 -> pb2  tunnel.keepalive 2 s, tunnel.dead_timeout 40 s: the tunnel
#               outlasts the outage, and its streams may resume.  They
#               usually do some 8 s after it (TCP's retransmission backoff),
#               but not always: when rA forgot the connection (NP_NET_CUT=
#               link) and the relay's retransmission to A arrives before A's
#               own has made a new mapping, the relay's next try comes ~50 s
#               after the cut began, and the tunnel's dead timeout resets
#               the streams first, with that reason.
# Each pair carries two streams to an echo server on B, small blocks and
# 64 KiB blocks, every block checked when it comes back.  The server uses
# a 1 s keepalive and a 3 s dead-peer timeout on control sessions.
#
# Checks: the control sessions of pa and pa2 die during the outage and
# come back after it (the portals log the reconnection, the server
# registers them again); the streams of pa -> pb resume with all their
# bytes intact on a new path; those of pa2 -> pb2 either resume or are
# reset, and then a portal logged the reset with a reason;
# no client waits longer for a block than the dead timeout of its tunnel
# allows (plus a keepalive interval and a margin: 50 s), which would be a
# silent hang;
# a new connection after the outage gets through.
. "$(dirname "$0")/netlib.sh"

cut=${NP_NET_CUT:-link}
cut_secs=${NP_NET_CUT_SECS:-20}
stall=50

np_step "topology: rA masq, rB firewall; two portal pairs, an echo server on B"
nl_topo masq firewall
np_dp_pki pa2 pb2
{
	echo "rules:"
	nl_rule echo1 pa 127.0.0.1:7001 pb 127.0.0.1:7000
	nl_rule echo2 pa2 127.0.0.1:7002 pb2 127.0.0.1:7000
} | np_policy
nl_server keepalive=1s dead_timeout=3s
nl_relay
short=(tunnel.keepalive=1s tunnel.dead_timeout=5s tunnel.resume_timeout=40s)
long=(tunnel.keepalive=2s tunnel.dead_timeout=40s)
nl_portal pa A 1 0 "${short[@]}"
nl_portal pb B 0 1 "${short[@]}"
nl_portal pa2 A 1 0 "${long[@]}"
nl_portal pb2 B 0 1 "${long[@]}"
np_wait_log pa 'listening on 127\.0\.0\.1:7001 '
np_wait_log pa2 'listening on 127\.0\.0\.1:7002 '
nl_app B echo echo 7000

np_step "four streams under way"
run_secs=$((cut_secs + 12))
for p in 1 2; do
	nl_help A "s$p" rounds "700$p" --secs "$run_secs" --deadline "$stall" --block 1000
	nl_help A "b$p" rounds "700$p" --secs "$run_secs" --deadline "$stall" --block 65536
done
for c in s1 b1 s2 b2; do
	np_wait_log "$c" '^round 1: '
done
up_pa=$(np_log_count pa 'session with server .* is up')
up_pa2=$(np_log_count pa2 'session with server .* is up')
reg=$(np_log_count hub 'peer=portal/pa2? .*portal registered from')

np_step "cut rA's WAN ($cut) for $cut_secs s"
t0=$(np__now_ms)
nl_cut rA "$cut"
np_wait_log pa 'reconnecting to server ' $((cut_secs - 2))
np_wait_log pa2 'reconnecting to server ' $((cut_secs - 2))
np_wait_log hub 'peer=portal/pa .*closed: peer silent' $((cut_secs - 2))
echo "    control sessions lost after $(( ($(np__now_ms) - t0) / 1000 )) s"
nl_hold $(( cut_secs - ($(np__now_ms) - t0) / 1000 )) hub r1 pa pb pa2 pb2
nl_uncut rA
t1=$(np__now_ms)
echo "    restored after $(( (t1 - t0) / 1000 )) s"

np_step "the control sessions come back"
np_wait_log_more pa 'session with server .* is up' "$up_pa" 20
np_wait_log_more pa2 'session with server .* is up' "$up_pa2" 20
np_wait_log_count hub 'peer=portal/pa2? .*portal registered from' $((reg + 2)) 20
echo "    both portals registered again $(( ($(np__now_ms) - t1) / 1000 )) s after the link came back"
np_log_line pa 'reconnecting to server ' | sed 's/^/    pa: /'

np_step "every stream resumed intact or was reset with a reason"
for p in 1 2; do
	if [ "$p" = 1 ]; then client=pa; else client=pa2; fi
	resets=0
	for c in "s$p" "b$p"; do
		# rounds exits by itself: ok or reset (status 0), or a hang or
		# wrong bytes (status 1), within its run time plus one stall.
		np_wait_exit "$c" 0 $((run_secs + stall + 5))
		line=$(np_log_line "$c" '^(ok|reset|HANG|FAIL): ')
		case $line in
		ok:*)
			echo "    $c (rule echo$p): resumed: $line"
			;;
		reset:*)
			[ "$p" = 2 ] || np_fail "$c (rule echo1): the stream was reset instead of resuming on a new path: $line"
			resets=$((resets + 1))
			echo "    $c (rule echo$p): $line"
			;;
		*)
			np_fail "$c: $line"
			;;
		esac
	done
	# One line per reset stream in the client portal's log, with why.
	n=$(np_log_count "$client" "stream [0-9]+ \\(rule echo$p\\) reset")
	[ "$n" -ge "$resets" ] ||
	    np_fail "$resets stream(s) of rule echo$p reset, but $client logged $n reset(s)"
	grep -E "stream [0-9]+ \\(rule echo$p\\) reset" "$(np_log "$client")" |
	    sed 's/^.* stream_reset: /        /' || true
done
grep -hE 'tunnel [0-9a-f]{32} to portal/pb2? closed' "$(np_log pa)" "$(np_log pa2)" |
    sed 's/^.* tunnel_close: /    /' || true
np_log_line pa 'tunnel [0-9a-f]{32} to portal/pb resumed via relay' |
    sed 's/^.* tunnel_on_resume: /    /'
np_log_line pa 'tunnel [0-9a-f]{32} to portal/pb resumed via relay' |
    grep -q . || np_fail "pa logged no resumed tunnel"

np_step "a new connection gets through"
nl_help A fresh rounds 7001 --secs 1 --deadline 20
np_wait_exit fresh 0 30
np_wait_log fresh '^ok: '
nl_help A fresh2 rounds 7002 --secs 1 --deadline 20
np_wait_exit fresh2 0 30
np_wait_log fresh2 '^ok: '

for d in pa pb pa2 pb2 r1 hub; do
	np_stop "$d"
done
np_stop echo
np_pass "$cut_secs s outage ($cut): control sessions recovered, the tunnel that lost its path resumed on a new one with its streams intact"
