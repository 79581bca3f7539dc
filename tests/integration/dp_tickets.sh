#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The relay checks tickets.  Two hand-made portals ta and tb (tests/npctl.py
# for their control sessions, tests/dptun.py for the relay handshake) get
# real grants from the server under rule tix, so the test holds real
# tickets, and presents them to the real relay itself:
#   - a forged ticket (a byte of the signature flipped; a byte of the
#     signed expiry flipped) is refused with status 2 (signature);
#   - a handshake with bad magic is refused with status 1 (malformed);
#   - a replay: the ticket presented twice for the initiator's side, the
#     second is refused with status 4 while the first stays waiting; the
#     acceptor's half then pairs with the first (status 0 on both, bytes
#     pass), and presenting either side again is refused with status 4;
#   - an expired ticket: the server's ticket_lifetime is 2 s; once the clock
#     passes the grant's expiry (a bounded poll), presenting it is refused
#     with status 3.
# Each refusal is one relay log line with its reason.  Meanwhile a real
# tunnel between the real portals pa and pb keeps working: one echo stream
# opened before the first refusal answers after each of them, and a new
# stream at the end needs no new grant.
#
# (ticket_lifetime 1 s, the minimum, is not used: the server computes the
# expiry from whole seconds, so a 1 s ticket may be valid for only a few
# milliseconds and the real portals could miss it.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki ta tb
web_port=$(np_port)
echo_port=$(np_port)
tix_port=$(np_port)
{
	echo "rules:"
	np_dp_rule web pa "$web_port" pb "$echo_port"
	np_dp_rule tix ta "$tix_port" tb "$(np_port)"
} | np_policy

np_step "server (tickets live 2 s), relay, real portals pa and pb, an echo server"
np_dp_server ticket_lifetime=2s
np_dp_relay r1 log.level=debug
np_dp_portal pa 1 0
np_dp_portal pb 0 1
np_wait_port "$web_port" open
np_dp_app echo echo "$echo_port"
relay_addr=$(np_log_line r1 'portals dial ' | sed 's/.*portals dial //')
export WEB_PORT=$web_port RELAY_ADDR=$relay_addr

np_py <<'EOF'
import os, socket, struct, time, dptun, npctl
from npctl import fail

RELAY = os.environ["RELAY_ADDR"]
live = None
checks = 0


def echo(s, msg):
    s.sendall(msg)
    if dptun.recv_exactly(s, len(msg)) != msg:
        fail("the echo stream returned other bytes")


def real_tunnel_works():
    global checks
    checks += 1
    echo(live, b"real tunnel still works (%d)\n" % checks)


def present(side, ticket, want, log_re, raw=None):
    """Presents a ticket (or raw bytes) on a new connection; checks the
    status and the relay's log line for this very connection."""
    s = socket.create_connection(npctl.split_addr(RELAY), timeout=5)
    port = s.getsockname()[1]
    s.sendall(raw if raw is not None else dptun.relay_hello(ticket, side))
    st = dptun.relay_status(s)
    s.close()
    if st != want:
        fail("relay answered status %r, expected %d (%s)" % (st, want,
                                                              log_re))
    npctl.wait_log("r1", r"refused 127\.0\.0\.1:%d: %s" % (port, log_re), 5)
    print("status %d: %s" % (st, log_re))


