#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Garbage inside the tunnel.  A hand-made service portal plays pb: its
# control session is tests/npctl.py with pb's certificate, and for each
# tunnel the server grants it dials the real relay, presents the ticket
# and runs the tunnel's TLS as server with pb's certificate, requiring the
# peer to be portal/pa (tests/dptun.py).  The real client portal pa opens a
# stream for each application connection; the fake then sends what a real
# portal never sends:
#   (a) a frame header announcing 16385 bytes (over the 16384 cap),
#   (b) a frame of unknown type 255,
#   (c) DATA on stream 0,
#   (d) an OPEN with an odd stream id (the initiator's, not the acceptor's),
# each of which must make pa close that tunnel at once with a logged reason
# (and a GOAWAY with code 4, protocol error, to the fake), reset the stream
# in it, and reset the application's connection; and
#   (e) DATA beyond the stream's credit: the application does not read, the
#       fake sends exactly the credit pa has given (following its WINDOW
#       frames, synchronised with PINGs) until pa gives no more, then 16 KiB
#       more; pa must reset only that stream (RESET code 5, flow control,
#       and a log line), while the tunnel carries on: a new stream in it
#       echoes through the fake, and closes cleanly both ways.
# The pa process stays up throughout, and when the fake leaves and the real
# pb starts, a new tunnel carries bytes to a real echo server.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
web_port=$(np_port)
echo_port=$(np_port)
{
	echo "rules:"
	np_dp_rule web pa "$web_port" pb "$echo_port"
} | np_policy

np_step "server, relay and the real client portal pa"
np_dp_server
np_dp_relay
np_dp_portal pa 1 0
np_wait_port "$web_port" open
export WEB_PORT=$web_port

np_step "a fake pb sends garbage in five tunnels"
np_py <<'EOF'
import os, socket, dptun, npctl
from npctl import fail
from dptun import DATA, OPEN, RESET, GOAWAY, FIN

WEB = int(os.environ["WEB_PORT"])
pb = None


