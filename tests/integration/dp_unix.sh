#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Unix stream sockets at both ends of a rule: the client portal listens on
# a socket file (with the rule's file mode) and the service portal connects
# to a Unix socket target.  Checks: data crosses both ways; the listener's
# file has the mode the rule asked for; a stale socket file left by a dead
# process is replaced; a regular file in the way is reported and left
# alone; removing the rule removes the socket file; a target outside the
# service portal's allow-list is refused.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server srv
np_cert relay relay-1
np_cert portal alice
np_cert portal bob
sock_in=$NP_TMP/in.sock
sock_target=$NP_TMP/target.sock
sock_blocked=$NP_TMP/blocked.sock

# A stale socket file where alice must listen: bound, then its owner died.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock_in"
[ -S "$sock_in" ] || np_fail "could not make a stale socket file"

np_start target python3 -c '
import os, socket, sys, threading
ls = socket.socket(socket.AF_UNIX)
ls.bind(sys.argv[1])
ls.listen(16)
print("unix echo listening", flush=True)
def echo(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d.upper())
while True:
    c, _ = ls.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
' "$sock_target"
np_wait_log target 'unix echo listening'

np_policy <<EOF
rules:
  - name: usock
    client: alice
    listen: "unix:$sock_in"
    mode: "0640"
    service: bob
    target: "unix:$sock_target"
  - name: blocked
    client: alice
    listen: "unix:$NP_TMP/in2.sock"
    service: bob
    target: "unix:$sock_blocked"
EOF
np_server_conf srv
np_start_server srv
np_relay_conf relay-1
np_start_relay relay-1
np_portal_conf alice
np_portal_conf bob
echo "allow: [\"unix:$sock_target\"]" >>"$NP_TMP/bob.yaml"
np_start_portal alice
np_start_portal bob
np_wait_log relay-1 'registered'
np_wait_log alice "listening on unix:$sock_in \\(mode 640\\)"
np_wait_log bob 'rule set .* applied'

np_step "the listener replaced the stale file and has the rule's mode"
mode=$(stat -c %a "$sock_in")
[ "$mode" = 640 ] || np_fail "socket file mode is $mode, expected 640"

np_step "data through unix -> tunnel -> unix, both ways, with half-close"
out=$(python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"hello over unix sockets")
s.shutdown(socket.SHUT_WR)
got = b""
s.settimeout(10)
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
print(got.decode())
' "$sock_in")
[ "$out" = "HELLO OVER UNIX SOCKETS" ] || np_fail "got '$out'"

np_step "a target outside bob's allow-list is refused"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(10)
# The portal may close before or after our byte goes out: a close, a
# reset or a broken pipe all say "refused"; only an answer is wrong.
try:
    s.sendall(b"x")
    d = s.recv(10)
except (ConnectionResetError, BrokenPipeError):
    d = b""
sys.exit(0 if d == b"" else 1)
' "$NP_TMP/in2.sock" || np_fail "the blocked target answered"
np_wait_log bob "target unix:$sock_blocked is not in the local allow-list"

np_step "removing the rule removes the socket file"
np_policy <<EOF
rules: []
EOF
np_wait_log alice "closed listener unix:$sock_in"
[ ! -e "$sock_in" ] || np_fail "$sock_in still exists after the rule went away"

np_step "a regular file in the way is reported and left alone"
echo "not a socket" >"$sock_in"
np_policy <<EOF
rules:
  - name: usock
    client: alice
    listen: "unix:$sock_in"
    service: bob
    target: "unix:$sock_target"
EOF
np_wait_log alice "cannot listen on unix:$sock_in for rule usock"
[ "$(cat "$sock_in")" = "not a socket" ] || np_fail "the file was changed"

np_stop target 143
np_pass "unix sockets both ends; mode, stale file, allow-list, removal"
