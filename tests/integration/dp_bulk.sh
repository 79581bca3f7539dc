#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Bulk transfer through one tunnel, each way, with end-to-end checksums.
# Client to service: a client in front of the client portal pa sends
# NP_BULK_MIB MiB and closes its sending side; a sink behind the service
# portal pb reads to EOF and reports count and SHA-256.  Service to client:
# a source behind pb sends NP_BULK_MIB MiB to a client that reads to EOF.
# Both ends of each transfer must agree on the byte count and the digest,
# the tunnel must carry both transfers (one grant), no stream may be reset
# and nothing is logged at warn or error level.  The throughput of each
# direction is printed.
#
# Size: NP_BULK_MIB (MiB), 1024 (1 GiB each way) by default in every
# build.  Measured on a 2-CPU machine, the AddressSanitizer build moves
# about 140 MiB/s each way (the release build about 320 MiB/s, bounded by
# the Python ends), so 1 GiB each way takes some 20 s there: no smaller
# default is needed.  Each direction must finish within 50 s per GiB
# (at least 20 MiB/s), and within 30 s for small sizes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

mib=${NP_BULK_MIB:-1024}
bytes=$((mib * 1024 * 1024))
secs=$((mib * 50 / 1024 > 30 ? mib * 50 / 1024 : 30))

np_dp_pki
up_port=$(np_port)
down_port=$(np_port)
sink_port=$(np_port)
source_port=$(np_port)
{
	echo "rules:"
	np_dp_rule up pa "$up_port" pb "$sink_port"
	np_dp_rule down pa "$down_port" pb "$source_port"
} | np_policy

np_step "server, relay, portals; a sink and a source behind pb ($mib MiB each way)"
np_dp_server
np_dp_relay
np_dp_portal pa 2 0
np_dp_portal pb 0 2
np_wait_port "$up_port" open
np_wait_port "$down_port" open
np_dp_app sink sink "$sink_port"
np_dp_app source source "$source_port" "$bytes"

np_step "client -> service: $mib MiB"
np_dp_client put "$secs" put "$up_port" "$bytes"
np_dp_done put "$secs"
np_wait_log sink '^sink 1: received '
up=$(np_dp_same_data put '^put: sent ' sink '^sink 1: received ' "$bytes")
echo "client -> service: $(np_dp_field "$up" rate) MiB/s ($mib MiB in $(np_dp_field "$up" secs) s)"

np_step "service -> client: $mib MiB"
np_dp_client get "$secs" get "$down_port"
np_dp_done get "$secs"
np_wait_log source '^source 1: sent '
down=$(np_dp_same_data get '^get: received ' source '^source 1: sent ' "$bytes")
echo "service -> client: $(np_dp_field "$down" rate) MiB/s ($mib MiB in $(np_dp_field "$down" secs) s)"

np_step "one tunnel, no resets, no warnings"
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1"
for d in hub r1 pa pb; do
	np_no_log "$d" ' (warn|error) | reset'
done
np_stop pa
np_stop pb
np_wait_log r1 "tunnel pa>pb closed: .*\\(([0-9]+) bytes forward"
line=$(np_log_line r1 'tunnel pa>pb closed: ')
fwd=$(sed -E 's/.*\(([0-9]+) bytes forward, ([0-9]+) back\).*/\1/' <<<"$line")
back=$(sed -E 's/.*\(([0-9]+) bytes forward, ([0-9]+) back\).*/\2/' <<<"$line")
if [ "$fwd" -le "$bytes" ] || [ "$back" -le "$bytes" ]; then
	np_fail "the relay forwarded less than the payload: $line"
fi
np_stop r1
np_stop hub
np_stop sink
np_stop source

np_pass "$mib MiB each way, digests equal; up $(np_dp_field "$up" rate) MiB/s, down $(np_dp_field "$down" rate) MiB/s"
