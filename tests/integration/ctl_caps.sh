#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The server's caps on registered sessions, and its listen backlog.  With
# max_portals: 2 and max_relays: 1, two portals and a relay register; a
# third portal and a second relay finish their TLS handshake but are
# refused at HELLO with ERROR INTERNAL naming the key, and the server logs
# why, once: refusals that follow (portals retrying over the cap) are
# counted into one summary line every 10 s.  A portal that reconnects while its old session is still up takes
# that session's place instead of needing room, at the cap too; once a
# portal leaves, the next one gets its place.  A listen_backlog above
# net.core.somaxconn makes the server warn at start that the kernel cuts it.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
for p in a b c; do np_cert portal "$p"; done
for r in r1 r2; do np_cert relay "$r"; done
cat >"$NP_TMP/policy.yaml" <<'EOF'
rules: []
EOF

somaxconn=$(cat /proc/sys/net/core/somaxconn 2>/dev/null || echo)
backlog=4096
[ -z "$somaxconn" ] || backlog=$((somaxconn + 1))

np_step "a server with room for two portals and one relay"
np_server_conf hub max_portals=2 max_relays=1 listen_backlog="$backlog"
np_start_server hub
if [ -n "$somaxconn" ]; then
	np_wait_log hub "warn server .*listen_backlog is $backlog but net\\.core\\.somaxconn is $somaxconn: the kernel queues at most $somaxconn connections"
else
	echo "no /proc/sys/net/core/somaxconn: backlog warning not checked"
fi

np_step "a third portal and a second relay are refused at HELLO"
np_py <<'EOF'
import os, re, time, npctl
from npctl import fail

ERR = npctl.ERRORS


def refused(conn, why, **hello):
    conn.send("HELLO", 0, software="npctl test client", **hello)
    m = conn.expect("ERROR")
    if m.code != ERR["INTERNAL"] or m.message != why:
        fail("%r: ERROR %r %r, expected INTERNAL %r" %
             (conn, m.code, m.message, why))
    conn.expect_closed()


def relay(name):
    crt, key = npctl.cert("relay", name)
    return npctl.Conn(os.environ["NP_SERVER_ADDR"], crt, key,
                      label="relay/" + name)


def main():
    a, b = npctl.portal("a"), npctl.portal("b")
    a.hello()
    b.hello()
    refused(npctl.portal("c"), "portals at max_portals (2)")
    npctl.wait_log("hub", r"peer=portal/c .*closed: portals at max_portals "
                   r"\(2\)")
    # Portals that retry over the cap: one line, then a summary.
    for _ in range(5):
        refused(npctl.portal("c"), "portals at max_portals (2)")
    # They may straddle two summary windows: the counts add up to 5.
    summary = (r"warn server .* (\d+) HELLOs from any address refused in "
               r"the last \d+ s: portals at max_portals \(2\)")
    deadline, total = time.monotonic() + 25, 0
    while time.monotonic() < deadline:
        with open(npctl.log_path("hub"), errors="replace") as f:
            total = sum(int(m.group(1)) for m in
                        (re.search(summary, line) for line in f) if m)
        if total >= 5:
            break
        npctl.idle(0.2)
    if total != 5:
        fail("summaries of refusals over max_portals count %d, expected 5"
             % total)
    print("five more over the cap: one summary count of %d" % total)
    n = npctl.log_count("hub", r"closed: portals at max_portals")
    if n != 1:
        fail("%d lines for refusals over max_portals, expected 1 and a "
             "summary" % n)
    r1 = relay("r1")
    r1.hello(advertise=["127.0.0.1:9"], capacity=1)
    refused(relay("r2"), "relays at max_relays (1)",
            advertise=["127.0.0.1:9"], capacity=1)
    npctl.wait_log("hub", r"peer=relay/r2 .*closed: relays at max_relays "
                   r"\(1\)")

    # At the cap, a portal's new session replaces its old one.
    a2 = npctl.portal("a")
    a2.hello()
    a.expect_closed()
    npctl.wait_log("hub", r"peer=portal/a .*closed: replaced by a new "
                   r"session from ")
    r1b = relay("r1")
    r1b.hello(advertise=["127.0.0.1:9"], capacity=1)
    r1.expect_closed()

    # A portal that leaves makes room for the next.
    b.close()
    npctl.wait_log("hub", r"peer=portal/b .*closed: ")
    c = npctl.portal("c")
    c.hello()
    npctl.wait_log("hub", r"peer=portal/c .*portal registered from ")
    npctl.idle(0.5)
    for conn in (a2, c, r1b):
        if conn.closed:
            fail("%r closed: %s" % (conn, conn.closed))


npctl.run(main)
EOF
[ "$(np_log_count hub 'portal registered from')" -eq 4 ] ||
    np_fail "$(np_log_count hub 'portal registered from') portals registered, expected 4 (a, b, a again, c)"

np_stop hub
np_pass "portals and relays capped at HELLO; a reconnect takes its own place; backlog above somaxconn warned"
