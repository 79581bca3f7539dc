#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Tunnel brokering by the server.  First with hand-made clients
# (tests/npctl.py) playing the portals, so that every message can be
# checked: each portal gets exactly its side of each rule; a request under
# a rule is granted, and the client portal (reply, side 1, peer b) and the
# service portal (unsolicited, side 2, peer a) receive the same tunnel id,
# relay and ticket, whose fields (key id of the server's ticket key, relay,
# initiator, acceptor, lifetime) are right; grants go only to relays with
# free capacity (two relays of capacity 2 and 1 take three tunnels, the
# fourth request gets NO_RELAY); requests outside the policy are denied
# with the right code (DENIED for a portal that is not a client, UNKNOWN_RULE,
# EXPIRED, PEER_OFFLINE) and every decision is one server log line with
# both identities and the rule.  The ticket really opens the relay: both
# halves pair and bytes pass, after which the relay's load report frees
# its capacity and the next request is granted again; grants whose
# portals never come stop counting half a second on.  Then with real
# portal daemons: an application connecting to the client portal's
# listener makes it ask for a tunnel, and both portals log the grant with
# the tunnel id the server logged; with the service portal stopped, the
# request is denied as PEER_OFFLINE and the client portal says so.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
for p in a b c pa pb; do np_cert portal "$p"; done
for r in r1 r2 rk; do np_cert relay "$r"; done
web_port=$(np_port)
app_port=$(np_port)
target_port=$(np_port)
cat >"$NP_TMP/policy.yaml" <<EOF
rules:
  - name: web
    client: a
    listen: 127.0.0.1:$web_port
    service: b
    target: 127.0.0.1:8080
  - name: old
    client: a
    listen: 127.0.0.1:1
    service: b
    target: 127.0.0.1:8081
    expires: 2020-01-01
  - name: db
    client: [a, c]
    listen: 127.0.0.1:2
    service: d
    target: 127.0.0.1:5432
  - name: app
    client: pa
    listen: 127.0.0.1:$app_port
    service: pb
    target: 127.0.0.1:$target_port
EOF
np_server_conf hub ticket_lifetime=7s
np_start_server hub
# Load reports only at registration and when tunnels start or end, so
# that the server's own count decides between the relays.
np_relay_conf r1 capacity=2 load_interval=1h
np_relay_conf r2 capacity=1 load_interval=1h
np_start_relay r1
np_wait_log hub 'peer=relay/r1 .*relay registered .*capacity 2$'
np_start_relay r2
np_wait_log hub 'peer=relay/r2 .*relay registered .*capacity 1$'
r1_addr=$(np_log_line r1 'portals dial ' | sed 's/.*portals dial //')
r2_addr=$(np_log_line r2 'portals dial ' | sed 's/.*portals dial //')
export R1_ADDR=$r1_addr R2_ADDR=$r2_addr WEB_PORT=$web_port

np_step "grants and denials, seen by hand-made portals"
np_py <<'EOF'
import hashlib, os, socket, time, npctl
from npctl import fail

ERR = npctl.ERRORS
RELAYS = {"r1": os.environ["R1_ADDR"], "r2": os.environ["R2_ADDR"]}


def check_denied(conn, rule, mid, code, log_re):
    r = conn.request(rule, mid)
    if r.type != "ERROR" or r.code != ERR[code] or not r.message:
        fail("%s for rule %s: expected ERROR %s, got %r" %
             (conn.label, rule, code, r))
    npctl.wait_log("hub", log_re, 5)


def relay_dial(addr, side, ticket):
    s = socket.create_connection(npctl.split_addr(addr), timeout=5)
    s.sendall(b"NPR\x01" + bytes([side]) + len(ticket).to_bytes(2, "big") +
              ticket)
    return s


