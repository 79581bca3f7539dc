#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The acceptor follows the initiator's newest path, not the RESUME that
# arrived last.  An initiator that moves twice in quick succession (onto
# a QUIC path through the relay, then onto a direct path) sends a RESUME
# on each; the one through the relay can arrive after the direct one, and
# following it would take the tunnel back to a path the initiator has
# left (it then drops that path, and the tunnel loses its path for
# nothing).
#
# The initiator here is Python playing portal pa (tests/dptun.py): it
# gets a grant for rule echo to the real portal pb, opens the tunnel
# through the relay, then dials pb's direct listener twice with the
# grant's ticket.  On the second connection it sends RESUME for path 2,
# and pb must answer there with RESUME 2; then RESUME for path 1 arrives
# on the first: pb must close that connection and stay on path 2, where
# a PING still gets its answer and a stream opened afterwards echoes.
# pb logs no lost path.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
port=$(np_port)
echo_port=$(np_port)
pb_direct=$(np_port)
{
	echo "rules:"
	np_dp_rule echo pa "$port" pb "$echo_port"
} | np_policy

np_step "server, relay, portal pb with a direct listener, an echo server"
np_dp_server
np_dp_relay
NP_DIRECT=auto np_dp_portal pb 0 1 "direct.listen=127.0.0.1:$pb_direct"
np_dp_app echo echo "$echo_port"
export PB_DIRECT=$pb_direct

np_step "a Python pa moves the tunnel twice; the older RESUME arrives last"
np_py <<'EOF'
import os, socket, struct, dptun, npctl
from npctl import fail
from dptun import DATA, OPEN, RESUME, FIN

PB_DIRECT = int(os.environ["PB_DIRECT"])


def direct(ticket, label):
    """A direct connection to pb's listener with the grant's ticket, and
    the tunnel's TLS on it as the initiator."""
    s = socket.create_connection(("127.0.0.1", PB_DIRECT), timeout=5)
    s.sendall(dptun.relay_hello(ticket, 1))
    st = dptun.relay_status(s)
    if st != dptun.PAIRED:
        fail("%s: pb's direct listener answered %r" % (label, st))
    return dptun.Tunnel(dptun.portal_tls(s, "pa", server_side=False,
                                         expect_peer="pb"), label)


def main():
    pa = npctl.portal("pa")
    pa.hello()
    pa.wait_rules()
    g = pa.request("echo", 7)
    if g.type != "TUNNEL_GRANT":
        fail("no grant: %r" % g)
    s = dptun.relay_dial(g.relay, 1, g.ticket)
    if dptun.relay_status(s) != dptun.PAIRED:
        fail("the relay did not pair the tunnel")
    relay = dptun.Tunnel(dptun.portal_tls(s, "pa", server_side=False,
                                          expect_peer="pb"), "relay path")
    relay.sync(1)
    print("tunnel open through the relay")

    old = direct(g.ticket, "path 1")
    new = direct(g.ticket, "path 2")
    # Both candidates are up on pb's side once a PING-free round trip
    # on the relay path went by after their handshakes.
    relay.sync(2)

    # The newer path's RESUME arrives first: pb moves there and answers.
    # What arrived on the relay path is what pb sent in the tunnel.
    new.send(dptun.resume(relay.rx_seq, 2))
    f = new.expect(lambda f: f.type == RESUME, what="pb's RESUME")
    seq, n = struct.unpack(">QI", f.payload)
    if n != 2:
        fail("pb answered RESUME for path %d, expected 2" % n)
    new.rx_seq = relay.rx_seq
    print("pb moved to path 2 (it received %d bytes of ours)" % seq)

    # The older path's RESUME, late: pb must not follow it.
    old.send(dptun.resume(relay.rx_seq, 1))
    old.expect_closed()
    print("pb closed path 1 (%s)" % old.closed)
    new.sync(3)
    print("path 2 still carries the tunnel")

    # A stream over it reaches the echo server behind pb.
    new.send(dptun.frame(OPEN, 1, b"\x04echo"))
    new.send(dptun.data(1, b"hello over path 2", fin=True))
    got = b""
    while True:
        f = new.expect(lambda f: f.type == DATA and f.stream == 1,
                       what="the echo")
        got += f.payload
        if f.flags & FIN:
            break
    if got != b"hello over path 2":
        fail("echo carried %r" % got)
    print("stream 1 echoed over path 2")
    new.close()
    relay.close()


npctl.run(main)
EOF
grep -E '^(tunnel|pb|path|stream)' "$NP_TMP/py.log" | sed 's/^/    /'

np_step "pb stayed on path 2: no lost path, no warning"
np_no_log pb 'lost its path'
np_no_log pb ' (warn|error) '
np_stop pb
np_stop r1
np_stop hub
np_stop echo

np_pass "a late RESUME on an older path is not followed"
