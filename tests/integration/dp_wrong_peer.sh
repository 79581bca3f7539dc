#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Each portal of a tunnel accepts exactly the peer the server named, even
# when the relay is hostile.  A fake relay (Python: a real relay
# certificate, registered with the server through tests/npctl.py, and a
# listener of its own that it advertises) is the only relay, so the server
# sends every portal there.  Rules: web (client pa -> service pb) and alt
# (client pa -> service pc).  A connection to each rule's port makes the
# server grant two tunnels, pa<->pb and pa<->pc; all four halves dial the
# fake relay, which answers "paired" to each but crosses them over: pa's
# half of the pa<->pb tunnel is spliced to pc's half of the other, and pa's
# half of pa<->pc to pb's.  Every certificate involved is valid, yet pa
# (TLS client) must fail both handshakes with a log line naming the peer it
# got and the one it expected ("peer is portal/pc, expected portal/pb" and
# the converse); no stream reaches a target, and the applications'
# connections are reset.  Then the acceptor's check: for a third tunnel the
# fake relay answers pb's half itself, as TLS client with pc's valid
# certificate; pb must refuse ("peer is portal/pc, expected portal/pa").
# Finally the fake relay leaves, a real relay registers, and a new
# connection gets a good tunnel through which bytes echo.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki pc
np_cert relay fr
web_port=$(np_port)
alt_port=$(np_port)
echo_b=$(np_port)
echo_c=$(np_port)
fake_port=$(np_port)
{
	echo "rules:"
	np_dp_rule web pa "$web_port" pb "$echo_b"
	np_dp_rule alt pa "$alt_port" pc "$echo_c"
} | np_policy

np_step "server, portals pa, pb, pc, echo servers behind pb and pc; no real relay"
np_dp_server
np_dp_portal pa 2 0
np_dp_portal pb 0 1
np_dp_portal pc 0 1
np_wait_port "$web_port" open
np_wait_port "$alt_port" open
np_dp_app echob echo "$echo_b"
np_dp_app echoc echo "$echo_c"
export WEB_PORT=$web_port ALT_PORT=$alt_port FAKE_PORT=$fake_port

np_step "a fake relay crosses the halves of two tunnels"
np_py <<'EOF'
import os, select, socket, struct, time, dptun, npctl
from npctl import fail

FAKE = int(os.environ["FAKE_PORT"])


