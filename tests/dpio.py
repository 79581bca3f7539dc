# SPDX-License-Identifier: MIT
"""Applications at both ends of a netport tunnel, for the data-plane tests.

Servers stand behind the service portal (the targets of rules), clients
connect to the client portal's listeners.  Every program prints one line
per event, so that a test can wait for it in the program's log, and the
result lines carry the byte count, the SHA-256 of the bytes and the rate,
so that the two ends of a transfer can be compared.

    python3 dpio.py echo PORT [--collect]   echo server (--collect: read to
                                            EOF, then send it all back)
    python3 dpio.py source PORT BYTES       sends BYTES to each connection
    python3 dpio.py sink PORT               reads each connection to EOF
    python3 dpio.py talk PORT BYTES         sends BYTES, shuts down its
                                            sending side, reads to EOF
    python3 dpio.py http PORT DIR           HTTP file server
    python3 dpio.py put PORT BYTES          client: sends BYTES, then EOF
    python3 dpio.py get PORT                client: reads to EOF
        --progress N: print "progress: N bytes" once N bytes have passed
        --cut: the transfer is expected to end early (reset or EOF); print
               "cut: HOW after N bytes" and exit 0
    python3 dpio.py many PORT N MIN MAX     client: N echo streams at once

Servers stop with status 0 on SIGTERM.  Every socket operation has a
timeout and every client a deadline (--timeout), so nothing here can hang a
test.  Data comes from Pattern: a random block, with the block's sequence
number stamped into each copy, so that a lost, repeated or reordered block
changes the digest.
"""

import argparse
import hashlib
import http.server
import os
import random
import selectors
import signal
import socket
import struct
import sys
import threading
import time

MIB = 1024 * 1024
_say_lock = threading.Lock()


def say(*args):
    """Prints one whole line (threads never interleave their lines)."""
    line = " ".join(str(a) for a in args) + "\n"
    with _say_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


class Pattern:
    """Test data: copies of one random block, each stamped with its index."""

    def __init__(self, seed=0, block=256 * 1024):
        self.block = bytearray(random.Random(seed).randbytes(block))

    def chunks(self, total):
        view = memoryview(self.block)
        i = 0
        while total > 0:
            n = min(total, len(self.block))
            struct.pack_into(">Q", self.block, 0, i)
            yield view[:n]
            total -= n
            i += 1

    def bytes(self, total):
        return b"".join(bytes(c) for c in self.chunks(total))


def rate(nbytes, secs):
    return nbytes / MIB / secs if secs > 0 else float("inf")


def result(prefix, nbytes, digest, secs, extra=""):
    say("%s %d bytes sha256 %s in %.3f s (%.1f MiB/s)%s" %
        (prefix, nbytes, digest, secs, rate(nbytes, secs), extra))


def listener(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(512)
    return ls


def serve(port, name, handler):
    """Accepts forever, one thread per connection; SIGTERM exits 0."""
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    ls = listener(port)
    say("%s listening on 127.0.0.1:%d" % (name, port))
    n = 0
    while True:
        c, peer = ls.accept()
        n += 1
        c.settimeout(120)
        threading.Thread(target=handler, args=(c, n), daemon=True).start()


def read_to_eof(c, h=None):
    """Reads c to EOF; returns the byte count (and updates h)."""
    n = 0
    while True:
        data = c.recv(MIB)
        if not data:
            return n
        n += len(data)
        if h is not None:
            h.update(data)


# Servers ---------------------------------------------------------------

def echo_stream(c, n):
    total = 0
    try:
        with c:
            while True:
                data = c.recv(256 * 1024)
                if not data:
                    break
                c.sendall(data)
                total += len(data)
            c.shutdown(socket.SHUT_WR)
            say("echo %d: %d bytes echoed, EOF passed on" % (n, total))
    except OSError as e:
        say("echo %d: %s after %d bytes" % (n, e, total))


def echo_collect(c, n):
    buf = []
    try:
        with c:
            while True:
                data = c.recv(256 * 1024)
                if not data:
                    break
                buf.append(data)
            data = b"".join(buf)
            say("echo %d: EOF after %d bytes sha256 %s; sending them back" %
                (n, len(data), hashlib.sha256(data).hexdigest()))
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            say("echo %d: sent %d bytes back and closed" % (n, len(data)))
    except OSError as e:
        say("echo %d: %s" % (n, e))


def source(size):
    def handler(c, n):
        h = hashlib.sha256()
        sent = 0
        t0 = time.monotonic()
        try:
            with c:
                for chunk in Pattern(n).chunks(size):
                    c.sendall(chunk)
                    h.update(chunk)
                    sent += len(chunk)
                c.shutdown(socket.SHUT_WR)
                result("source %d: sent" % n, sent, h.hexdigest(),
                       time.monotonic() - t0)
        except OSError as e:
            say("source %d: %s after %d bytes" % (n, e, sent))
    return handler


def sink(c, n):
    h = hashlib.sha256()
    t0 = time.monotonic()
    got = 0
    try:
        with c:
            while True:
                data = c.recv(MIB)
                if not data:
                    break
                got += len(data)
                h.update(data)
            result("sink %d: received" % n, got, h.hexdigest(),
                   time.monotonic() - t0)
    except OSError as e:
        say("sink %d: %s after %d bytes" % (n, e, got))


def talk(size):
    """Speaks first: BYTES, then EOF; then listens to the end."""
    def handler(c, n):
        h = hashlib.sha256()
        sent = 0
        t0 = time.monotonic()
        try:
            with c:
                for chunk in Pattern(n).chunks(size):
                    c.sendall(chunk)
                    h.update(chunk)
                    sent += len(chunk)
                c.shutdown(socket.SHUT_WR)
                result("talk %d: sent" % n, sent, h.hexdigest(),
                       time.monotonic() - t0, ", then EOF")
                h = hashlib.sha256()
                t0 = time.monotonic()
                got = read_to_eof(c, h)
                result("talk %d: received" % n, got, h.hexdigest(),
                       time.monotonic() - t0)
        except OSError as e:
            say("talk %d: %s" % (n, e))
    return handler


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        say("http: " + fmt % args)


def http_serve(port, directory):
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))

    def handler(*a, **kw):
        return QuietHandler(*a, directory=directory, **kw)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    say("http listening on 127.0.0.1:%d" % port)
    srv.serve_forever()


