#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A tunnel outlives its relay.  The relay dies (SIGKILL) in the middle of
# two transfers in one tunnel, a download from a source behind the service
# portal pb and an upload to a sink behind pb, each NP_KILL_MIB MiB (512 by
# default) and past a quarter of it when the relay is killed.  Both portals
# notice the dead path at once (the kernel closes the relay's sockets) and
# keep the streams: "lost its path", no stream reset.  While there is no
# relay, pa keeps asking the server for a new path (refused: no relay), and
# a new connection accepted meanwhile waits for the tunnel.  Once the relay
# is restarted (new process, same identity, new port) the tunnel resumes on
# a new path (a grant that names the tunnel it resumes), each side replays
# what the other had not received, and both transfers complete with equal
# byte counts and SHA-256 digests at both ends; the waiting connection
# echoes.  No stream is reset in all this.
#
# Then the case where no path comes back: portals with a 2 s
# tunnel.resume_timeout, a transfer under way, the relay killed and not
# restarted.  After about 2 s the streams are reset with the reason (no
# new path within tunnel.resume_timeout), and the client sees its transfer
# cut.  A relay started again afterwards carries a new tunnel.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

mib=${NP_KILL_MIB:-512}
bytes=$((mib * 1024 * 1024))
mark=$((bytes / 4))
secs=$((mib * 60 / 512 > 60 ? mib * 60 / 512 : 60))
np_dp_pki
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

np_step "server, relay, portals; a source, a sink and an echo server behind pb"
np_dp_server
np_dp_relay
np_dp_portal pa 3 0 tunnel.resume_timeout=30s
np_dp_portal pb 0 3 tunnel.resume_timeout=30s
np_wait_port "$port_down" open
np_dp_app source source "$src_port" "$bytes"
np_dp_app sink sink "$sink_port"
np_dp_app echo echo "$echo_port"

np_step "a download and an upload of $mib MiB each, both under way"
np_dp_client down "$secs" get "$port_down" --progress "$mark"
np_dp_client up "$secs" put "$port_up" "$bytes" --progress "$mark"
np_wait_log down '^progress: ' 30
np_wait_log up '^progress: ' 30
tid=$(np_log_line pa 'up via relay' | sed -E 's/.*tunnel ([0-9a-f]{32}) .*/\1/')
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1"

np_step "SIGKILL to the relay: both portals keep the tunnel and its streams"
np_kill9 r1
np_wait_log pa "tunnel $tid to portal/pb lost its path \\(relay "
np_wait_log pb "tunnel $tid to portal/pa lost its path \\(relay "
np_wait_log hub 'tunnel denied: rule (down|up|echo), portal/pa -> portal/pb: no relay'
np_wait_log pa "tunnel $tid to portal/pb: no new path yet: no relay is available"
np_is_running down || np_fail "the download ended while the relay was down"
np_is_running up || np_fail "the upload ended while the relay was down"

np_step "a new connection while there is no path waits for the tunnel"
export PORT_ECHO=$port_echo
cat >"$NP_TMP/waiter.py" <<'EOF'
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(os.environ["PORT_ECHO"])),
                             timeout=60)
msg = b"sent while the tunnel had no path\n" * 1000
s.sendall(msg)
print("waiter: connected and sent", flush=True)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    data = s.recv(65536)
    if not data:
        break
    got += data
print("waiter: %s, %d of %d bytes" % ("ok" if got == msg else "WRONG",
                                        len(got), len(msg)), flush=True)
sys.exit(0 if got == msg else 1)
EOF
np_start waiter python3 "$NP_TMP/waiter.py"
np_wait_log waiter '^waiter: connected and sent'

np_step "the relay comes back: the tunnel resumes and both transfers finish"
np_dp_relay r1
np_wait_log hub "tunnel granted: rule .*, resuming $tid"
np_wait_log pa "tunnel $tid to portal/pb resumed via relay "
np_wait_log pb "tunnel $tid to portal/pa resumed via relay "
np_dp_done down "$secs"
np_dp_done up "$secs"
np_wait_log source '^source 1: sent '
np_wait_log sink '^sink 1: received '
d=$(np_dp_same_data down '^get: received ' source '^source 1: sent ' "$bytes")
u=$(np_dp_same_data up '^put: sent ' sink '^sink 1: received ' "$bytes")
echo "download: $d"
echo "upload: $u"
np_wait_exit waiter 0 30
np_log_line waiter '^waiter: '
echo "$(np_log_line pa "tunnel $tid to portal/pb resumed")"
for p in pa pb; do
	np_no_log "$p" 'stream [0-9]+ \(rule [a-z]+\) reset'
done

np_step "no new path within tunnel.resume_timeout: the streams are reset"
np_stop pa
np_stop pb
np_dp_portal pa 3 0 tunnel.resume_timeout=2s
np_dp_portal pb 0 3 tunnel.resume_timeout=2s
np_wait_port "$port_down" open
n=$(np_log_count source '^source [0-9]+: ')
np_dp_client down2 "$secs" get "$port_down" --progress "$mark" --cut
np_wait_log down2 '^progress: ' 30
np_kill9 r1
t0=$(np__now_ms)
np_wait_log pa 'stream [0-9]+ \(rule down\) reset: the other side went away: no new path within 2000 ms \(tunnel\.resume_timeout\)' 10
t1=$(np__now_ms)
np_wait_log down2 '^cut: ' 10
np_dp_done down2 10
echo "streams reset $((t1 - t0)) ms after the relay died (tunnel.resume_timeout 2 s)"
[ $((t1 - t0)) -ge 1500 ] || np_fail "reset after $((t1 - t0)) ms, before the resume timeout"
np_wait_log pb 'stream [0-9]+ \(rule down\) reset: '

np_step "a relay started again carries a new tunnel"
n=$(np_dp_granted)
np_dp_relay r1
np_py <<'EOF'
import os, socket, npctl
from npctl import fail

def main():
    s = socket.create_connection(("127.0.0.1", int(os.environ["PORT_ECHO"])),
                                 timeout=10)
    msg = b"through the new relay\n" * 1000
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += data
    if got != msg:
        fail("echo returned %d bytes, sent %d" % (len(got), len(msg)))

npctl.run(main)
EOF
[ "$(np_dp_granted)" -gt "$n" ] || np_fail "no new grant after the relay came back"

np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop source
np_stop sink
np_stop echo

np_pass "relay killed mid-transfer: $mib MiB each way complete with equal digests after the restart; without a relay the streams are reset after tunnel.resume_timeout"
