#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A flood of bad connections at the relay's pairing port gives a few log
# lines, not one per connection.  From 127.0.0.1 (tests/flood.py): 500
# connections that send an HTTP request instead of the relay handshake,
# then 100 that send nothing, with max_pending_per_source at 4 so that
# the relay evicts 96 of them (and some of the 500 before it reads
# them).  For each reason the relay logs the first refusal in full and
# counts the others into summary lines ("N connections from 127.0.0.1
# refused in the last 10 s: REASON"): in all, 500 and then 96 more.  The
# relay stays registered throughout.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

FLOOD=$NP_TESTS/flood.py

# refusals REASON_REGEX: the relay's refusals from 127.0.0.1 for REASON,
# those logged in full and those counted in summary lines.
refusals() {
	awk -v re="$1" '
	$0 ~ "refused 127\\.0\\.0\\.1:[0-9]+: " re "$" { n++ }
	$0 ~ "logsum_flush: [0-9]+ connections from 127\\.0\\.0\\.1 refused in the last 10 s: " re "$" {
		sub(/.*logsum_flush: /, ""); n += $1
	}
	END { print n + 0 }' "$(np_log r1)"
}

# wait_refusals N REASON_REGEX...: waits (up to 25 s: two summary windows
# and some) until the refusals for the REASONs add up to N.
wait_refusals() {
	local want=$1 deadline=$(($(np__now_ms) + 25000)) n re
	shift
	while :; do
		n=0
		for re in "$@"; do
			n=$((n + $(refusals "$re")))
		done
		[ "$n" -lt "$want" ] || break
		[ "$(np__now_ms)" -lt "$deadline" ] ||
		    np_fail "$n refusals for /$*/ after 25 s, expected $want"
		sleep 0.1
	done
	[ "$n" -eq "$want" ] || np_fail "$n refusals for /$*/, expected $want"
}

np_dp_pki
echo "rules: []" | np_policy
np_dp_server
np_dp_relay r1 max_pending_per_source=4 handshake_timeout=30s
relay=$(np_log_line r1 'portals dial ')
relay=${relay##* }

np_step "500 HTTP requests at the pairing port: one line, then summaries"
touch "$NP_TMP/release1"
np_start junk python3 "$FLOOD" "$relay" 500 1 "$NP_TMP/release1" \
    --send "$(printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | od -An -tx1 | tr -d ' \n')"
np_wait_exit junk 0 60
# With 4 pending at most, the relay evicts some before it reads them.
magic='bad magic'
evicted='evicted: the oldest unfinished handshake of an address at max_pending_per_source'
wait_refusals 500 "$magic" "$evicted"
full=$(np_log_count r1 'refused 127\.0\.0\.1:[0-9]+: ')
[ "$full" -le 2 ] || np_fail "$full refusals logged in full, expected one per reason"
before=$(refusals "$evicted")

np_step "100 silent connections over a per-source cap of 4: 96 evictions"
np_start silent python3 "$FLOOD" "$relay" 100 1 "$NP_TMP/release2"
np_wait_log silent '^holding 100'
wait_refusals $((before + 96)) "$evicted"
full=$(np_log_count r1 'refused 127\.0\.0\.1:[0-9]+: ')
[ "$full" -le 2 ] || np_fail "$full refusals logged in full, expected one per reason"
touch "$NP_TMP/release2"
np_wait_exit silent 0 30

np_no_log hub 'peer=relay/r1 .*closed'
echo "    relay log: $(wc -l <"$(np_log r1)") lines for 600 bad connections"
np_pass "600 bad connections at the relay: the first of each reason in full, the rest in summaries"