# Clients ---------------------------------------------------------------

def connect(port, timeout):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


class Progress:
    """Prints "progress: N bytes" once, when N bytes have passed."""

    def __init__(self, mark):
        self.mark = mark
        self.done = not mark

    def add(self, n):
        if not self.done and n >= self.mark:
            self.done = True
            say("progress: %d bytes" % n)


def cut(what, n, t0, e=None):
    """A transfer ended early, as expected with --cut."""
    say("cut: %s after %d bytes, %.3f s from the start" %
        (type(e).__name__ if e else what, n, time.monotonic() - t0))


def put(port, size, timeout, mark=0, expect_cut=False, rate=0):
    """Sends size bytes; with rate (MiB/s), no faster than that."""
    h = hashlib.sha256()
    t0 = time.monotonic()
    sent = 0
    prog = Progress(mark)
    with connect(port, timeout) as c:
        try:
            for chunk in Pattern(1).chunks(size):
                if rate:
                    ahead = sent / (rate * MIB) - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
                c.sendall(chunk)
                h.update(chunk)
                sent += len(chunk)
                prog.add(sent)
            c.shutdown(socket.SHUT_WR)
            secs = time.monotonic() - t0
            # The sink closes once it has everything.
            extra = read_to_eof(c)
        except OSError as e:
            if expect_cut:
                cut("error", sent, t0, e)
                return
            raise
    if expect_cut:
        say("FAIL: put: the transfer was not cut")
        sys.exit(1)
    result("put: sent", size, h.hexdigest(), secs,
           ", then %d bytes and EOF" % extra)


def get(port, timeout, mark=0, expect_cut=False):
    h = hashlib.sha256()
    t0 = time.monotonic()
    got = 0
    prog = Progress(mark)
    with connect(port, timeout) as c:
        try:
            while True:
                data = c.recv(MIB)
                if not data:
                    break
                got += len(data)
                h.update(data)
                prog.add(got)
        except OSError as e:
            if expect_cut:
                cut("error", got, t0, e)
                return
            raise
    if expect_cut:
        # A clean EOF is a cut too when it comes early: the test compares
        # the count with what the source had to send.
        cut("EOF", got, t0)
        return
    result("get: received", got, h.hexdigest(), time.monotonic() - t0)