def main():
    global live
    live = socket.create_connection(("127.0.0.1", int(os.environ["WEB_PORT"])),
                                    timeout=10)
    real_tunnel_works()
    npctl.wait_log("hub", r"tunnel granted: rule web, portal/pa -> portal/pb")

    ta, tb = npctl.portal("ta"), npctl.portal("tb")
    for p in (ta, tb):
        p.hello()
        p.wait_rules()
    g = ta.request("tix", 1)
    if g.type != "TUNNEL_GRANT":
        fail("no grant for ta: %r" % g)
    tb.expect("TUNNEL_GRANT", pred=lambda m: m.tunnel_id == g.tunnel_id)
    t = npctl.parse_ticket(g.ticket)
    if t["relay"] != "r1" or (t["initiator"], t["acceptor"]) != ("ta", "tb"):
        fail("ticket: %r" % t)

    # Forged: signature and signed content.
    forged = bytearray(g.ticket)
    forged[-1] ^= 0x01
    present(1, forged, dptun.BAD_SIGNATURE, "ticket signature does not verify")
    real_tunnel_works()
    forged = bytearray(g.ticket)
    forged[34] ^= 0x40		# a byte of the expiry (offset 33..40)
    if npctl.parse_ticket(bytes(forged))["expires"] == t["expires"]:
        fail("the flipped byte is not in the expiry")
    present(1, forged, dptun.BAD_SIGNATURE, "ticket signature does not verify")
    real_tunnel_works()
    # Malformed: another protocol's magic.
    present(1, g.ticket, dptun.MALFORMED, "bad magic",
            raw=dptun.relay_hello(g.ticket, 1, magic=b"XYZ"))
    real_tunnel_works()

    # Replay: the initiator's side twice.
    h1 = dptun.relay_dial(RELAY, 1, g.ticket)
    npctl.wait_log("r1", r"waiting for the other half of tunnel ta>tb", 5)
    present(1, g.ticket, dptun.REPLAY,
            r"ticket already presented for this side \(replay\)")
    real_tunnel_works()
    h2 = dptun.relay_dial(RELAY, 2, g.ticket)
    for h in (h1, h2):
        st = dptun.relay_status(h)
        if st != dptun.PAIRED:
            fail("the genuine halves were not paired: status %r" % st)
    h1.sendall(b"from ta to tb")
    if dptun.recv_exactly(h2, 13) != b"from ta to tb":
        fail("bytes did not pass the pair")
    npctl.wait_log("r1", r"tunnel ta>tb paired", 5)
    for side in (1, 2):
        present(side, g.ticket, dptun.REPLAY,
                r"ticket already presented for this side \(replay\)")
    real_tunnel_works()
    h1.close()
    h2.close()
    npctl.wait_log("r1", r"tunnel ta>tb closed: both portals closed", 5)

    # Expired: wait for the clock to pass the expiry of a fresh ticket.
    g2 = ta.request("tix", 2)
    if g2.type != "TUNNEL_GRANT":
        fail("no second grant for ta: %r" % g2)
    exp = npctl.parse_ticket(g2.ticket)["expires"]
    if not 0 < exp - time.time() <= 3:
        fail("a 2 s ticket expires %.1f s from now" % (exp - time.time()))
    if not npctl.pump_until(lambda: time.time() >= exp + 0.05, 5):
        fail("the clock did not reach the expiry")
    present(1, g2.ticket, dptun.EXPIRED, "ticket expired")
    real_tunnel_works()

    # A new stream rides the real tunnel without a new grant.
    s = socket.create_connection(("127.0.0.1", int(os.environ["WEB_PORT"])),
                                 timeout=10)
    echo(s, b"a new stream at the end\n")
    s.close()
    live.close()
    print("real tunnel checked %d times" % checks)

npctl.run(main)
EOF
grep -E '^(status|real tunnel)' "$NP_TMP/py.log"

np_step "relay log: one line per refusal; one grant for the real portals"
[ "$(np_log_count r1 'refused 127\.0\.0\.1:[0-9]+: ticket signature does not verify')" -eq 2 ] ||
    np_fail "expected 2 signature refusals in the relay log"
[ "$(np_log_count r1 'refused 127\.0\.0\.1:[0-9]+: ticket already presented for this side \(replay\)')" -eq 3 ] ||
    np_fail "expected 3 replay refusals in the relay log"
[ "$(np_log_count r1 'refused 127\.0\.0\.1:[0-9]+: ticket expired')" -eq 1 ] ||
    np_fail "expected 1 expiry refusal in the relay log"
[ "$(np_log_count r1 'refused 127\.0\.0\.1:[0-9]+: bad magic')" -eq 1 ] ||
    np_fail "expected 1 malformed refusal in the relay log"
[ "$(np_log_count hub 'tunnel granted: rule web, ')" -eq 1 ] ||
    np_fail "the real portals needed more than one tunnel"
np_no_log pa 'tunnel .* closed| reset'
np_no_log pb 'tunnel .* closed| reset'
np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop echo

np_pass "forged, malformed, replayed and expired tickets refused; real tunnel unaffected"