def main():
    # The server's ticket key, as a relay learns it.
    crt, key = npctl.cert("relay", "rk")
    rk = npctl.Conn(os.environ["NP_SERVER_ADDR"], crt, key, label="rk")
    w = rk.hello(advertise=["127.0.0.1:9"], capacity=1)
    if w.ticket_key is None or len(w.ticket_key) != 32:
        fail("WELCOME to a relay without a 32-byte ticket key: %r" % w)
    key_id = hashlib.sha256(w.ticket_key).digest()[:8]
    rk.close()
    npctl.wait_log("hub", r"peer=relay/rk .*closed: peer closed", 5)

    a, b, c = npctl.portal("a"), npctl.portal("b"), npctl.portal("c")
    for p in (a, b, c):
        wp = p.hello()
        if wp.ticket_key is not None:
            fail("the server sent the ticket key to a portal")
        if (wp.keepalive_ms, wp.dead_ms) != (200, 1000):
            fail("WELCOME timing: %r" % wp)
    # Rule sets: exactly each portal's side of each active rule.
    _, ra = a.wait_rules()
    _, rb = b.wait_rules()
    _, rc = c.wait_rules()
    got = sorted((r.rule, r.side, r.peer, r.listen, r.target) for r in ra)
    want = sorted([("web", 1, "b", "127.0.0.1:%s" % os.environ["WEB_PORT"],
                    None), ("db", 1, "d", "127.0.0.1:2", None)])
    if got != want:
        fail("a's rules: %r, expected %r" % (got, want))
    got = [(r.rule, r.side, r.peer, r.listen, r.target) for r in rb]
    if got != [("web", 2, "a", None, "127.0.0.1:8080")]:
        fail("b's rules: %r" % got)
    if [(r.rule, r.side) for r in rc] != [("db", 1)]:
        fail("c's rules: %r" % rc)
    if any(r.ipproto != 6 for r in ra + rb + rc):
        fail("a rule without ipproto 6")

    # Three grants fill the relays (capacity 2 + 1).
    seen = {}
    tids = set()
    for mid in (101, 102, 103):
        t0 = int(time.time())
        g = a.request("web", mid)
        if g.type != "TUNNEL_GRANT":
            fail("request %d: %r" % (mid, g))
        gb = b.expect("TUNNEL_GRANT", pred=lambda m:
                      m.tunnel_id == g.tunnel_id)
        if (g.side, g.peer, g.rule) != (1, "b", "web"):
            fail("client side of the grant: %r" % g)
        if (gb.id, gb.side, gb.peer) != (0, 2, "a"):
            fail("service side of the grant: %r" % gb)
        for f in ("tunnel_id", "relay", "relay_name", "ticket", "expires"):
            if getattr(g, f) != getattr(gb, f):
                fail("grants differ in %s: %r / %r" % (f, g, gb))
        if g.relay != RELAYS.get(g.relay_name):
            fail("grant names relay %s at %s" % (g.relay_name, g.relay))
        t = npctl.parse_ticket(g.ticket)
        if (t["tunnel_id"], t["relay"], t["initiator"], t["acceptor"]) != \
                (g.tunnel_id, g.relay_name, "a", "b"):
            fail("ticket fields: %r" % t)
        if t["key_id"] != key_id:
            fail("ticket key id %s, expected %s" % (t["key_id"].hex(),
                                                     key_id.hex()))
        # Expiry is rounded up to a whole second: 7 or 8 s after issue.
        if not 7 <= t["expires"] - t["issued"] <= 8 or \
                t["expires"] != g.expires or \
                abs(t["issued"] - t0) > 2:
            fail("ticket times: %r (grant expires %d)" % (t, g.expires))
        npctl.wait_log("hub", r"peer=portal/a .*tunnel granted: rule web, "
                       r"portal/a -> portal/b via relay/%s at %s, tunnel %s$"
                       % (g.relay_name, g.relay, g.tunnel_id.hex()), 5)
        seen[g.relay_name] = seen.get(g.relay_name, 0) + 1
        tids.add(g.tunnel_id)
        if mid == 101:
            first = g
    if seen != {"r1": 2, "r2": 1} or len(tids) != 3:
        fail("grants per relay: %r, %d tunnel ids" % (seen, len(tids)))

    # Denials, each with its code and one log line naming both portals.
    check_denied(a, "web", 104, "NO_RELAY",
                 r"peer=portal/a .*tunnel denied: rule web, portal/a -> "
                 r"portal/b: no relay with free capacity is connected")
    check_denied(c, "web", 1, "DENIED",
                 r"peer=portal/c .*tunnel denied: rule web, portal/c -> "
                 r"portal/b: portal c is not a client of this rule")
    check_denied(c, "nosuch", 2, "UNKNOWN_RULE",
                 r"peer=portal/c .*tunnel denied: rule nosuch, portal/c -> "
                 r"portal/\?: no such rule")
    check_denied(a, "old", 105, "EXPIRED",
                 r"peer=portal/a .*tunnel denied: rule old, portal/a -> "
                 r"portal/b: the rule has expired")
    check_denied(c, "db", 3, "PEER_OFFLINE",
                 r"peer=portal/c .*tunnel denied: rule db, portal/c -> "
                 r"portal/d: the service portal is not connected")
    # The service portal cannot ask for its own rule.
    check_denied(b, "web", 4, "DENIED",
                 r"peer=portal/b .*tunnel denied: rule web, portal/b -> "
                 r"portal/b: portal b is not a client of this rule")
    if b.take("TUNNEL_GRANT") or c.take("TUNNEL_GRANT"):
        fail("a denied request still sent a grant")

    # The first ticket opens its relay: both halves pair, bytes pass.
    addr = first.relay
    ha = relay_dial(addr, 1, first.ticket)
    hb = relay_dial(addr, 2, first.ticket)
    for h in (ha, hb):
        if h.recv(4) != b"NPR\x00":
            fail("the relay did not pair the halves")
    ha.sendall(b"ping through the relay")
    if hb.recv(100) != b"ping through the relay":
        fail("bytes did not pass the relay")
    npctl.wait_log(first.relay_name, r"paired|tunnel .* (up|started)", 5)
    ha.close()
    hb.close()
    # The relay's report that the tunnel ended frees capacity.
    def granted():
        r = a.request("web", granted.mid)
        granted.mid += 1
        if r.type == "TUNNEL_GRANT":
            return True
        if r.code != ERR["NO_RELAY"]:
            fail("after the pair closed: %r" % r)
        return False
    granted.mid = 200
    if not npctl.pump_until(granted, 10):
        fail("no grant after the relay reported its tunnel closed")

    # Grants whose portals never reach the relay hold its capacity only
    # for half a second (the relays report only when a tunnel pairs or
    # ends here: load_interval is 1 h).
    for n in range(12):
        r = a.request("web", 300 + n)
        if r.type != "TUNNEL_GRANT":
            break
    else:
        fail("relays of capacity 3 took 12 grants at once")
    if r.code != ERR["NO_RELAY"]:
        fail("filling the relays: %r" % r)
    time.sleep(0.6)
    r = a.request("web", 400)
    if r.type != "TUNNEL_GRANT":
        fail("grants never paired still held the relays 0.6 s on: %r" % r)
