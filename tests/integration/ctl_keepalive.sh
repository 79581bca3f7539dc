#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Control-session keepalives from the server's side (keepalive 200 ms,
# dead-peer timeout 1 s here).  A portal that sends its own PING every
# 100 ms gets a PONG for each, and the server's own PINGs come only every
# fourth interval, for its round trip (about 5 in 4 s, not 20): the
# portal's PINGs already show the session alive both ways.  A portal that
# sends nothing but answers gets the server's PING every interval (about 15
# in 3 s), and one that stops answering is closed by the dead-peer timeout.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
np_cert portal a
cat >"$NP_TMP/policy.yaml" <<'EOF'
rules: []
EOF
np_server_conf hub
np_start_server hub

np_py <<'EOF'
import time, npctl
from npctl import fail, wait_log


def phase(c, seconds, ping_every):
    """Pumps for seconds, sending a PING every ping_every s (0: none);
    returns (server PINGs, PONGs for ours)."""
    pings0, pongs, nonce = c.pings, 0, 0
    end = time.monotonic() + seconds
    next_ping = time.monotonic()
    while time.monotonic() < end:
        if ping_every and time.monotonic() >= next_ping:
            nonce += 1
            c.send("PING", 0, nonce=nonce)
            next_ping += ping_every
        npctl.pump(0.02, [c])
        while c.take("PONG") is not None:
            pongs += 1
        if c.closed:
            fail("the server closed the session: %s" % c.closed)
    return c.pings - pings0, pongs, nonce


def main():
    c = npctl.portal("a")
    c.hello(software="keepalive test")
    got, pongs, sent = phase(c, 4.0, 0.1)
    print("portal pinging every 100 ms for 4 s: %d PONGs for %d PINGs, "
          "%d PINGs from the server" % (pongs, sent, got))
    if pongs < sent - 2:
        fail("%d PONGs for %d PINGs" % (pongs, sent))
    if not 2 <= got <= 10:
        fail("the server sent %d PINGs in 4 s to a portal that pings "
             "(expected one every fourth 200 ms interval, about 5)" % got)
    got, _, _ = phase(c, 3.0, 0)
    print("portal quiet for 3 s: %d PINGs from the server" % got)
    if got < 8:
        fail("the server sent only %d PINGs in 3 s to a quiet portal "
             "(expected one every 200 ms)" % got)
    c.mute = True
    why = c.expect_closed(5)
    line = wait_log("hub", r"127\.0\.0\.1:%d closed: peer silent for "
                    r"\d+ ms \(dead-peer timeout 1000 ms\)" % c.local_port, 5)
    print("portal mute: closed (%s); server: %s" % (why, line.strip()))

npctl.run(main)
EOF

np_stop hub
np_pass "the server pings only quiet peers (and every fourth interval for the round trip); a mute one is closed"
