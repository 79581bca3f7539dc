#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A flood of connections that never finish TLS costs the server little and
# briefly, and its log a few lines.  Two floods of 2,000 TCP connections
# each (tests/flood.py), held until the test releases them:
#
# 1. From one address (127.0.0.1, which is also the portal's, as behind a
#    NAT): the server keeps at most max_unauth_per_source (64) of them,
#    evicting the oldest, so a portal that starts during the flood
#    registers.  The first eviction is logged in full, the rest in a
#    summary line ("N handshakes from 127.0.0.1 failed in the last 10 s").
# 2. From 40 addresses (127.0.0.1-40, 50 each, under the per-source cap),
#    each sending the start of a ClientHello, so that the server holds
#    OpenSSL's handshake buffers: the server keeps at most max_unauth
#    (1024), and once they are gone its resident memory comes back to
#    within 16 MiB of what it was idle (glibc's freed heap pages are given
#    back); not checked in sanitizer builds, whose allocator keeps freed
#    memory on purpose.
#
# Over the 4,000 connections the server writes no more than 200 lines.
#
# 3. With the caps lifted, 2,000 connections that send nothing hold no
#    TLS state (it starts with the peer's first bytes): the server stays
#    within 16 MiB of its idle size while it holds them all.
. "$(dirname "$0")/../lib.sh"

FLOOD=$NP_TESTS/flood.py
MIB=1024

np_ca
np_cert server hub
np_cert portal pa
echo "rules: []" | np_policy
np_server_conf hub handshake_timeout=20s
np_start_server hub
hub=${NP_PID[hub]}
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$hub/status"; }
idle=$(rss)

np_step "2000 idle connections from 127.0.0.1; a portal registers meanwhile"
np_start flood1 python3 "$FLOOD" "$NP_SERVER_ADDR" 2000 1 "$NP_TMP/release1"
np_wait_log flood1 '^holding 2000' 60
np_portal_conf pa
np_start_portal pa
np_wait_log hub 'peer=portal/pa .*portal registered' 10
np_is_running flood1 || np_fail "the flood ended before the portal registered"
np_wait_log hub 'closed: evicted: the oldest unfinished handshake of an address at max_unauth_per_source'
np_wait_log hub 'logsum_flush: [0-9]+ handshakes from 127\.0\.0\.1 failed in the last 10 s: evicted: the oldest unfinished handshake of an address at max_unauth_per_source' 15
full=$(np_log_count hub 'closed: evicted: ')
[ "$full" -le 2 ] || np_fail "$full evictions logged one by one, expected the first in full and a summary"
touch "$NP_TMP/release1"
np_wait_exit flood1 0 30

np_step "2000 half-open TLS handshakes from 40 addresses; memory comes back"
# A TLS record header announcing a 512-byte ClientHello, and its first
# bytes: the server starts the handshake and waits for the rest.
hello=1603010200010001fc0303$(printf '%0106d' 0)
np_start flood2 python3 "$FLOOD" "$NP_SERVER_ADDR" 2000 40 "$NP_TMP/release2" \
    --send "$hello"
np_wait_log flood2 '^holding 2000' 60
peak=$(rss)
np_wait_log hub 'closed: evicted: the oldest unfinished handshake of all at max_unauth'
touch "$NP_TMP/release2"
np_wait_exit flood2 0 30
after=$(rss)
if ! np_sanitized; then
	deadline=$(($(np__now_ms) + 10000))
	while [ "$after" -gt $((idle + 16 * MIB)) ]; do
		[ "$(np__now_ms)" -lt "$deadline" ] ||
		    np_fail "resident memory $((after / MIB)) MiB 10 s after the flood, idle $((idle / MIB)) MiB (peak seen $((peak / MIB)) MiB)"
		sleep 0.1
		after=$(rss)
	done
fi
echo "    RSS idle $((idle / MIB)) MiB, during $((peak / MIB)) MiB, after $((after / MIB)) MiB"

np_step "the portal is still registered, the log is short"
np_no_log hub 'peer=portal/pa .*closed'
lines=$(wc -l <"$(np_log hub)")
echo "    $lines server log lines for 4000 connections"
[ "$lines" -le 200 ] || np_fail "$lines server log lines for 4000 connections"
np_stop pa
np_stop hub

np_step "caps lifted: 2000 silent connections held cost no TLS state"
np_server_conf hub handshake_timeout=20s max_unauth=5000 \
    max_unauth_per_source=5000
np_start_server hub
hub=${NP_PID[hub]}
idle=$(rss)
evicted=$(np_log_count hub 'closed: evicted: ')
np_start flood3 python3 "$FLOOD" "$NP_SERVER_ADDR" 2000 1 "$NP_TMP/release3"
np_wait_log flood3 '^holding 2000' 60
held=$(rss)
touch "$NP_TMP/release3"
np_wait_exit flood3 0 30
echo "    RSS idle $((idle / MIB)) MiB, with 2000 silent connections $((held / MIB)) MiB"
[ "$(np_log_count hub 'closed: evicted: ')" -eq "$evicted" ] ||
    np_fail "connections evicted with the caps lifted"
if ! np_sanitized; then
	[ "$held" -le $((idle + 16 * MIB)) ] ||
	    np_fail "2000 silent connections took the server from $((idle / MIB)) to $((held / MIB)) MiB"
fi
np_stop hub
np_pass "floods of 4000 unfinished connections: capped, summarised, memory given back, a portal registered"
