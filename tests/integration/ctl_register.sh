#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Registration of real daemons on loopback: a server, a relay and two
# portals.  The server logs "relay registered" (with the address portals
# dial and the capacity) and "portal registered" for each, and sends each
# portal its rule set; each portal logs its session up with the server's
# timing and "rule set N applied" with the right count of client-side and
# service-side rules, and opens a listener for each client-side rule; the
# relay learns the ticket key.  The server and one portal log JSON lines
# (--log-format json), the relay too (log.format: json in its file), the
# other portal text: every JSON line must parse, carry ts, level, role
# (the process's own), func and msg, and the lines about a connection
# carry its numeric conn id and the peer identity; text lines carry
# conn=N peer=ROLE/NAME.  Nothing is logged at warn or error level while
# everyone registers, and every daemon stops cleanly on SIGTERM.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
np_cert relay r1
np_cert portal pa
np_cert portal pb
p1=$(np_port)
p2=$(np_port)
cat >"$NP_TMP/policy.yaml" <<EOF
rules:
  - name: pa-to-pb
    client: pa
    listen: 127.0.0.1:$p1
    service: pb
    target: 127.0.0.1:22
  - name: pb-to-pa
    client: pb
    listen: 127.0.0.1:$p2
    service: pa
    target: 127.0.0.1:80
  - name: pa-to-x
    client: pa
    listen: 127.0.0.1:1
    service: x
    target: 127.0.0.1:81
EOF

np_step "server, relay and two portals start and register"
np_server_conf hub
np_start_server hub --log-format json
np_relay_conf r1 log.format=json capacity=50
np_start_relay r1
np_wait_log hub '"peer":"relay/r1".*"msg":"relay registered from 127\.0\.0\.1:[0-9]+: dial 127\.0\.0\.1:[0-9]+, capacity 50"'
np_wait_log r1 '"peer":"server/hub".*"msg":"registered; ticket key [0-9a-f]{8}"'
np_portal_conf pa
np_portal_conf pb
np_start_portal pa --log-format json
np_start_portal pb
np_wait_log hub '"peer":"portal/pa".*"msg":"portal registered from 127\.0\.0\.1:[0-9]+;'
np_wait_log hub '"peer":"portal/pb".*"msg":"portal registered from 127\.0\.0\.1:[0-9]+;'
np_wait_log hub '"peer":"portal/pa".*"msg":"sent 3 rules \(policy generation 0\)"'
np_wait_log hub '"peer":"portal/pb".*"msg":"sent 2 rules \(policy generation 0\)"'

np_step "each portal applies its rule set and listens"
np_wait_log pa '"peer":"server/hub".*"msg":"session with server 127\.0\.0\.1:[0-9]+ is up \(keepalive 200 ms, dead-peer timeout 1000 ms\)"'
np_wait_log pa '"msg":"rule set 0 applied: 2 client-side, 1 service-side"'
np_wait_log pb 'conn=[0-9]+ peer=server/hub .*session with server 127\.0\.0\.1:[0-9]+ is up'
np_wait_log pb 'rule set 0 applied: 1 client-side, 1 service-side'
np_wait_log pa "\"msg\":\"listening on 127\\.0\\.0\\.1:$p1 for rule pa-to-pb \\(to portal/pb\\)\""
np_wait_log pb "listening on 127\\.0\\.0\\.1:$p2 for rule pb-to-pa \\(to portal/pa\\)"
np_wait_port "$p1" open
np_wait_port "$p2" open
# One set each, applied once: nothing was resent.
[ "$(np_log_count pa 'rule set [0-9]+ applied')" -eq 1 ] || np_fail "pa applied more than one rule set"
[ "$(np_log_count pb 'rule set [0-9]+ applied')" -eq 1 ] || np_fail "pb applied more than one rule set"

np_step "log lines: JSON parses and names role, connection and peer"
np_py hub:server r1:relay pa:portal <<'EOF'
import json, os, sys, npctl
from npctl import fail

def main():
    for arg in sys.argv[1:]:
        name, role = arg.split(":")
        lines = open(npctl.log_path(name)).read().splitlines()
        if len(lines) < 3:
            fail("%s: only %d log lines" % (name, len(lines)))
        with_conn = 0
        for n, line in enumerate(lines, 1):
            try:
                o = json.loads(line)
            except ValueError as e:
                fail("%s.log:%d: not JSON (%s): %s" % (name, n, e, line))
            for k in ("ts", "level", "role", "func", "msg"):
                if not isinstance(o.get(k), str) or not o[k]:
                    fail("%s.log:%d: no %s: %s" % (name, n, k, line))
            if o["role"] != role:
                fail("%s.log:%d: role %r, expected %r" % (name, n,
                                                          o["role"], role))
            if o["level"] not in ("debug", "info"):
                fail("%s.log:%d: %s while registering: %s" %
                     (name, n, o["level"], line))
            if "conn" in o:
                if not isinstance(o["conn"], int) or o["conn"] <= 0:
                    fail("%s.log:%d: bad conn: %s" % (name, n, line))
                with_conn += 1
            if "peer" in o and not (isinstance(o["peer"], str) and
                                    "/" in o["peer"]):
                fail("%s.log:%d: bad peer: %s" % (name, n, line))
        if with_conn == 0:
            fail("%s: no line carries a connection id" % name)
    # The registration lines name the connection and the peer.
    for name, msg, peer in (("hub", "portal registered", "portal/pa"),
                            ("hub", "portal registered", "portal/pb"),
                            ("hub", "relay registered", "relay/r1"),
                            ("r1", "registered; ticket key", "server/hub"),
                            ("pa", "is up (keepalive", "server/hub")):
        objs = [json.loads(l) for l in open(npctl.log_path(name))]
        hits = [o for o in objs if msg in o["msg"] and o.get("peer") == peer]
        if len(hits) != 1 or not isinstance(hits[0].get("conn"), int):
            fail("%s: %d line(s) %r with peer %s and a conn id" %
                 (name, len(hits), msg, peer))
npctl.run(main)
EOF
np_no_log pb ' (warn|error) portal '

np_step "everyone stops cleanly"
np_stop pa
np_stop pb
np_wait_log hub '"peer":"portal/pa".*"msg":"session with 127\.0\.0\.1:[0-9]+ closed: '
np_wait_log hub '"peer":"portal/pb".*"msg":"session with 127\.0\.0\.1:[0-9]+ closed: '
np_wait_port "$p1" closed
np_wait_port "$p2" closed
np_stop r1
np_wait_log hub '"peer":"relay/r1".*"msg":"session with 127\.0\.0\.1:[0-9]+ closed: '
np_stop hub

np_pass "server, relay and portals registered; logs well-formed"
