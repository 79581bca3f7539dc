#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Half-close through a tunnel, both ways.  Client first: a client sends
# 1 MiB + 1 byte to the client portal pa and shuts down its sending side
# (shutdown(SHUT_WR)); the echo service behind the service portal pb reads
# to EOF (it must see the EOF, so pb must pass the FIN on with
# shutdown(SHUT_WR) after the last byte), only then sends everything back
# and closes; the client, whose receiving side stayed open, must receive
# all of it, equal to what it sent, and then a clean EOF (no reset).
# Service first: a server behind pb sends 300 KiB (more than a stream's
# initial credit) and shuts down its sending side at once, then reads to
# EOF; the client reads the 300 KiB and the EOF, and only then sends 1 MiB
# and closes; the server must receive it all.  Both portals log each
# stream's clean close (debug level) with the exact byte counts, and no
# stream is reset.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
echo_port=$(np_port)
talk_port=$(np_port)
port1=$(np_port)
port2=$(np_port)
{
	echo "rules:"
	np_dp_rule echo pa "$port1" pb "$echo_port"
	np_dp_rule talk pa "$port2" pb "$talk_port"
} | np_policy

np_step "server, relay, portals; a collecting echo server and a talker behind pb"
np_dp_server
np_dp_relay
np_dp_portal pa 2 0 log.level=debug
np_dp_portal pb 0 2 log.level=debug
np_wait_port "$port1" open
np_wait_port "$port2" open
np_dp_app echo echo "$echo_port" --collect
np_dp_app talk talk "$talk_port" $((300 * 1024))
export PORT1=$port1 PORT2=$port2

np_step "client sends, shuts down its sending side, then receives it all back"
np_py <<'EOF'
import hashlib, os, socket, time, dpio, npctl
from npctl import fail

def main():
    size = 1024 * 1024 + 1
    payload = dpio.Pattern(5).bytes(size)
    s = socket.create_connection(("127.0.0.1", int(os.environ["PORT1"])),
                                 timeout=20)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    # The echo server answers only after it has seen our EOF.
    npctl.wait_log("echo", r"^echo 1: EOF after %d bytes sha256 %s" %
                   (size, hashlib.sha256(payload).hexdigest()), 20)
    got = bytearray()
    try:
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            got += data
    except ConnectionResetError:
        fail("reset after %d of %d bytes came back" % (len(got), size))
    if bytes(got) != payload:
        fail("%d bytes came back, %d sent, equal: %s" %
             (len(got), size, bytes(got) == payload))
    print("client-first: %d bytes back, then EOF" % len(got))
    s.close()

npctl.run(main)
EOF
np_wait_log echo '^echo 1: sent 1048577 bytes back and closed'
# Client portal: up = towards the service.
np_wait_log pa 'stream 1 \(rule echo\) closed: 1048577 bytes up, 1048577 down'
np_wait_log pb 'stream 1 \(rule echo\) closed: 1048577 bytes up, 1048577 down'

np_step "the service sends and shuts down first; the client answers after EOF"
np_py <<'EOF'
import hashlib, os, socket, dpio, npctl
from npctl import fail

def main():
    s = socket.create_connection(("127.0.0.1", int(os.environ["PORT2"])),
                                 timeout=20)
    got = bytearray()
    while True:
        data = s.recv(1 << 20)
        if not data:
            break
        got += data
    want = dpio.Pattern(1).bytes(300 * 1024)
    if bytes(got) != want:
        fail("from the talker: %d bytes, expected %d" % (len(got), len(want)))
    # Our sending side is still open: answer now.
    size = 1024 * 1024
    payload = dpio.Pattern(9).bytes(size)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    npctl.wait_log("talk", r"^talk 1: received %d bytes sha256 %s" %
                   (size, hashlib.sha256(payload).hexdigest()), 20)
    if s.recv(10) != b"":
        fail("data after the talker's EOF")
    print("service-first: %d bytes, EOF, then %d bytes up" % (len(got), size))
    s.close()

npctl.run(main)
EOF
np_wait_log pa 'stream 3 \(rule talk\) closed: 1048576 bytes up, 307200 down'
# pb counts from its own side: up = from the target towards pa.
np_wait_log pb 'stream 3 \(rule talk\) closed: 307200 bytes up, 1048576 down'

np_step "no resets, one tunnel"
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1"
for d in hub r1 pa pb; do
	np_no_log "$d" ' (warn|error) | reset'
done
np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop echo
np_stop talk

np_pass "half-close passed on both ways, all bytes delivered after it"
