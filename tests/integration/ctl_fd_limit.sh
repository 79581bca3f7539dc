#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Reloads at the open-file limit.  The server runs with a hard limit of 64
# descriptors (it raises its soft limit to the hard one at start), and a
# client holds 150 TCP connections to it that never start TLS, so that
# every descriptor is taken and accepts wait.  A policy change (SIGHUP)
# and a revocation (new CRL, SIGHUP) must still take effect: the server
# keeps one descriptor back for reloads.  Before that reserve, both
# failed with "Too many open files" and a revoked portal kept its session.
# A connection above the limit is closed at once (the listener's spare
# descriptor), so that a portal backs off instead of waiting in the
# backlog until its own timeout.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

command -v prlimit >/dev/null || { echo "SKIP: no prlimit"; exit 77; }
np_dp_pki
web_port=$(np_port)
policy() {
	echo "rules:"
	np_dp_rule web pa "$web_port" pb 9
	[ "${1:-}" = more ] && np_dp_rule web2 pa "$(np_port)" pb 10
	return 0
}
policy | np_policy

np_step "a server with 64 descriptors; a portal registered"
printf '#!/bin/sh\nexec prlimit --nofile=64:64 "%s" "$@"\n' \
    "$(readlink -f "$NETPORT")" >"$NP_TMP/limited"
chmod +x "$NP_TMP/limited"
NETPORT=$NP_TMP/limited np_dp_server handshake_timeout=60s \
    policy_poll=0s max_unauth=100000 max_unauth_per_source=100000
np_dp_portal pa 1 0
np_wait_log hub 'peer=portal/pa .*portal registered'

np_step "150 idle connections take every descriptor"
np_start hold python3 -c '
import signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
host, port = sys.argv[1].rsplit(":", 1)
held = []
for i in range(150):
    try:
        held.append(socket.create_connection((host, int(port)), timeout=2))
    except OSError:
        break
print("holding %d" % len(held), flush=True)
time.sleep(120)
' "$NP_SERVER_ADDR"
np_wait_log hold '^holding 150$'
np_wait_log hub 'out of file descriptors; closed [0-9]+ waiting' 10

np_step "one more connection is closed at once, not left waiting"
python3 -c '
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=2)
s.settimeout(10)
t = time.monotonic()
try:
    got = s.recv(1)
except ConnectionResetError:
    got = b""
took = time.monotonic() - t
if got != b"" or took > 3:
    sys.exit("not closed at once: %r after %.1f s" % (got, took))
print("closed after %.2f s" % took)
' "$NP_SERVER_ADDR" || np_fail "a connection above the limit waits"

np_step "a policy reload at the limit"
policy more | np_policy
np_signal hub HUP
np_wait_log hub 'policy reloaded from .*: 2 rules'
np_no_log hub 'not reloaded'

np_step "a revocation at the limit closes the revoked portal's session"
np_revoke pa
np_signal hub HUP
np_wait_log hub 'CRL reloaded from '
np_wait_log hub 'peer=portal/pa .*revoked'
np_no_log hub 'CRL .* not reloaded|cannot read it again'
np_stop hold
np_pass "policy and CRL reloads take effect with every descriptor taken"