def client(payload, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", WEB))
    s.sendall(payload)
    return s


def tunnel(payload, label, rcvbuf=None):
    """An application connects to pa; the fake pb accepts the tunnel that
    pa asks for and reads the stream's OPEN and first bytes."""
    c = client(payload, rcvbuf)
    g = pb.expect("TUNNEL_GRANT", timeout=10)
    if (g.side, g.peer) != (2, "pa"):
        fail("grant to the fake pb: %r" % g)
    s = dptun.relay_dial(g.relay, 2, g.ticket)
    st = dptun.relay_status(s)
    if st != dptun.PAIRED:
        fail("relay status %r" % st)
    t = dptun.Tunnel(dptun.portal_tls(s, "pb", server_side=True,
                                      expect_peer="pa"), label)
    f = t.expect(lambda f: f.type == OPEN, what="OPEN")
    if (f.stream, f.rule) != (1, "web"):
        fail("%s: first OPEN: %r" % (label, f))
    got = b""
    while got != payload:
        f = t.expect(lambda f: f.type == DATA and f.stream == 1, what="DATA")
        got += f.payload
        if not payload.startswith(got):
            fail("%s: stream 1 carried %r" % (label, got))
    return t, c, g.tunnel_id.hex()


def tunnel_killed_by(label, raw, reason_re):
    t, c, tid = tunnel(b"hello " + label.encode(), label)
    t.send(raw)
    seen = t.expect_closed()
    goaways = [f for f in seen if f.type == GOAWAY]
    if not goaways or goaways[0].code != 4:
        fail("%s: expected GOAWAY code 4 before the close, saw %r" %
             (label, seen))
    npctl.wait_log("pa", r"tunnel %s to portal/pb closed \(open\): %s" %
                   (tid, reason_re), 5)
    dptun.wait_reset(c)
    npctl.wait_log("pa", r"stream 1 \(rule web\) reset: protocol error: %s" %
                   reason_re, 5)
    t.close()
    print("%s: tunnel closed with GOAWAY %d (%s)" % (label, goaways[0].code,
                                                      goaways[0].reason))


def main():
    global pb
    pb = npctl.portal("pb")
    pb.hello()
    _, rules = pb.wait_rules()
    if [(r.rule, r.side, r.peer) for r in rules] != [("web", 2, "pa")]:
        fail("pb's rules: %r" % rules)

    tunnel_killed_by("oversized", dptun.frame(DATA, 1, b"", length=16385),
                     r"bad frame header \(type 0, length 16385\)")
    tunnel_killed_by("unknown-type", dptun.frame(255, 1, b""),
                     r"bad frame header \(type 255, length 0\)")
    tunnel_killed_by("data-on-0", dptun.frame(DATA, 0, b"x"),
                     r"malformed frame \(type 0, stream 0\): data on stream 0")
    tunnel_killed_by("odd-open", dptun.frame(OPEN, 5, b"\x03web"),
                     r"peer opened stream 5, which is not a new id of its own")

    # (e) DATA beyond the credit.  The application reads nothing and has a
    # small receive buffer, so pa soon stops handing out credit.
    t, c, tid = tunnel(b"hello credit", "credit", rcvbuf=4096)
    chunk = b"z" * 16384
    sent = 0
    quiet = 0
    for rnd in range(1, 2001):
        credit = t.credit.get(1, dptun.INITIAL_WINDOW)
        while sent < credit:
            n = min(len(chunk), credit - sent)
            t.send(dptun.data(1, chunk[:n]))
            sent += n
        t.sync(rnd)
        quiet = quiet + 1 if t.credit.get(1, dptun.INITIAL_WINDOW) == \
            credit else 0
        if quiet == 2:
            break
    else:
        fail("pa kept giving credit: %d bytes sent" % sent)
    if t.credit.get(1, dptun.INITIAL_WINDOW) != sent:
        fail("credit %d, sent %d" % (t.credit.get(1), sent))
    print("credit: pa stopped giving credit after %d bytes" % sent)
    t.send(dptun.data(1, chunk))
    f = t.expect(lambda f: f.type == RESET and f.stream == 1, what="RESET")
    if f.code != 5:
        fail("RESET of stream 1 with code %d (%s), expected 5" %
             (f.code, f.reason))
    npctl.wait_log("pa", r"stream 1 \(rule web\) reset: flow control "
                   r"violated: peer sent 16384 bytes with 0 of credit left", 5)
    dptun.wait_reset(c)
    print("credit: stream 1 reset with code %d (%s)" % (f.code, f.reason))

    # The tunnel carries on: a new stream, echoed by the fake.
    msg = b"the tunnel carries on"
    c2 = client(msg)
    f = t.expect(lambda f: f.type == OPEN, what="OPEN of a new stream")
    if (f.stream, f.rule) != (3, "web"):
        fail("second OPEN: %r" % f)
    got = b""
    while len(got) < len(msg):
        got += t.expect(lambda f: f.type == DATA and f.stream == 3,
                        what="DATA on stream 3").payload
    t.send(dptun.data(3, got))
    if dptun.recv_exactly(c2, len(msg)) != msg:
        fail("stream 3 did not echo")
    c2.shutdown(socket.SHUT_WR)
    t.expect(lambda f: f.type == DATA and f.stream == 3 and f.flags & FIN,
             what="FIN on stream 3")
    t.send(dptun.data(3, b"", fin=True))
    c2.settimeout(5)
    if c2.recv(10) != b"":
        fail("no EOF on the second stream")
    c2.close()
    t.sync(9999)
    if npctl.log_count("pa", "tunnel %s to portal/pb closed" % tid):
        fail("pa closed the tunnel over a stream's flow-control error")
    print("credit: the tunnel carried a new stream afterwards")
    t.close()
    npctl.wait_log("pa", r"tunnel %s to portal/pb closed \(open\): the peer "
                   r"closed the tunnel" % tid, 5)
    pb.close()
    npctl.wait_log("hub", r"peer=portal/pb .*closed", 5)

npctl.run(main)
EOF
grep -E '^(oversized|unknown-type|data-on-0|odd-open|credit):' "$NP_TMP/py.log"
np_is_running pa || np_fail "pa is gone"
np_no_log pa ' (warn|error) '

np_step "the real pb: a new tunnel from the same pa process works"
np_dp_app echo echo "$echo_port"
np_dp_portal pb 0 1
n=$(np_dp_granted)
np_py <<'EOF'
import os, socket, dptun, npctl

def main():
    msg = b"a real tunnel after the garbage\n" * 4000
    s = socket.create_connection(("127.0.0.1", int(os.environ["WEB_PORT"])),
                                 timeout=10)
    s.sendall(msg)
    if dptun.recv_exactly(s, len(msg)) != msg:
        npctl.fail("no echo")
    s.close()

npctl.run(main)
EOF
[ "$(np_dp_granted)" -eq $((n + 1)) ] || np_fail "expected one new grant"
np_wait_log pb 'tunnel [0-9a-f]{32} to portal/pa up via relay'

np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop echo

np_pass "garbage frames closed their tunnel or stream with a reason; pa kept serving"
