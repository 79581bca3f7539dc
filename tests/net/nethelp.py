# SPDX-License-Identifier: MIT
"""Small network programs for the namespace test bed (tests/net/).

Each runs inside a namespace (ip netns exec ...), prints one line per event
so that a test can wait for it in the program's log, bounds every wait, and
exits 0 on SIGTERM.

    nethelp.py probe [--timeout S] [--expect open|closed] HOST:PORT...
        connects to every HOST:PORT at once; prints "HOST:PORT open",
        "... refused", "... timeout" or "... error: REASON"; with --expect,
        exits 1 unless every one came out as expected (closed: anything
        but open)
    nethelp.py echo HOST PORT
        TCP echo server on HOST:PORT (one thread per connection)
    nethelp.py http HOST PORT DIR
        HTTP file server for DIR on HOST:PORT, one line per request
    nethelp.py rounds PORT --secs S --deadline D [--block N]
        through 127.0.0.1:PORT to an echo server: one round every 0.1 s,
        each a block of up to N random bytes sent and checked when it comes
        back, for S seconds.  Ends with one line:
          "ok: R rounds, B bytes checked, longest wait W s"  (exit 0)
          "reset: WHY after R rounds, T s"    (the connection was reset or
                                               closed; exit 0)
          "HANG: ..."   (a round did not end within D s; exit 1)
          "FAIL: ..."   (wrong bytes came back; exit 1)
    nethelp.py idle PORT --idle S --wait W
        connects to an echo server, checks one round, stays silent S
        seconds, then checks another round, waiting at most W s for it:
        "idle: alive after S s" (exit 0) or "idle: dead after S s: WHY"
        (exit 0: the test decides what it expected)
    nethelp.py stun IP1 IP2 [--port P] [--alt-port Q]
        a STUN server (RFC 5389 Binding, with RFC 5780's CHANGE-REQUEST)
        on IP1 and IP2, ports P (3478) and Q (3479): it answers a request
        from the address and port the request asks for, as a home router
        (miniupnpd) needs to check that nothing filters its public
        address.  Prints "stun ready" once bound, then one line per answer
"""

import argparse
import http.server
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time


def say(*args):
    sys.stdout.write(" ".join(str(a) for a in args) + "\n")
    sys.stdout.flush()


