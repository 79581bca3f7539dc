#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Many streams at once in one tunnel.  A client opens 200 connections to the
# client portal pa before it sends a byte (so all 200 streams are live
# together, most of them waiting for the tunnel at first), then sends on
# every one its own random payload of 64 KiB to 1 MiB, closing its sending
# side when done, while reading the echo back; an echo server behind the
# service portal pb returns every byte and passes the EOF on.  Every
# stream's echo must equal its payload (size and SHA-256) and end with a
# clean EOF.  All streams share one tunnel (one grant), none is reset,
# nothing is logged at warn or error level, and the relay forwarded at
# least the total payload each way.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

streams=200
secs=90
np_dp_pki
port=$(np_port)
echo_port=$(np_port)
{
	echo "rules:"
	np_dp_rule echo pa "$port" pb "$echo_port"
} | np_policy

np_step "server, relay, portals and an echo server behind pb"
np_dp_server
np_dp_relay
np_dp_portal pa 1 0
np_dp_portal pb 0 1
np_wait_port "$port" open
np_dp_app echo echo "$echo_port"

np_step "$streams streams of 64 KiB to 1 MiB each, echoed"
np_dp_client many "$secs" many "$port" "$streams" 65536 1048576
np_dp_done many "$secs"
line=$(np_log_line many '^many: [0-9]+ of [0-9]+ streams intact')
echo "$line"
[[ $line == "many: $streams of $streams streams intact, "* ]] || np_fail "$line"
total=$(sed -E 's/.* intact, ([0-9]+) bytes each way.*/\1/' <<<"$line")
np_wait_log_count echo 'bytes echoed, EOF passed on' "$streams"

np_step "one tunnel, no resets, no warnings"
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1"
for d in hub r1 pa pb; do
	np_no_log "$d" ' (warn|error) | reset'
done
np_stop pa
np_stop pb
np_wait_log r1 'tunnel pa>pb closed: '
line=$(np_log_line r1 'tunnel pa>pb closed: ')
fwd=$(sed -E 's/.*\(([0-9]+) bytes forward, ([0-9]+) back\).*/\1/' <<<"$line")
back=$(sed -E 's/.*\(([0-9]+) bytes forward, ([0-9]+) back\).*/\2/' <<<"$line")
if [ "$fwd" -le "$total" ] || [ "$back" -le "$total" ]; then
	np_fail "the relay forwarded less than the payload ($total bytes): $line"
fi
np_stop r1
np_stop hub
np_stop echo

np_pass "$streams concurrent streams echoed intact through one tunnel"