npctl.run(main)
EOF

np_step "real portals: an application connects, both portals get the grant"
cat >"$NP_TMP/app.py" <<'EOF'
# An application: connects, sends a line, prints what comes back.
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"hello from the application\n")
    print("connected", flush=True)
    s.settimeout(20)
    print("result: read %r" % s.recv(100), flush=True)
except OSError as e:
    print("result: %s" % e, flush=True)
EOF
np_echo_server target "$target_port"
np_portal_conf pa
np_portal_conf pb
np_start_portal pa
np_start_portal pb
np_wait_log pa "listening on 127\.0\.0\.1:$app_port for rule app \(to portal/pb\)"
np_wait_log pa 'rule set [0-9]+ applied: 1 client-side, 0 service-side'
np_wait_log pb 'rule set [0-9]+ applied: 0 client-side, 1 service-side'
np_start app python3 "$NP_TMP/app.py" "$app_port"
np_wait_log app connected
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb granted \(rule app, client side\)'
tid=$(np_log_line pa 'to portal/pb granted' | sed -E 's/.*tunnel ([0-9a-f]{32}) to.*/\1/')
np_wait_log pb "tunnel $tid to portal/pa granted \(rule app, service side\): relay r[12] at "
np_wait_log hub "tunnel granted: rule app, portal/pa -> portal/pb via relay/r[12] at .*, tunnel $tid\$"
np_wait_log app "result: read b'hello from the application"
np_wait_exit app 0

np_step "real portals: the service portal is gone, the request is denied"
np_stop pb
np_wait_log hub 'peer=portal/pb .*closed'
np_wait_log pa "tunnel $tid to portal/pb closed"
np_start app python3 "$NP_TMP/app.py" "$app_port"
np_wait_log hub 'peer=portal/pa .*tunnel denied: rule app, portal/pa -> portal/pb: the service portal is not connected'
np_wait_log pa 'the server refused \(rule app\): the other portal is not connected'
np_wait_log_count app "result: " 2
np_wait_exit app 0
np_stop pa
np_stop target 143

np_pass "grants and denials, by hand and by the real portals"
