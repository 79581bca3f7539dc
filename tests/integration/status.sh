#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `netport status` asks running daemons over their control sockets.  With a
# server, a relay, portals pa and pb and one echo stream open through a
# tunnel:
#   - each daemon's socket is a socket of mode 0600;
#   - `netport status -c pa.yaml` finds pa's socket from its config and
#     shows the tunnel: peer pb, rule, one stream, open, the relay path
#     (relay r1 at its address) and why it is not direct; --json carries the
#     same, checked field by field, and bytes that grow with the traffic;
#   - the server's answer lists both portals and the relay; the relay's
#     its tunnel and how it forwards;
#   - `-s SOCKET` on a path where nothing listens says so and exits 1;
#     a request other than "status" gets an error object, not a crash;
#   - a second daemon given the same control.socket logs that another
#     daemon answers there and runs on without one;
#   - with the relay killed, pa's status shows the tunnel resuming, with
#     the reason it lost its path.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
port=$(np_port)
echo_port=$(np_port)
{
	echo "rules:"
	np_dp_rule web pa "$port" pb "$echo_port"
} | np_policy

np_step "server, relay, portals pa and pb; an echo stream through a tunnel"
np_dp_server
np_dp_relay
np_dp_portal pa 1 0
np_dp_portal pb 0 1
np_wait_port "$port" open
np_dp_app echo echo "$echo_port"
for d in hub:server-hub r1:relay-r1 pa:portal-pa pb:portal-pb; do
	sock=$NP_TMP/${d#*:}.sock
	np_wait_log "${d%%:*}" "control socket $sock "
	[ -S "$sock" ] || np_fail "$sock is not a socket"
	mode=$(stat -c %a "$sock")
	[ "$mode" = 600 ] || np_fail "$sock has mode $mode, expected 600"
done
export PORT=$port NETPORT NP_TMP
np_start stream python3 -c '
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), 10)
msg = b"x" * 100000
s.sendall(msg)
got = b""
while len(got) < len(msg):
    got += s.recv(65536)
print("stream: echoed %d bytes, holding" % len(got), flush=True)
deadline = time.monotonic() + 120
while not os.path.exists(os.environ["NP_TMP"] + "/release"):
    if time.monotonic() > deadline:
        sys.exit("stream: never released")
    time.sleep(0.05)
'
np_wait_log stream '^stream: echoed 100000 bytes'

np_step "netport status -c pa.yaml: the tunnel, its path, why not direct"
"$NETPORT" status -c "$NP_TMP/pa.yaml" >"$NP_TMP/st-pa.txt" ||
    np_fail "netport status -c pa.yaml failed"
cat "$NP_TMP/st-pa.txt"
grep -Eq '^portal pa \(netport [0-9.]+\), up .*; server 127\.0\.0\.1:[0-9]+: session up; 1 rule' "$NP_TMP/st-pa.txt" ||
    np_fail "no portal header line"
grep -Eq "^  [0-9a-f]{8} +pb +client +web +open +1 +relay r1 at 127\\.0\\.0\\.1:[0-9]+ " "$NP_TMP/st-pa.txt" ||
    np_fail "no tunnel line for pb"
grep -q '^            not direct: ' "$NP_TMP/st-pa.txt" ||
    np_fail "no reason why the tunnel is not direct"
np_py <<'EOF'
import json, os, subprocess, npctl
from npctl import fail

def status(*args):
    out = subprocess.run([os.environ["NETPORT"], "status", "--json"] +
                         list(args), capture_output=True, text=True,
                         timeout=10)
    if out.returncode != 0:
        fail("netport status %s: exit %d: %s" % (args, out.returncode,
                                                  out.stderr))
    return json.loads(out.stdout)

