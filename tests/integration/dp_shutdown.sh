#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# SIGTERM to a client portal with live streams (drain_timeout 2 s).
# First a stream that finishes during the drain: after the signal, pa logs
# the drain, closes its listener (a new connection is refused) and keeps
# carrying the live stream (it still echoes); once the application closes
# it cleanly, pa exits with status 0 well before the drain time is over.
# Then a stream that outlives the drain: an application echoes a line
# every 50 ms across the signal; the stream keeps working during the drain
# time, then pa resets it with the reason "portal shutting down" (its log,
# and the GOAWAY pb logs), the application's connection is reset no
# earlier than the drain time and within a margin of it, and pa exits with
# status 0 within drain_timeout + 2 s of the signal.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

drain_ms=2000
np_dp_pki
port=$(np_port)
echo_port=$(np_port)
{
	echo "rules:"
	np_dp_rule echo pa "$port" pb "$echo_port"
} | np_policy

np_step "server, relay, portals (pa drains for $drain_ms ms), an echo server"
np_dp_server
np_dp_relay
np_dp_portal pa 1 0 drain_timeout="${drain_ms}ms"
np_dp_portal pb 0 1
np_wait_port "$port" open
np_dp_app echo echo "$echo_port"
export PORT=$port DRAIN_MS=$drain_ms

cat >"$NP_TMP/drain.py" <<'EOF'
# Shared by both steps: an echo stream, SIGTERM to pa, what happens next.
import os, signal, socket, time, dptun, npctl
from npctl import fail

PORT = int(os.environ["PORT"])
DRAIN = int(os.environ["DRAIN_MS"]) / 1000.0


def echo(s, msg):
    s.sendall(msg)
    if dptun.recv_exactly(s, len(msg), 5) != msg:
        fail("the stream returned other bytes")


def exited(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_exit(pid, timeout):
    if not npctl.pump_until(lambda: exited(pid), timeout):
        fail("pa still running %.1f s after SIGTERM" % timeout)


def term(pid):
    n = npctl.log_count("pa", r"Terminated: shutting down; live streams "
                        r"have %d ms to finish" % (DRAIN * 1000))
    os.kill(pid, signal.SIGTERM)
    t0 = time.monotonic()
    npctl.wait_log("pa", r"Terminated: shutting down; live streams have "
                   r"%d ms to finish" % (DRAIN * 1000), 5, count=n + 1)
    return t0
EOF

np_step "a stream that finishes during the drain"
PA_PID=${NP_PID[pa]} np_py <<'EOF'
import os, socket, sys, time
sys.path.insert(0, os.environ["NP_TMP"])
from drain import *

def main():
    pid = int(os.environ["PA_PID"])
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    echo(s, b"before the signal\n")
    t0 = term(pid)
    echo(s, b"during the drain\n")
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=5).close()
        fail("pa still accepts connections while draining")
    except ConnectionRefusedError:
        pass
    echo(s, b"still during the drain\n")
    s.shutdown(socket.SHUT_WR)
    if s.recv(10) != b"":
        fail("no clean EOF")
    s.close()
    wait_exit(pid, DRAIN + 2)
    t = time.monotonic() - t0
    if t >= DRAIN:
        fail("pa took %.3f s to exit after its last stream closed" % t)
    print("drained: pa exited %.3f s after SIGTERM" % t)

npctl.run(main)
EOF
np_wait_exit pa 0 5
grep '^drained:' "$NP_TMP/py.log"
np_no_log pa 'reset|drain time .* over'
np_wait_log pa 'portal_main: stopped'

np_step "a stream that outlives the drain is reset, and pa exits 0"
np_dp_portal pa 1 0 drain_timeout="${drain_ms}ms"
np_wait_port "$port" open
PA_PID=${NP_PID[pa]} np_py <<'EOF'
import os, socket, sys, time
sys.path.insert(0, os.environ["NP_TMP"])
from drain import *

def main():
    pid = int(os.environ["PA_PID"])
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    echo(s, b"before the signal\n")
    t0 = term(pid)
    n = 0
    while True:
        n += 1
        try:
            echo(s, b"line %d\n" % n)
        except (ConnectionResetError, BrokenPipeError, npctl.TestFailure) as e:
            t = time.monotonic() - t0
            err = e
            break
        if time.monotonic() - t0 > DRAIN + 5:
            fail("the stream still works %.1f s after SIGTERM" % (DRAIN + 5))
        npctl.pump_until(lambda: False, 0.05)
    if not DRAIN - 0.1 <= t <= DRAIN + 1.5:
        fail("the stream ended %.3f s after SIGTERM (%s), drain time is "
             "%.1f s" % (t, err, DRAIN))
    print("reset: the stream echoed %d lines, then ended %.3f s after "
          "SIGTERM (%s)" % (n - 1, t, type(err).__name__))
    wait_exit(pid, DRAIN + 2)
    print("exit: pa exited %.3f s after SIGTERM" % (time.monotonic() - t0))

npctl.run(main)
EOF
np_wait_exit pa 0 5
grep -E '^(reset|exit):' "$NP_TMP/py.log"
np_wait_log pa "drain time \\($drain_ms ms\\) over; resetting the remaining streams"
np_wait_log pa 'stream 1 \(rule echo\) reset: portal shutting down: portal shutting down; drain time over'
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb closed \(open\): portal shutting down; drain time over'
np_wait_log pb 'peer is closing tunnel [0-9a-f]{32}: portal shutting down: portal shutting down; drain time over'
np_wait_log echo '^echo 2: '

np_stop pb
np_stop r1
np_stop hub
np_stop echo

np_pass "SIGTERM: listener closed, live streams drained or reset after $drain_ms ms, exit 0"
