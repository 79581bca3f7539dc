#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The peer is away when the tunnel asks for a new path.  One event (a
# router that reboots, a data centre that restarts) takes the tunnel's
# path and both portals' sessions with the server at once; the portals
# come back to the server at different times.  Here the server and the
# relay are SIGKILLed in the middle of an upload from pa to a sink behind
# pb, and restarted at once.  pa reconnects within a second and asks for a
# new path; pb waits 3 to 6 s before its next attempt (reconnect.min=6s),
# so the server answers pa "the other portal is not connected".  That
# refusal may pass (the peer is reconnecting too): pa keeps asking ("no
# new path yet"), the tunnel resumes once pb is back, and the upload
# completes with the same byte count and SHA-256 at both ends, no stream
# reset.  A refusal by policy still ends the tunnel at once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

mib=${NP_AWAY_MIB:-48}
bytes=$((mib * 1024 * 1024))
np_dp_pki
hub_port=$(np_port)
port_up=$(np_port)
sink_port=$(np_port)
{
	echo "rules:"
	np_dp_rule up pa "$port_up" pb "$sink_port"
} | np_policy

np_step "server on a fixed port, relay, pa; pb reconnects slowly (reconnect.min=6s)"
np_dp_server listen="127.0.0.1:$hub_port"
np_dp_relay
np_dp_portal pa 1 0 tunnel.resume_timeout=30s
np_dp_portal pb 0 1 tunnel.resume_timeout=30s reconnect.min=6s reconnect.max=6s
np_wait_port "$port_up" open
np_dp_app sink sink "$sink_port"

np_step "$mib MiB up at 4 MiB/s, under way"
np_dp_client up 90 put "$port_up" "$bytes" --progress $((bytes / 8)) --rate 4
np_wait_log up '^progress: ' 30
tid=$(np_log_line pa 'up via relay' | sed -E 's/.*tunnel ([0-9a-f]{32}) .*/\1/')

np_step "SIGKILL to the server and the relay, both restarted at once"
np_kill9 hub
np_kill9 r1
np_wait_log pa "tunnel $tid to portal/pb lost its path \\(relay "
np_wait_log pb "tunnel $tid to portal/pa lost its path \\(relay "
np_start_server hub
np_dp_relay r1

np_step "pa is back first: the peer is not connected, and pa asks again"
np_wait_log pa "tunnel $tid to portal/pb: no new path yet: the other portal is not connected" 15
np_wait_log_count hub 'peer=portal/pb .*portal registered' 2 15
np_wait_log pa "tunnel $tid to portal/pb resumed via relay " 15
np_wait_log pb "tunnel $tid to portal/pa resumed via relay " 15
np_log_line pa "tunnel $tid to portal/pb resumed via relay " |
    sed 's/.*tunnel_on_resume: /    /'

np_step "the upload completes intact; no stream was reset"
np_dp_done up 90
np_wait_log sink '^sink 1: received '
d=$(np_dp_same_data up '^put: sent ' sink '^sink 1: received ' "$bytes")
echo "    $d"
for p in pa pb; do
	np_no_log "$p" 'stream [0-9]+ \(rule up\) reset'
	np_no_log "$p" "tunnel $tid to portal/[a-z]+ closed"
done

np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop sink

np_pass "the peer away when the tunnel asked for a new path: pa asked again until pb was back; $mib MiB intact, no stream reset"