def main():
    tmp = os.environ["NP_TMP"]
    a = status("-c", tmp + "/pa.yaml")
    b = status("-s", tmp + "/portal-pa.sock")
    if a["name"] != "pa" or b["name"] != "pa" or a["role"] != "portal":
        fail("not pa's answer: %r" % a)
    if a["server"]["session"] != "up" or len(a["tunnels"]) != 1:
        fail("pa: %r" % a)
    t = a["tunnels"][0]
    want = {"peer": "pb", "side": "client", "rule": "web", "state": "open",
            "streams": 1}
    for k, v in want.items():
        if t[k] != v:
            fail("tunnel %s is %r, expected %r" % (k, t[k], v))
    if t["path"]["kind"] != "relay" or t["path"]["via"] != "r1" or \
            not t["path"]["address"].startswith("127.0.0.1:"):
        fail("path: %r" % t["path"])
    if t["bytes_out"] < 100000 or t["bytes_in"] < 100000:
        fail("bytes: %d out, %d in, after 100000 each way" %
             (t["bytes_out"], t["bytes_in"]))
    if t["direct"]["active"] or \
            t["direct"]["why"] != "direct.mode is off on this portal":
        fail("direct: %r" % t["direct"])
    s = status("-c", tmp + "/hub.yaml")
    if s["role"] != "server" or \
            sorted(p["name"] for p in s["portals"]) != ["pa", "pb"] or \
            [r["name"] for r in s["relays"]] != ["r1"]:
        fail("server: %r" % s)
    r = status("-c", tmp + "/r1.yaml")
    if r["role"] != "relay" or r["tunnels"] != 1 or \
            r["server"]["session"] != "up" or not r["server"]["registered"]:
        fail("relay: %r" % r)
    print("json: pa, hub and r1 answered as expected")

npctl.run(main)
EOF
"$NETPORT" status -c "$NP_TMP/hub.yaml"
"$NETPORT" status -c "$NP_TMP/r1.yaml"

np_step "no daemon at a path: a clear error and exit 1; an unknown request"
if "$NETPORT" status -s "$NP_TMP/nothing.sock" 2>"$NP_TMP/err.txt"; then
	np_fail "netport status on an empty path exited 0"
fi
grep -q "nothing.sock: no daemon there" "$NP_TMP/err.txt" ||
    np_fail "unexpected error: $(cat "$NP_TMP/err.txt")"
python3 - "$NP_TMP/portal-pa.sock" <<'EOF' || np_fail "unknown request"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"reboot\n")
got = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
if json.loads(got) != {"error": "unknown request"}:
    sys.exit("answer: %r" % got)
EOF
np_is_running pa || np_fail "pa died on an unknown request"

np_step "a second daemon on the same socket runs without one"
np_portal_conf pa2 "control.socket=$NP_TMP/portal-pa.sock"
np_cert portal pa2
np_start_portal pa2
np_wait_log pa2 "no control socket at $NP_TMP/portal-pa\\.sock: another daemon answers there"
np_wait_log pa2 'session with server .* is up'
"$NETPORT" status -s "$NP_TMP/portal-pa.sock" --json | grep -q '"name":"pa"' ||
    np_fail "pa's socket no longer answers for pa"
np_stop pa2

np_step "the relay dies: pa's status shows the tunnel resuming, and why"
np_kill9 r1
np_wait_log pa 'lost its path'
"$NETPORT" status -c "$NP_TMP/pa.yaml" | tee "$NP_TMP/st-lost.txt"
grep -Eq ' pb +client +web +resuming ' "$NP_TMP/st-lost.txt" ||
    np_fail "the tunnel is not shown resuming"
grep -q 'lost its path [0-9]* ms ago: ' "$NP_TMP/st-lost.txt" ||
    np_fail "no reason for the lost path"

touch "$NP_TMP/release"
np_wait_exit stream 0 10
np_stop pa
np_stop pb
np_stop hub
np_stop echo
[ ! -e "$NP_TMP/portal-pa.sock" ] || np_fail "pa left its socket behind"

np_pass "status of portal, server and relay, text and JSON; errors; a lost path shown"
