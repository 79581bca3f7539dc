#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# What a service manager sees, without one running: each daemon tells
# NOTIFY_SOCKET (a datagram socket this test reads) READY=1 with a status
# once it is up and STOPPING=1 on SIGTERM, as Type=notify units expect.
# Started as root with user: nobody, the server and the relay run on as
# that user with no capability left; a portal keeps CAP_NET_BIND_SERVICE
# (rules may listen below 1024), and with capture.mode auto also
# CAP_NET_ADMIN; a tunnel still carries data.  The shipped units pass
# systemd-analyze verify.  Needs root for the user checks (skipped
# otherwise).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_step "the units pass systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$NP_TMP/units"
	for u in "$NP_TESTS"/../dist/systemd/*.service; do
		b=$(basename "$u")
		[ "$b" = "netport-portal@.service" ] && b=netport-portal@test.service
		sed "s|/usr/bin/netport|$(readlink -f "$NETPORT")|" "$u" \
		    >"$NP_TMP/units/$b"
	done
	systemd-analyze verify --man=no "$NP_TMP"/units/*.service ||
	    np_fail "systemd-analyze verify refused a unit"
else
	echo "    (no systemd-analyze here: skipped)"
fi

if [ "$(id -u)" -ne 0 ]; then
	np_pass "units (not root: notify and user checks skipped)"
fi

np_step "a NOTIFY_SOCKET that records what the daemons say"
np_start notify python3 -u -c '
import os, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
print("notify ready", flush=True)
while True:
    d = s.recv(4096).decode()
    print("got " + d.replace("\n", " "), flush=True)
' "$NP_TMP/notify.sock"
np_wait_log notify '^notify ready$'
export NOTIFY_SOCKET=$NP_TMP/notify.sock

np_dp_pki
chmod 755 "$NP_TMP"
up_port=$(np_port)
sink_port=$(np_port)
{
	echo "rules:"
	np_dp_rule up pa "$up_port" pb "$sink_port"
} | np_policy

np_step "server, relay and portals as user nobody"
np_dp_server user=nobody
np_wait_log notify '^got READY=1 STATUS=serving'
np_dp_relay r1 user=nobody
np_wait_log notify '^got READY=1 STATUS=forwarding'
np_dp_portal pa 1 0 user=nobody
np_dp_portal pb 0 1 user=nobody capture.mode=auto
np_wait_log_count notify '^got READY=1 STATUS=up' 2

# caps NAME: the process's effective capabilities (hex) and uid.
caps() {
	awk '/^CapEff:/ { c = $2 } /^Uid:/ { u = $2 } END { print u, c }' \
	    "/proc/${NP_PID[$1]}/status"
}
nobody=$(id -u nobody)
for d in hub r1; do
	[ "$(caps "$d")" = "$nobody 0000000000000000" ] ||
	    np_fail "$d: uid and capabilities are $(caps "$d")"
	echo "    $d: uid, CapEff: $(caps "$d")"
done
# CAP_NET_BIND_SERVICE is bit 10 (0x400), CAP_NET_ADMIN bit 12 (0x1000).
[ "$(caps pa)" = "$nobody 0000000000000400" ] ||
    np_fail "pa: uid and capabilities are $(caps pa)"
[ "$(caps pb)" = "$nobody 0000000000001400" ] ||
    np_fail "pb: uid and capabilities are $(caps pb)"
echo "    pa: $(caps pa); pb (capture.mode auto): $(caps pb)"
np_wait_log hub 'running as user nobody'

np_step "a tunnel still carries data"
np_dp_app sink sink "$sink_port"
np_dp_client put 30 put "$up_port" 1048576
np_dp_done put 30
np_wait_log sink '^sink 1: received 1048576 bytes'

np_step "SIGTERM: STOPPING=1"
n=$(np_log_count notify '^got STOPPING=1')
np_stop pa
np_wait_log_count notify '^got STOPPING=1' $((n + 1))
np_pass "units verify; READY=1 and STOPPING=1; user nobody with only the capabilities each role keeps"
