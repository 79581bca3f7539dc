#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The relay's in-kernel fast path (fast_path: auto picks sockmap when the
# kernel and privileges allow; skipped, 77, where they do not).  Two
# hand-made portals ta and tb get real grants under rule tix and dial the
# real relay themselves (tests/dptun.py), so the test sees exactly what
# the relay passes on:
#   - EOF after a backlog: ta sends 12 MiB and shuts down its sending side
#     while tb reads nothing, so its FIN reaches the relay while megabytes
#     still wait inside it; tb then reads all 12 MiB (SHA-256 equal) and
#     only then a clean EOF.  The relay's debug log shows that the EOF
#     waited for the bytes before it.
#   - the other direction after the half-close: tb sends 1 MiB and closes;
#     ta receives it all and an EOF; the relay logs "both portals closed"
#     with the exact counts both ways.
#   - a reset: ta aborts (RST) and tb's read fails with a reset; the relay
#     logs the reason.
#   - no wake-ups: during 256 MiB through a third pair the relay process
#     is woken fewer than 100 times (its timers only) and spends under
#     50 ms of CPU; forwarding with splice wakes it thousands of times.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki ta tb
tix_port=$(np_port)
{
	echo "rules:"
	np_dp_rule tix ta "$tix_port" tb "$(np_port)"
} | np_policy

np_step "server and relay (fast_path auto)"
np_dp_server
np_dp_relay r1 log.level=debug fast_path=auto
if [ "$(np_log_count r1 'sockmap unavailable')" -ne 0 ]; then
	np_log_line r1 'sockmap unavailable'
	echo "SKIP: the kernel fast path is not available here"
	exit 77
fi
np_wait_log r1 'forwarding in the kernel \(fast_path: sockmap\)'
relay_addr=$(np_log_line r1 'portals dial ' | sed 's/.*portals dial //')
export RELAY_ADDR=$relay_addr RELAY_PID=${NP_PID[r1]}

np_py <<'EOF'
import hashlib, os, socket, struct, threading, time, dptun, dpio, npctl
from npctl import fail

RELAY = os.environ["RELAY_ADDR"]
MIB = 1024 * 1024


def pair(ta, tb, mid):
    g = ta.request("tix", mid)
    if g.type != "TUNNEL_GRANT":
        fail("no grant for ta: %r" % g)
    tb.expect("TUNNEL_GRANT", pred=lambda m: m.tunnel_id == g.tunnel_id)
    h1 = dptun.relay_dial(RELAY, 1, g.ticket)
    h2 = dptun.relay_dial(RELAY, 2, g.ticket)
    for h in (h1, h2):
        st = dptun.relay_status(h)
        if st != dptun.PAIRED:
            fail("not paired: status %r" % st)
        h.settimeout(20)
    npctl.wait_log("r1", r"tunnel ta>tb paired .*sockmap\)", 5)
    return h1, h2


def sender(sock, data, then, done):
    try:
        sock.sendall(data)
        then()
        done.append("ok")
    except OSError as e:
        done.append("error: %s" % e)


def read_to_eof(sock, want):
    got = bytearray()
    while True:
        try:
            data = sock.recv(MIB)
        except ConnectionResetError:
            fail("reset after %d of %d bytes" % (len(got), want))
        if not data:
            return bytes(got)
        got += data
        if len(got) > want:
            fail("more bytes than were sent: %d" % len(got))


def relay_usage():
    with open("/proc/%s/stat" % os.environ["RELAY_PID"]) as f:
        stat = f.read().rsplit(")", 1)[1].split()
    ticks = int(stat[11]) + int(stat[12])		# utime + stime
    switches = 0
    with open("/proc/%s/status" % os.environ["RELAY_PID"]) as f:
        for line in f:
            if "ctxt_switches:" in line:		# voluntary and not
                switches += int(line.split()[1])
    return ticks * 1000 // os.sysconf("SC_CLK_TCK"), switches


def main():
    ta, tb = npctl.portal("ta"), npctl.portal("tb")
    for p in (ta, tb):
        p.hello()
        p.wait_rules()

    # EOF after a backlog, then the other direction.
    h1, h2 = pair(ta, tb, 1)
    up = dpio.Pattern(7).bytes(12 * MIB)
    done = []
    th = threading.Thread(target=sender, args=(
        h1, up, lambda: h1.shutdown(socket.SHUT_WR), done))
    th.start()
    npctl.wait_log("r1", r"EOF from the initiator waits for [0-9]+ bytes", 20)
    got = read_to_eof(h2, len(up))
    th.join(20)
    if done != ["ok"]:
        fail("sender: %r" % done)
    if hashlib.sha256(got).digest() != hashlib.sha256(up).digest():
        fail("%d bytes arrived, %d sent, not equal" % (len(got), len(up)))
    print("backlog: %d bytes, then EOF" % len(got))
    down = dpio.Pattern(8).bytes(MIB)
    h2.sendall(down)
    h2.close()
    back = read_to_eof(h1, len(down))
    if back != down:
        fail("%d bytes came back, %d sent" % (len(back), len(down)))
    h1.close()
    npctl.wait_log("r1", r"tunnel ta>tb closed: both portals closed "
                   r"\(%d bytes forward, %d back\)" % (len(up), len(down)), 5)
    print("half-close: %d bytes back, then EOF; both closed" % len(back))

    # A reset is passed on.
    h1, h2 = pair(ta, tb, 2)
    h1.sendall(b"x" * 100)
    if dptun.recv_exactly(h2, 100) != b"x" * 100:
        fail("bytes did not pass")
    h1.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                  struct.pack("ii", 1, 0))
    h1.close()
    try:
        data = h2.recv(10)
        fail("after the reset tb read %r, not a reset" % data)
    except ConnectionResetError:
        pass
    h2.close()
    npctl.wait_log("r1", r"tunnel ta>tb closed: initiator: Connection reset "
                   r"by peer", 5)
    print("reset: passed on")

    # No wake-ups for data.
    h1, h2 = pair(ta, tb, 3)
    size = 256 * MIB
    cpu0, sw0 = relay_usage()
    done = []
    th = threading.Thread(target=lambda: [sender(h1, memoryview(
        bytearray(4 * MIB)), lambda: None, done) for _ in range(64)])
    th.start()
    n = 0
    while n < size:
        data = h2.recv(4 * MIB)
        if not data:
            fail("EOF after %d bytes" % n)
        n += len(data)
    th.join(20)
    cpu1, sw1 = relay_usage()
    print("256 MiB: the relay woke %d times and used %d ms of CPU" %
          (sw1 - sw0, cpu1 - cpu0))
    if sw1 - sw0 >= 100 or cpu1 - cpu0 >= 50:
        fail("the relay took part in forwarding")
    h1.close()
    h2.close()

npctl.run(main)
EOF
grep -E '^(backlog|half-close|reset|256 MiB)' "$NP_TMP/py.log"
np_pass "the kernel forwards; EOFs wait for their bytes; resets pass on"
