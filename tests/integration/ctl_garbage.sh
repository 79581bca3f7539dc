#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Garbage on the server's control port closes only the connection that sent
# it, with a logged reason, and the server keeps serving everyone else.  A
# hand-made client (tests/npctl.py) with a valid portal certificate sends,
# after a good TLS handshake: a frame of another protocol version, frames
# whose header announces more than the 16384-byte payload cap (closed as
# soon as the header is read), a truncated attribute, an unknown message
# type, an attribute the message does not allow, a repeated attribute, a
# string that is not printable ASCII, a missing required attribute, random
# bytes, messages out of order (a request before HELLO, a second HELLO, a
# relay's message from a portal, a portal's message from a relay), a relay
# HELLO without a usable address, a frame cut short followed by a clean
# close and one followed by silence (the dead-peer timeout).  Plain TCP
# clients send non-TLS bytes, or nothing (the handshake timeout).  Two
# frames that are odd but valid are served: a request carrying an unknown
# attribute (skipped, for newer peers) and a burst of 500 PINGs in one
# write (all answered).  Throughout, portals a and b stay registered, and
# at the end a's request is granted to both and a new portal registers.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
for p in a b g; do np_cert portal "$p"; done
np_cert relay r1
np_cert relay rg
cat >"$NP_TMP/policy.yaml" <<'EOF'
rules:
  - name: web
    client: a
    listen: 127.0.0.1:20001
    service: b
    target: 127.0.0.1:20002
EOF
np_server_conf hub handshake_timeout=500ms
np_start_server hub
np_relay_conf r1
np_start_relay r1
np_wait_log hub 'peer=relay/r1 .*relay registered'

np_py <<'EOF'
import os, random, socket, struct, time, npctl
from npctl import attr, frame, encode, wait_log, fail

ADDR = os.environ["NP_SERVER_ADDR"]


def closes(label, data, reason, before_hello=False, role="portal",
           name="g", expect_error=None, mute=False, then_close=False):
    """Connects as ROLE/NAME, sends data, and checks the server closes
    the connection and logs the reason (a regex)."""
    crt, key = npctl.cert(role, name)
    c = npctl.Conn(ADDR, crt, key, label=label)
    if not before_hello:
        hello = {"software": "garbage test"}
        if role == "relay":
            hello["advertise"] = ["127.0.0.1:1"]
        c.hello(**hello)
    c.mute = mute
    c.send_raw(data)
    if then_close:
        c.close()
    else:
        why = c.expect_closed(5)
        if expect_error is not None:
            err = c.take("ERROR")
            if err is None or err.code != npctl.ERRORS[expect_error]:
                fail("%s: expected ERROR %s before the close, got %r" %
                     (label, expect_error, c.inbox))
    line = wait_log("hub", r"127\.0\.0\.1:%d closed: %s" %
                    (c.local_port, reason), 5)
    print("%-24s %s" % (label, line.strip()))
    return c