class Fake:
    """The relay's listener, played by hand: reads each half's handshake."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", FAKE))
        self.ls.listen(16)
        self.halves = {}	# (tunnel id, side) -> socket

    def accept_halves(self, want, timeout=10):
        """Accepts until the halves named in want (tunnel id, side) are in."""
        deadline = time.monotonic() + timeout
        while not all(w in self.halves for w in want):
            left = deadline - time.monotonic()
            if left <= 0:
                fail("halves %r not all there after %d s (have %r)" %
                     (want, timeout, list(self.halves)))
            r, _, _ = select.select([self.ls], [], [], min(left, 0.05))
            npctl.pump(0)
            if not r:
                continue
            s, _ = self.ls.accept()
            s.settimeout(5)
            hdr = dptun.recv_exactly(s, 7)
            if hdr[:4] != b"NPR\x01":
                fail("a portal sent %r" % hdr)
            ticket = dptun.recv_exactly(s, struct.unpack(">H", hdr[5:7])[0])
            t = npctl.parse_ticket(ticket)
            self.halves[(t["tunnel_id"], hdr[4])] = s


def splice(pairs, timeout=10):
    """Forwards bytes within each pair until every socket has closed."""
    peer = {}
    for a, b in pairs:
        peer[a], peer[b] = b, a
    for s in peer:
        s.sendall(b"NPR\x00")
        s.setblocking(False)
    live = set(peer)
    deadline = time.monotonic() + timeout
    while live:
        if time.monotonic() > deadline:
            fail("the crossed tunnels still carry bytes after %d s" % timeout)
        r, _, _ = select.select(list(live), [], [], 0.05)
        npctl.pump(0)
        for s in r:
            if s not in live:
                continue    # closed above, with its peer, this round
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            o = peer[s]
            if data:
                if o in live:
                    o.setblocking(True)
                    try:
                        o.sendall(data)
                    except OSError:
                        pass
                    o.setblocking(False)
                continue
            live.discard(s)
            s.close()
            if o in live:
                live.discard(o)
                o.close()


def app(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"hello\n")
    return s


def main():
    crt, key = npctl.cert("relay", "fr")
    fr = npctl.Conn(os.environ["NP_SERVER_ADDR"], crt, key, label="fr")
    fr.hello(advertise=["127.0.0.1:%d" % FAKE], capacity=10)
    npctl.wait_log("hub", r"peer=relay/fr .*relay registered")
    fake = Fake()

    a1 = app(int(os.environ["WEB_PORT"]))
    l = npctl.wait_log("pa", r"tunnel [0-9a-f]{32} to portal/pb granted")
    t1 = bytes.fromhex(l.split("tunnel ")[1].split()[0])
    fake.accept_halves([(t1, 1), (t1, 2)])
    a2 = app(int(os.environ["ALT_PORT"]))
    l = npctl.wait_log("pa", r"tunnel [0-9a-f]{32} to portal/pc granted")
    t2 = bytes.fromhex(l.split("tunnel ")[1].split()[0])
    fake.accept_halves([(t2, 1), (t2, 2)])
    h = fake.halves
    # pa (expects pb) meets pc; pa (expects pc) meets pb.
    splice([(h[(t1, 1)], h[(t2, 2)]), (h[(t2, 1)], h[(t1, 2)])])
    for a in (a1, a2):
        dptun.wait_reset(a)
    print("crossed: both applications reset")

    # The acceptor's check: pb's half meets a TLS client with pc's cert.
    fake.halves.clear()
    a3 = app(int(os.environ["WEB_PORT"]))
    l = npctl.wait_log("pa", r"tunnel [0-9a-f]{32} to portal/pb granted",
                       count=2)
    t3 = bytes.fromhex(l.split("tunnel ")[1].split()[0])
    fake.accept_halves([(t3, 1), (t3, 2)])
    pa_half, pb_half = fake.halves[(t3, 1)], fake.halves[(t3, 2)]
    pa_half.sendall(b"NPR\x06")	# "the other half did not arrive"
    pa_half.close()
    pb_half.sendall(b"NPR\x00")
    try:
        tls = dptun.portal_tls(pb_half, "pc", server_side=False,
                               expect_peer="pb")
        # TLS 1.3: the server judges our certificate after our Finished;
        # its verdict arrives as an alert on the first read.
        tls.settimeout(5)
        data = tls.recv(100)
        if data:
            fail("pb sent data to a peer it should have refused: %r" % data)
        print("pb refused the impostor: closed without an alert")
    except (OSError, ValueError) as e:
        print("pb refused the impostor: %s" % e)
    dptun.wait_reset(a3)
    fr.close()
    npctl.wait_log("hub", r"peer=relay/fr .*closed")

npctl.run(main)
EOF
grep -E '^(crossed|pb refused)' "$NP_TMP/py.log"

np_step "each portal logged the identity it got and the one it expected"
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb closed \(TLS handshake with the peer\): TLS handshake with the peer failed: peer is portal/pc, expected portal/pb'
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pc closed \(TLS handshake with the peer\): TLS handshake with the peer failed: peer is portal/pb, expected portal/pc'
np_wait_log pb 'tunnel [0-9a-f]{32} to portal/pa closed \(TLS handshake with the peer\): TLS handshake with the peer failed: peer is portal/pc, expected portal/pa'
np_wait_log pa 'relay 127\.0\.0\.1:[0-9]+ refused: the other portal did not arrive in time'
# The crossed acceptors' handshakes fail too (pa aborts them).
np_wait_log pb 'tunnel [0-9a-f]{32} to portal/pa closed \(TLS handshake with the peer\): TLS handshake with the peer failed: '
np_wait_log pc 'tunnel [0-9a-f]{32} to portal/pa closed \(TLS handshake with the peer\): TLS handshake with the peer failed: '
[ "$(np_log_count pa 'up via relay')" -eq 0 ] || np_fail "pa brought a tunnel up through the fake relay"
np_no_log echob '^echo [0-9]'
np_no_log echoc '^echo [0-9]'

np_step "a real relay: a new connection gets a good tunnel"
np_dp_relay
n=$(np_dp_granted)
np_py <<'EOF'
import os, socket, dptun, npctl

def main():
    s = socket.create_connection(("127.0.0.1", int(os.environ["WEB_PORT"])),
                                 timeout=10)
    s.sendall(b"through a real relay\n")
    if dptun.recv_exactly(s, 21) != b"through a real relay\n":
        npctl.fail("no echo")
    s.close()

npctl.run(main)
EOF
np_wait_log hub 'tunnel granted: rule web, portal/pa -> portal/pb via relay/r1 '
[ "$(np_dp_granted)" -eq $((n + 1)) ] || np_fail "expected one new grant, have $(np_dp_granted) (before: $n)"
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb up via relay '

np_stop pa
np_stop pb
np_stop pc
np_stop r1
np_stop hub
np_stop echob
np_stop echoc

np_pass "portals refused valid certificates of the wrong peer, both sides"