def split_hp(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


# probe ------------------------------------------------------------------

def probe(targets, timeout, expect):
    pending = {}
    results = {}
    for t in targets:
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(split_hp(t))
        if err == 0:
            results[t] = "open"
            s.close()
        elif err in (115, 114):	# EINPROGRESS, EALREADY
            pending[s] = t
        else:
            results[t] = "error: %s" % os.strerror(err)
            s.close()
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _, w, _ = select.select([], list(pending), [], left)
        for s in w:
            t = pending.pop(s)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                results[t] = "open"
            elif err == 111:
                results[t] = "refused"
            else:
                results[t] = "error: %s" % os.strerror(err)
            s.close()
    for s, t in pending.items():
        results[t] = "timeout"
        s.close()
    ok = True
    for t in targets:
        r = results[t]
        say("%s %s" % (t, r))
        if expect == "open" and r != "open":
            ok = False
        if expect == "closed" and r == "open":
            ok = False
    return 0 if ok else 1


# echo server --------------------------------------------------------------

def echo_server(host, port):
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(64)
    say("echo listening on %s:%d" % (host, port))

    def serve(c, n):
        total = 0
        with c:
            try:
                while True:
                    data = c.recv(65536)
                    if not data:
                        break
                    c.sendall(data)
                    total += len(data)
                say("echo %d: EOF after %d bytes" % (n, total))
            except OSError as e:
                say("echo %d: %s after %d bytes" % (n, e, total))

    n = 0
    while True:
        c, _ = ls.accept()
        n += 1
        threading.Thread(target=serve, args=(c, n), daemon=True).start()


# http server ----------------------------------------------------------------

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        say("http: %s %s" % (self.client_address[0], fmt % args))


def http_server(host, port, directory):
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))

    def handler(*a, **kw):
        return QuietHandler(*a, directory=directory, **kw)
    cls = http.server.ThreadingHTTPServer
    if ":" in host:
        class V6(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6
        cls = V6
    srv = cls((host, port), handler)
    say("http listening on %s:%d" % (host, port))
    srv.serve_forever()


# rounds -----------------------------------------------------------------

class Cut(Exception):
    pass


def recv_exact(s, n, deadline):
    out = bytearray()
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        s.settimeout(min(left, 1.0))
        try:
            data = s.recv(n - len(out))
        except socket.timeout:
            continue
        except OSError as e:
            raise Cut(type(e).__name__ + ": " + (e.strerror or str(e)))
        if not data:
            raise Cut("EOF")
        out += data
    return bytes(out)


def send_all(s, data, deadline):
    view = memoryview(data)
    while view:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        _, w, _ = select.select([], [s], [], min(left, 1.0))
        if not w:
            continue
        try:
            n = s.send(view)
        except BlockingIOError:
            continue
        except OSError as e:
            raise Cut(type(e).__name__ + ": " + (e.strerror or str(e)))
        view = view[n:]


def rounds(port, secs, deadline, block):
    rnd = random.Random(port)
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    n = 0
    checked = 0
    longest = 0.0
    say("rounds: connected")
    try:
        while time.monotonic() - t0 < secs:
            data = rnd.randbytes(rnd.randrange(1, block + 1))
            r0 = time.monotonic()
            end = r0 + deadline
            try:
                send_all(s, data, end)
                s.setblocking(True)
                back = recv_exact(s, len(data), end)
                s.setblocking(False)
            except TimeoutError:
                say("HANG: round %d got no answer within %d s (%.1f s "
                    "from the start)" % (n + 1, deadline, r0 - t0))
                return 1
            if back != data:
                say("FAIL: round %d: %d bytes came back different" %
                    (n + 1, len(data)))
                return 1
            n += 1
            checked += len(data)
            wait = time.monotonic() - r0
            if wait > longest:
                longest = wait
            if n == 1 or wait > 1.0:
                say("round %d: %d bytes back in %.3f s" % (n, len(data),
                                                          wait))
            time.sleep(0.1)
    except Cut as e:
        say("reset: %s after %d rounds, %.1f s" % (e, n,
                                                   time.monotonic() - t0))
        return 0
    s.close()
    say("ok: %d rounds, %d bytes checked, longest wait %.1f s" %
        (n, checked, longest))
    return 0


# idle ---------------------------------------------------------------------

def idle(port, host, secs, wait):
    s = socket.create_connection((host, port), timeout=10)
    rnd = random.Random(port)

    def one(tag):
        data = rnd.randbytes(1000)
        end = time.monotonic() + wait
        s.setblocking(False)
        send_all(s, data, end)
        s.setblocking(True)
        if recv_exact(s, len(data), end) != data:
            raise Cut("different bytes came back")

    try:
        one("first")
    except (Cut, TimeoutError) as e:
        say("FAIL: first round: %s" % (e or "timeout"))
        return 1
    say("idle: first round ok; silent for %g s" % secs)
    time.sleep(secs)
    try:
        one("second")
    except TimeoutError:
        say("idle: dead after %g s: no answer within %g s" % (secs, wait))
        return 0
    except Cut as e:
        say("idle: dead after %g s: %s" % (secs, e))
        return 0
    say("idle: alive after %g s" % secs)
    return 0


# stun server -----------------------------------------------------------------

STUN_COOKIE = 0x2112A442


def stun_server(ip1, ip2, port, alt_port):
    socks = {}
    for ip in (ip1, ip2):
        for p in (port, alt_port):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((ip, p))
            socks[(ip, p)] = s
    by_fd = {s.fileno(): key for key, s in socks.items()}
    say("stun ready")
    while True:
        ready, _, _ = select.select(list(socks.values()), [], [], 60)
        for s in ready:
            ip, p = by_fd[s.fileno()]
            data, (rip, rport) = s.recvfrom(2048)
            if len(data) < 20:
                continue
            mtype, mlen, cookie = struct.unpack("!HHI", data[:8])
            if mtype != 0x0001 or 20 + mlen > len(data):
                continue
            change = 0
            off = 20
            while off + 4 <= 20 + mlen:
                atype, alen = struct.unpack("!HH", data[off:off + 4])
                if atype == 0x0003 and alen == 4:
                    change = struct.unpack("!I", data[off + 4:off + 8])[0]
                off += 4 + (alen + 3) // 4 * 4
            out_ip = (ip2 if ip == ip1 else ip1) if change & 4 else ip
            out_p = (alt_port if p == port else port) if change & 2 else p
            raddr = socket.inet_aton(rip)
            xaddr = bytes(a ^ b for a, b in
                          zip(raddr, struct.pack("!I", STUN_COOKIE)))
            attrs = struct.pack("!HHBBH4s", 0x0001, 8, 0, 1, rport, raddr)
            attrs += struct.pack("!HHBBH4s", 0x0020, 8, 0, 1,
                                 rport ^ (STUN_COOKIE >> 16), xaddr)
            reply = struct.pack("!HHI", 0x0101, len(attrs), cookie)
            reply += data[8:20] + attrs
            socks[(out_ip, out_p)].sendto(reply, (rip, rport))
            say("stun %s:%d from %s:%d change %d" %
                (rip, rport, out_ip, out_p, change))


def main():
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--expect", choices=("open", "closed"))
    p.add_argument("targets", nargs="+")
    p = sub.add_parser("echo")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p = sub.add_parser("http")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("dir")
    p = sub.add_parser("rounds")
    p.add_argument("port", type=int)
    p.add_argument("--secs", type=float, required=True)
    p.add_argument("--deadline", type=float, required=True)
    p.add_argument("--block", type=int, default=4096)
    p = sub.add_parser("idle")
    p.add_argument("port", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--idle", type=float, required=True)
    p.add_argument("--wait", type=float, required=True)
    p = sub.add_parser("stun")
    p.add_argument("ip1")
    p.add_argument("ip2")
    p.add_argument("--port", type=int, default=3478)
    p.add_argument("--alt-port", type=int, default=3479)
    a = ap.parse_args()
    if a.cmd == "probe":
        sys.exit(probe(a.targets, a.timeout, a.expect))
    if a.cmd == "echo":
        echo_server(a.host, a.port)
    if a.cmd == "http":
        http_server(a.host, a.port, a.dir)
    if a.cmd == "rounds":
        sys.exit(rounds(a.port, a.secs, a.deadline, a.block))
    if a.cmd == "idle":
        sys.exit(idle(a.port, a.host, a.idle, a.wait))
    if a.cmd == "stun":
        stun_server(a.ip1, a.ip2, a.port, a.alt_port)


if __name__ == "__main__":
    main()
