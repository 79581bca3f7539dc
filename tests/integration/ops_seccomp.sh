#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The server's and the relay's seccomp filter.  Both install it once up
# (seccomp: on, the default) and then carry a tunnel as before; in a test
# build (NETPORT_TEST_HOOKS), SIGUSR2 makes each call execve(2), which the
# filter forbids: each must die of SIGSYS at once (exit status 159), not
# run the program.  Sanitizer builds have no filter (their runtime traces
# the process): skipped there.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

if np_sanitized; then
	echo "SKIP: sanitizer builds run without the seccomp filter"
	exit 77
fi

np_dp_pki
up_port=$(np_port)
sink_port=$(np_port)
{
	echo "rules:"
	np_dp_rule up pa "$up_port" pb "$sink_port"
} | np_policy

np_step "server and relay install their filters"
np_dp_server
np_wait_log hub 'seccomp: filter on'
np_dp_relay
np_wait_log r1 'seccomp: filter on'

np_step "a tunnel through them carries data"
np_dp_portal pa 1 0
np_dp_portal pb 0 1
np_dp_app sink sink "$sink_port"
np_dp_client put 30 put "$up_port" $((8 * 1024 * 1024))
np_dp_done put 30
np_wait_log sink '^sink 1: received 8388608 bytes'

if ! grep -q 'test hook: calling execve' "$NETPORT"; then
	np_pass "filters on, data flows (no test hooks in this build: the kill is not shown)"
fi

np_step "a forbidden call kills each (SIGSYS, status 159)"
for d in r1 hub; do
	np_signal "$d" USR2
	np_wait_log "$d" 'test hook: calling execve'
	np_wait_exit "$d" 159 10
	np_no_log "$d" 'execve returned'
	echo "    $d: killed by SIGSYS"
done
np_pass "filters on, data flows, a forbidden call kills the relay and the server"