def many(port, count, lo, hi, timeout):
    """count connections at once, each sending its own random payload
    through an echo server and checking what comes back."""
    rnd = random.Random(count * 7919 + lo)
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    conns = []
    for i in range(count):
        size = rnd.randrange(lo, hi + 1)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setblocking(False)
        payload = rnd.randbytes(size)
        st = {"i": i, "sock": s, "out": memoryview(payload), "off": 0,
              "want": hashlib.sha256(payload).hexdigest(), "size": size,
              "h": hashlib.sha256(), "got": 0, "eof": False,
              "shut": False}
        conns.append(st)
    say("many: %d connections open, %d bytes to send" %
        (count, sum(c["size"] for c in conns)))
    t0 = time.monotonic()
    for st in conns:
        sel.register(st["sock"], selectors.EVENT_READ | selectors.EVENT_WRITE,
                     st)
    live = count
    while live:
        if time.monotonic() > deadline:
            left = [c["i"] for c in conns if not c["eof"]]
            say("FAIL: many: %d streams unfinished after %d s: %r" %
                (len(left), timeout, left[:20]))
            sys.exit(1)
        for key, ev in sel.select(1.0):
            st = key.data
            s = st["sock"]
            if ev & selectors.EVENT_WRITE and not st["shut"]:
                try:
                    n = s.send(st["out"][st["off"]:st["off"] + 65536])
                except BlockingIOError:
                    n = 0
                st["off"] += n
                if st["off"] == st["size"]:
                    s.shutdown(socket.SHUT_WR)
                    st["shut"] = True
                    sel.modify(s, selectors.EVENT_READ, st)
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(262144)
                except BlockingIOError:
                    continue
                except OSError as e:
                    say("FAIL: many: stream %d: %s after %d of %d bytes" %
                        (st["i"], e, st["got"], st["size"]))
                    sys.exit(1)
                if data:
                    st["got"] += len(data)
                    st["h"].update(data)
                    continue
                st["eof"] = True
                sel.unregister(s)
                s.close()
                live -= 1
                if not st["shut"]:
                    say("FAIL: many: stream %d: EOF before all was sent" %
                        st["i"])
                    sys.exit(1)
    secs = time.monotonic() - t0
    bad = [c for c in conns if c["h"].hexdigest() != c["want"] or
           c["got"] != c["size"]]
    for c in bad[:10]:
        say("FAIL: many: stream %d sent %d bytes sha256 %s, got back %d "
            "bytes sha256 %s" % (c["i"], c["size"], c["want"], c["got"],
                                 c["h"].hexdigest()))
    total = sum(c["size"] for c in conns)
    say("many: %d of %d streams intact, %d bytes each way in %.3f s "
        "(%.1f MiB/s each way)" % (count - len(bad), count, total, secs,
                                   rate(total, secs)))
    if bad:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=60)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("echo")
    p.add_argument("port", type=int)
    p.add_argument("--collect", action="store_true")
    p = sub.add_parser("source")
    p.add_argument("port", type=int)
    p.add_argument("size", type=int)
    p = sub.add_parser("sink")
    p.add_argument("port", type=int)
    p = sub.add_parser("talk")
    p.add_argument("port", type=int)
    p.add_argument("size", type=int)
    p = sub.add_parser("http")
    p.add_argument("port", type=int)
    p.add_argument("dir")
    p = sub.add_parser("put")
    p.add_argument("port", type=int)
    p.add_argument("size", type=int)
    p.add_argument("--progress", type=int, default=0, metavar="BYTES")
    p.add_argument("--cut", action="store_true")
    p.add_argument("--rate", type=float, default=0, metavar="MIB_PER_S")
    p = sub.add_parser("get")
    p.add_argument("port", type=int)
    p.add_argument("--progress", type=int, default=0, metavar="BYTES")
    p.add_argument("--cut", action="store_true")
    p = sub.add_parser("many")
    p.add_argument("port", type=int)
    p.add_argument("count", type=int)
    p.add_argument("min", type=int)
    p.add_argument("max", type=int)
    a = ap.parse_args()

    if a.cmd == "echo":
        serve(a.port, "echo", echo_collect if a.collect else echo_stream)
    elif a.cmd == "source":
        serve(a.port, "source", source(a.size))
    elif a.cmd == "sink":
        serve(a.port, "sink", sink)
    elif a.cmd == "talk":
        serve(a.port, "talk", talk(a.size))
    elif a.cmd == "http":
        http_serve(a.port, a.dir)
    else:
        # A client: the whole run has a deadline.
        signal.signal(signal.SIGALRM, lambda *x: (
            say("FAIL: %s: no result within %d s" % (a.cmd, a.timeout)),
            os._exit(1)))
        signal.alarm(int(a.timeout) + 1)
        try:
            if a.cmd == "put":
                put(a.port, a.size, a.timeout, a.progress, a.cut, a.rate)
            elif a.cmd == "get":
                get(a.port, a.timeout, a.progress, a.cut)
            elif a.cmd == "many":
                many(a.port, a.count, a.min, a.max, a.timeout)
        except OSError as e:
            say("error: %s: %s" % (type(e).__name__, e))
            sys.exit(3)


if __name__ == "__main__":
    main()