def main():
    a = npctl.portal("a")
    a.hello()
    a.wait_rules()
    b = npctl.portal("b")
    b.hello()
    b.wait_rules()

    req = encode("TUNNEL_REQUEST", 5, rule="web")
    closes("version 2", frame("TUNNEL_REQUEST", 5, req[8:], version=2),
           r"protocol version 2 not supported \(this side speaks 1\)")
    # Only the header is sent: the cap is applied before any payload.
    closes("length 16385", frame("TUNNEL_REQUEST", 5, length=16385),
           r"bad frame header \(version 1, type 9, length 16385\): "
           r"length exceeds limit")
    closes("length 65535", frame("HELLO", 0, length=65535),
           r"bad frame header \(version 1, type 1, length 65535\): "
           r"length exceeds limit")
    closes("truncated attribute",
           frame("TUNNEL_REQUEST", 5, struct.pack(">BH", 11, 50) + b"web"),
           r"malformed TUNNEL_REQUEST frame \(type 9, 14 bytes\): "
           r"truncated attribute")
    closes("unknown type", frame(99, 0, attr(11, b"web")),
           r"malformed UNKNOWN frame \(type 99, 14 bytes\): "
           r"unknown message type")
    closes("type 0", frame(0, 0),
           r"malformed UNKNOWN frame \(type 0, 8 bytes\): "
           r"unknown message type")
    closes("attribute not allowed",
           frame("TUNNEL_REQUEST", 5, attr(11, b"web") + attr(20, b"x" * 9)),
           r"malformed TUNNEL_REQUEST frame \(type 9, \d+ bytes\): "
           r"attribute not allowed in this message")
    closes("repeated attribute",
           frame("TUNNEL_REQUEST", 5, attr(11, b"web") + attr(11, b"web")),
           r"malformed TUNNEL_REQUEST frame \(type 9, \d+ bytes\): "
           r"repeated attribute")
    closes("not printable",
           frame("TUNNEL_REQUEST", 5, attr(11, b"w\x01b")),
           r"malformed TUNNEL_REQUEST frame \(type 9, \d+ bytes\): "
           r"string attribute is not printable ASCII")
    closes("bad integer length",
           frame("PING", 0, attr(6, b"\x00\x01")),
           r"malformed PING frame \(type 3, \d+ bytes\): "
           r"attribute has a bad length")
    closes("missing attribute", frame("TUNNEL_REQUEST", 5),
           r"malformed TUNNEL_REQUEST frame \(type 9, 8 bytes\): "
           r"required attribute missing")
    rnd = random.Random(7)
    junk = bytes([0xde]) + bytes(rnd.randrange(256) for _ in range(200))
    closes("random bytes", junk,
           r"protocol version 222 not supported \(this side speaks 1\)")

    # Out of order: the server answers ERROR BAD_REQUEST, then closes.
    closes("request before HELLO", req,
           r"expected HELLO, got TUNNEL_REQUEST", before_hello=True,
           expect_error="BAD_REQUEST")
    closes("second HELLO", encode("HELLO", 0, software="again"),
           r"unexpected HELLO from a portal", expect_error="BAD_REQUEST")
    closes("RELAY_LOAD from a portal", encode("RELAY_LOAD", 0, tunnels=1),
           r"unexpected RELAY_LOAD from a portal",
           expect_error="BAD_REQUEST")
    closes("request from a relay", req,
           r"unexpected TUNNEL_REQUEST from a relay", role="relay",
           name="rg", expect_error="BAD_REQUEST")
    closes("relay without address",
           encode("HELLO", 0, software="no address"),
           r"relay advertised no address for portals to dial",
           before_hello=True, role="relay", name="rg",
           expect_error="BAD_REQUEST")
    closes("relay bad address",
           encode("HELLO", 0, software="bad", advertise=["nonsense"]),
           r"relay advertised a bad address", before_hello=True,
           role="relay", name="rg", expect_error="BAD_REQUEST")

    # Cut short: the rest never comes.  A clean close ends it at once; a
    # peer that goes silent is closed by the dead-peer timeout.
    cut = frame("TUNNEL_REQUEST", 6, length=100) + attr(11, b"web")
    closes("cut, then close", cut, r"peer closed the connection",
           then_close=True)
    t0 = time.monotonic()
    closes("cut, then silence", cut,
           r"peer silent for \d+ ms \(dead-peer timeout 1000 ms\)",
           mute=True)
    if time.monotonic() - t0 > 4:
        fail("the dead-peer timeout took %.1f s" % (time.monotonic() - t0))

    # Plain TCP: bytes that are not TLS, and a client that sends nothing.
    for label, data in (("HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                        ("huge TLS record", b"\x16\x03\x01\xff\xff" +
                         b"\x00" * 64),
                        ("silent TCP client", b"")):
        s = socket.create_connection(npctl.split_addr(ADDR), timeout=5)
        port = s.getsockname()[1]
        if data:
            s.sendall(data)
        # Any reason is accepted for the non-TLS bytes: OpenSSL's words
        # ("http request", "wrong version number", ...) depend on them.
        reason = (r"TLS handshake not finished within 500 ms" if not data
                  else r"TLS handshake with 127\.0\.0\.1:%d failed: .+" % port)
        s.settimeout(0.05)
        deadline = time.monotonic() + 5
        while True:
            npctl.pump(0.05)	# a and b keep answering PINGs
            try:
                if s.recv(4096) == b"":
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                break
            if time.monotonic() > deadline:
                fail("%s: the server did not close the connection" % label)
        s.close()
        line = wait_log("hub", r"connection 127\.0\.0\.1:%d closed: %s" %
                        (port, reason), 5)
        print("%-24s %s" % (label, line.strip()))

    # Odd but valid: served, not closed.
    g = npctl.portal("g")
    g.hello()
    g.wait_rules()
    g.send_raw(frame("TUNNEL_REQUEST", 9, attr(200, b"from the future") +
                     attr(11, b"nosuch")))
    r = g.expect("ERROR", pred=lambda m: m.id == 9)
    if r.code != npctl.ERRORS["UNKNOWN_RULE"]:
        fail("request with an unknown attribute: %r" % r)
    burst = b"".join(encode("PING", 0, nonce=i + 1) for i in range(500))
    g.send_raw(burst)
    pongs = []
    deadline = time.monotonic() + 10
    while len(pongs) < 500 and not g.closed and time.monotonic() < deadline:
        npctl.pump(0.05)
        while True:
            m = g.take("PONG")
            if m is None:
                break
            pongs.append(m.nonce)
    if sorted(pongs) != list(range(1, 501)):
        fail("burst of 500 PINGs: %d PONGs back (%s)" %
             (len(pongs), g.closed or "open"))
    g.close()

    # The bystanders never noticed.
    for c in (a, b):
        if c.closed:
            fail("%r was closed: %s" % (c, c.closed))
    r = a.request("web", 77)
    if r.type != "TUNNEL_GRANT":
        fail("a's request after the garbage: %r" % r)
    gb = b.expect("TUNNEL_GRANT")
    if gb.tunnel_id != r.tunnel_id or gb.ticket != r.ticket:
        fail("a and b got different grants: %r / %r" % (r, gb))
    n = npctl.portal("b", label="late")
    n.hello()
    a.close()
    b.close()
npctl.run(main)
EOF

np_step "bystanders untouched, the server still healthy"
# a and b closed only at the end: by the test, or b by its new session.
bad=$(grep -E 'peer=portal/(a|b) .*closed: ' "$(np_log hub)" |
    grep -Ev 'closed: (peer closed the connection|replaced by a new session)' || true)
[ -z "$bad" ] || np_fail "a bystander was closed: $bad"
np_wait_log hub 'tunnel granted: rule web, portal/a -> portal/b via relay/r1'
np_no_log hub 'peer=relay/r1 .*closed'
np_stop r1
np_stop hub

np_pass "garbage closes only its own connection, with a logged reason"
