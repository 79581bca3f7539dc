#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A control session whose socket fills.  The server writes each loop
# turn's messages straight to the socket with SSL_write(); when the socket
# is full, OpenSSL keeps part of a record, and the rest of the turn's
# bytes go to libevent's writer, which must retry with those same bytes
# first.  Here a portal with a 4 KiB receive buffer says HELLO and reads
# nothing while the server pushes it a rule set of 6,000 rules (some
# 600 KB) and, after each policy change that renames every rule, another,
# until the socket is full (loopback's send buffer grows to a few MB): the
# server logs (at debug) that the socket was full and the writer took
# over; then the portal reads WELCOME and every rule set, each with every
# rule its count announced, and the session lives on.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
np_cert portal slow
export NP_RULES=6000
np_py <<'EOF'
import os
n = int(os.environ["NP_RULES"])
with open(os.path.join(os.environ["NP_TMP"], "policy.yaml"), "w") as f:
    f.write("rules:\n")
    for i in range(1, n + 1):
        f.write('  - {name: g0-%d, client: slow, listen: "127.0.0.1:%d", '
                'service: svc, target: "127.0.0.1:22"}\n' % (i, 20000 + i))
EOF
# Keepalives slow enough for a portal that reads nothing for seconds.
np_server_conf hub log.level=debug keepalive=2s dead_timeout=30s
np_start_server hub

np_py <<'EOF'
import os, time, npctl
from npctl import fail, wait_log

N = int(os.environ["NP_RULES"])
POLICY = os.path.join(os.environ["NP_TMP"], "policy.yaml")


def policy(gen):
    """Renames every rule: the portal's whole rule set changes."""
    with open(POLICY + ".next", "w") as f:
        f.write("rules:\n")
        for i in range(1, N + 1):
            f.write('  - {name: g%d-%d, client: slow, listen: '
                    '"127.0.0.1:%d", service: svc, target: '
                    '"127.0.0.1:22"}\n' % (gen, i, 20000 + i))
    os.rename(POLICY + ".next", POLICY)


def wait_log_still(regex, timeout):
    """npctl.wait_log() without reading any connection (it pumps them)."""
    deadline = time.monotonic() + timeout
    while npctl.log_count("hub", regex) == 0:
        if time.monotonic() > deadline:
            fail("hub.log: no line matching /%s/ after %d s" %
                 (regex, timeout))
        time.sleep(0.05)


def main():
    c = npctl.portal("slow", rcvbuf=4096)
    c.send("HELLO", 0, software="slow reader")
    # Read nothing; a new rule set each time the last is sent, until the
    # socket is full (loopback's send buffer grows to a few MB).
    full = r"peer=portal/slow .*socket full: \d+ bytes left to the write event"
    gen = 0
    while True:
        wait_log_still(r"peer=portal/slow .*sent %d rules \(policy "
                       r"generation %d\)" % (N, gen), 30)
        if npctl.log_count("hub", full) > 0:
            break
        if gen == 20:
            fail("the socket never filled in %d rule sets" % (gen + 1))
        gen += 1
        policy(gen)
    print("server: %s (at rule set %d)" % (wait_log("hub", full).strip(),
                                          gen + 1))
    c.expect("WELCOME", 10)
    c.wait_rules(gen + 1, 60)
    last, rules = c.rules
    if last != gen or len(rules) != N:
        fail("last rule set: generation %d, %d rules; expected %d, %d" %
             (last, len(rules), gen, N))
    names = {r.rule for r in rules}
    if len(names) != N or "g%d-1" % gen not in names or \
            "g%d-%d" % (gen, N) not in names:
        fail("the last rule set came with %d distinct names" % len(names))
    npctl.idle(1.0)
    if c.closed:
        fail("the session closed: %s" % c.closed)
    print("%d rule sets of %d rules read intact after the backlog" %
          (gen + 1, N))

npctl.run(main)
EOF

np_no_log hub 'warn server .*peer=portal/slow'
np_stop hub
np_pass "a control session whose socket filled: the rest went through libevent's writer, and every rule set of $NP_RULES rules arrived intact"
