#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The server dies (SIGKILL) in the middle of two transfers: 512 MiB down
# from a source behind the service portal pb and 512 MiB up to a sink
# behind pb, in one tunnel, both past 16 MiB when the server is killed.
# The server is only the control plane: both transfers must complete, each
# with the same byte count and SHA-256 at both ends, and the tunnel must not
# be closed.  Meanwhile both portals and the relay log that their control
# session closed and their attempts to reconnect ("reconnecting to server
# ... (attempt N)", at least two each while the server is down).  The
# server is then restarted on the same port: everyone registers again, and
# a new connection reuses the tunnel that outlived the server (no new
# grant).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

size=$((512 * 1024 * 1024))
mark=$((16 * 1024 * 1024))
np_dp_pki
hub_port=$(np_port)
port_down=$(np_port)
port_up=$(np_port)
port_echo=$(np_port)
src_port=$(np_port)
sink_port=$(np_port)
echo_port=$(np_port)
{
	echo "rules:"
	np_dp_rule down pa "$port_down" pb "$src_port"
	np_dp_rule up pa "$port_up" pb "$sink_port"
	np_dp_rule echo pa "$port_echo" pb "$echo_port"
} | np_policy

np_step "server on a fixed port, relay, portals; a source and a sink behind pb"
np_dp_server listen="127.0.0.1:$hub_port"
np_dp_relay
np_dp_portal pa 3 0
np_dp_portal pb 0 3
np_wait_port "$port_down" open
np_dp_app source source "$src_port" "$size"
np_dp_app sink sink "$sink_port"
np_dp_app echo echo "$echo_port"

np_step "512 MiB down and 512 MiB up, both under way"
np_dp_client down 90 get "$port_down" --progress "$mark"
np_wait_log down '^progress: '
np_dp_client up 90 put "$port_up" "$size" --progress "$mark"
np_wait_log up '^progress: '

np_step "SIGKILL to the server"
np_kill9 hub
np_is_running down || np_fail "the download was over before the server was killed"
np_is_running up || np_fail "the upload was over before the server was killed"
for d in pa pb r1; do
	np_wait_log "$d" 'reconnecting to server 127\.0\.0\.1:[0-9]+ in [0-9]+ ms \(attempt 2\)'
done

np_step "both transfers complete intact"
np_dp_done down 90
np_dp_done up 90
np_wait_log sink '^sink 1: received '
np_wait_log source '^source 1: sent '
down=$(np_dp_same_data down '^get: received ' source '^source 1: sent ' "$size")
up=$(np_dp_same_data up '^put: sent ' sink '^sink 1: received ' "$size")
echo "down: $(np_dp_field "$down" rate) MiB/s, up: $(np_dp_field "$up" rate) MiB/s"
for d in pa pb; do
	# Stream resets ("... (rule R) reset"), not the control session,
	# which the killed server's kernel may close with a TCP reset.
	np_no_log "$d" 'tunnel .* closed|\(rule [^)]*\) reset'
	np_log_line "$d" 'reconnecting to server'
done
np_no_log r1 'tunnel .* closed'

np_step "the server comes back; the tunnel that outlived it is reused"
np_start_server hub
np_wait_log_count hub 'peer=relay/r1 .*relay registered' 2
np_wait_log_count hub 'peer=portal/pa .*portal registered' 2
np_wait_log_count hub 'peer=portal/pb .*portal registered' 2
export PORT_ECHO=$port_echo
np_py <<'EOF'
import os, socket, npctl
from npctl import fail

def main():
    s = socket.create_connection(("127.0.0.1", int(os.environ["PORT_ECHO"])),
                                 timeout=10)
    msg = b"after the server came back\n"
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        data = s.recv(100)
        if not data:
            break
        got += data
    if got != msg:
        fail("echo returned %r" % got)

npctl.run(main)
EOF
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1 (the first tunnel is still up)"
[ "$(np_log_count pa 'up via relay')" -eq 1 ] || np_fail "pa brought up another tunnel"

np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop source
np_stop sink
np_stop echo

np_pass "server killed mid-transfer: 512 MiB each way intact, portals reconnected"
