#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A rule whose target refuses the connection.  Rule dead points at a
# loopback port where nothing listens; rule echo at a working echo server;
# both rules join the client portal pa to the service portal pb, so they
# share a tunnel.  A client connects to the dead rule's port (which brings
# the tunnel up) and sends a line: pb's connect is
# refused, pb resets the stream with "target refused the connection", pa
# logs the reset from the peer with the same reason, and the client's
# connection is reset (recv raises ConnectionResetError, it is not a clean
# EOF), within a few seconds.  The tunnel lives on: a stream under the
# working rule echoes without a second "tunnel granted".  Three more
# refusals follow, each resetting only its own stream: the long-lived echo
# stream keeps working after each, and a new echo stream opens after each.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
dead_port=$(np_port)
echo_port=$(np_port)
port_dead=$(np_port)
port_echo=$(np_port)
{
	echo "rules:"
	np_dp_rule dead pa "$port_dead" pb "$dead_port"
	np_dp_rule echo pa "$port_echo" pb "$echo_port"
} | np_policy

np_step "server, relay, portals; an echo server behind pb, nothing on port $dead_port"
np_dp_server
np_dp_relay
np_dp_portal pa 2 0
np_dp_portal pb 0 2
np_wait_port "$port_dead" open
np_wait_port "$port_echo" open
np_dp_app echo echo "$echo_port"
export PORT_DEAD=$port_dead PORT_ECHO=$port_echo DEAD=$dead_port

np_py <<'EOF'
import os, socket, time, npctl
from npctl import fail

def echo_roundtrip(s, msg):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        data = s.recv(len(msg) - len(got))
        if not data:
            fail("EOF from the echo stream")
        got += data
    if got != msg:
        fail("echo returned %r for %r" % (got, msg))

def refused(n):
    t0 = time.monotonic()
    s = None
    try:
        # The reset may come so fast that connect() or the send sees it.
        s = socket.create_connection(("127.0.0.1",
                                      int(os.environ["PORT_DEAD"])),
                                     timeout=10)
        s.sendall(b"anyone there?\n")
        data = s.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        print("refused %d: connection reset after %.3f s" %
              (n, time.monotonic() - t0))
        return
    except socket.timeout:
        fail("no reset within 10 s")
    finally:
        if s is not None:
            s.close()
    fail("recv returned %r instead of a connection reset" % data)

def main():
    # The refused stream is the first: it brings the tunnel up.
    refused(1)
    live = socket.create_connection(("127.0.0.1", int(os.environ["PORT_ECHO"])),
                                    timeout=10)
    echo_roundtrip(live, b"after the first refusal\n")
    for n in range(2, 5):
        refused(n)
        echo_roundtrip(live, b"still here after refusal %d\n" % n)
        s = socket.create_connection(("127.0.0.1",
                                      int(os.environ["PORT_ECHO"])), timeout=10)
        echo_roundtrip(s, b"a new stream after refusal %d\n" % n)
        s.shutdown(socket.SHUT_WR)
        if s.recv(10) != b"":
            fail("no EOF")
        s.close()
    live.close()

npctl.run(main)
EOF
grep '^refused' "$NP_TMP/py.log"

np_step "both portals logged the reason; one tunnel"
re="reset: target refused the connection: connect to 127\\.0\\.0\\.1:$dead_port.*: Connection refused"
np_wait_log_count pb "stream [0-9]+ \\(rule dead\\) $re" 4
re="reset by the peer: target refused the connection: connect to 127\\.0\\.0\\.1:$dead_port.*: Connection refused"
np_wait_log_count pa "stream [0-9]+ \\(rule dead\\) $re" 4
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1"
[ "$(np_log_count pa 'up via relay')" -eq 1 ] || np_fail "pa brought up another tunnel"
np_no_log pa 'tunnel .* closed'
np_no_log pb 'tunnel .* closed'
np_no_log pa 'rule echo\) reset'
np_no_log pb 'rule echo\) reset'
np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop echo

np_pass "refused target: stream reset with the reason on both portals, tunnel kept"
