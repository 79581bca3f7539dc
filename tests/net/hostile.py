# SPDX-License-Identifier: MIT
"""Hostile peers for tests/net/net_hostile.sh.

Each subcommand attacks one listener, prints one line per phase and a
summary line, bounds every wait, and exits 0 when it could carry out its
attack (whether the target held is for the test to judge, from these lines
and from the daemons' logs), 1 when it could not.

    hostile.py trickle ADDR NAME
        mutual TLS with the certificate of portal NAME, then, before any
        HELLO: (1) an oversized frame header, one byte every 0.3 s;
        (2) an oversized header followed by 8 MiB as fast as the server
        takes it; (3) 7 bytes of a header, then silence.  Prints how the
        server closed each.
    hostile.py drip ADDR NAME SECONDS
        mutual TLS as portal NAME, a header announcing a maximal (valid)
        frame, then its payload one byte per second for SECONDS; prints
        whether the server was still holding the connection at the end.
    hostile.py tlsflood ADDR COUNT SECONDS
        COUNT TCP connections at once, each sending the first 64 bytes of a
        ClientHello whose record announces 512; every connection the server
        closes is opened again, for SECONDS.  Says so once all COUNT have
        been opened and sent their bytes or been closed.
    hostile.py relayflood RELAY SERVER_NAME_CLIENT SERVER_NAME_SERVICE RULE
        at the relay's pairing port: garbage, tickets with bad signatures,
        handshakes that never finish, and valid tickets (asked for through
        the server as the two named portals, under RULE) presented by one
        side only, then again (replays).  Prints the relay's answers.

ADDR is host:port.  NP_CA and NP_SERVER_ADDR (for relayflood) come from the
environment, as for tests/npctl.py.
"""

import os
import random
import resource
import select
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import npctl  # noqa: E402


def say(*args):
    sys.stdout.write(" ".join(str(a) for a in args) + "\n")
    sys.stdout.flush()


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def split(addr):
    return npctl.split_addr(addr)


# trickle ---------------------------------------------------------------------

def conn(addr, name):
    crt, key = npctl.cert("portal", name)
    return npctl.Conn(addr, crt, key, label="portal/" + name)


def closed_within(c, secs):
    """Waits for the server to close c; returns how, or None."""
    end = time.monotonic() + secs
    c.sock.settimeout(0.2)
    while time.monotonic() < end:
        try:
            data = c.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except ssl.SSLError as e:
            return "TLS: %s" % (e.reason or e)
        except OSError as e:
            return os.strerror(e.errno) if e.errno else str(e)
        if not data:
            return "EOF"
    return None


def trickle(addr, name):
    hdr = npctl.HDR.pack(1, npctl.TYPES["HELLO"], 0xFFFF, 1)

    c = conn(addr, name)
    t0 = time.monotonic()
    for i, b in enumerate(hdr):
        try:
            c.sock.sendall(bytes([b]))
        except OSError as e:
            say("trickle: send of byte %d failed: %s" % (i + 1, e))
            return 1
        time.sleep(0.3)
    how = closed_within(c, 5)
    if how is None:
        say("trickle: FAIL: still open 5 s after the 8th byte")
        return 1
    say("trickle: closed by the server %.1f s after the first byte (%s)" %
        (time.monotonic() - t0, how))

    c = conn(addr, name)
    blob = os.urandom(1 << 20)
    sent = 0
    c.sock.settimeout(5)
    try:
        c.sock.sendall(hdr)
        while sent < 8 << 20:
            sent += c.sock.send(blob)
    except (OSError, ssl.SSLError) as e:
        how = "send: %s" % (e.strerror if isinstance(e, OSError) and
                             e.strerror else e)
    else:
        how = closed_within(c, 5)
    if how is None:
        say("blast: FAIL: the server took all 8 MiB after an oversized "
            "header and is still open")
        return 1
    say("blast: closed by the server after we pushed %d bytes (%s)" %
        (sent, how))

    c = conn(addr, name)
    c.sock.sendall(hdr[:7])
    t0 = time.monotonic()
    how = closed_within(c, 30)
    if how is None:
        say("stall: FAIL: still open 30 s after 7 bytes of a header")
        return 1
    say("stall: closed by the server %.1f s after 7 bytes of a header (%s)" %
        (time.monotonic() - t0, how))
    return 0


def drip(addr, name, secs):
    c = conn(addr, name)
    c.sock.sendall(npctl.HDR.pack(1, npctl.TYPES["HELLO"],
                                  npctl.MAX_PAYLOAD, 1))
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < secs:
        try:
            c.sock.sendall(b"\x01")
        except (OSError, ssl.SSLError) as e:
            say("drip: closed by the server after %.1f s, %d payload bytes "
                "(%s)" % (time.monotonic() - t0, n, e))
            return 0
        n += 1
        how = closed_within(c, 1.0)
        if how is not None:
            say("drip: closed by the server after %.1f s, %d payload bytes "
                "(%s)" % (time.monotonic() - t0, n, how))
            return 0
    say("drip: still open after %.1f s, %d of %d payload bytes, no HELLO" %
        (time.monotonic() - t0, n, npctl.MAX_PAYLOAD))
    return 0


# tlsflood ------------------------------------------------------------------

def partial_client_hello():
    body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + \
        b"\x01\x00" + os.urandom(400)
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    rec = b"\x16\x03\x01" + struct.pack(">H", 512) + hs
    return rec[:64]


def tlsflood(addr, count, secs):
    raise_nofile()
    target = split(addr)
    hello = partial_client_hello()
    socks = {}		# fd -> [socket, hello sent]
    poller = select.poll()
    opened = closed = errors = 0

    def open_one():
        nonlocal opened, errors
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(target)
        if err not in (0, 115):		# EINPROGRESS
            errors += 1
            s.close()
            return
        socks[s.fileno()] = [s, False]
        poller.register(s.fileno(), select.POLLOUT | select.POLLIN)
        opened += 1

    t0 = time.monotonic()
    for _ in range(count):
        open_one()
    held_max = 0
    announced = False
    while time.monotonic() - t0 < secs:
        for fd, ev in poller.poll(200):
            entry = socks.get(fd)
            if entry is None:
                continue
            s = entry[0]
            gone = False
            if ev & select.POLLOUT and not entry[1]:
                try:
                    s.send(hello)
                    entry[1] = True
                    poller.modify(fd, select.POLLIN)
                except OSError:
                    gone = True
            if not gone and ev & (select.POLLIN | select.POLLHUP |
                                  select.POLLERR):
                try:
                    gone = not s.recv(4096)
                except BlockingIOError:
                    pass
                except OSError:
                    gone = True
            if gone:
                poller.unregister(fd)
                del socks[fd]
                s.close()
                closed += 1
                open_one()
        held = sum(1 for _, sent in socks.values() if sent)
        held_max = max(held_max, held)
        # The server may keep only some (a per-source cap evicts the
        # oldest): the burst is out once each has been sent or closed.
        if not announced and opened >= count and held + closed >= count:
            say("tlsflood: burst of %d out: %d connections opened, %d "
                "half-open now" % (count, opened, held))
            announced = True
    say("tlsflood: done after %.1f s: %d connections opened, %d closed by "
        "the server, at most %d half-open at once, %d connect errors" %
        (time.monotonic() - t0, opened, closed, held_max, errors))
    for s, _ in socks.values():
        s.close()
    return 0 if announced else 1


# relayflood -----------------------------------------------------------------

STATUS = {0: "paired", 1: "malformed", 2: "bad signature", 3: "expired",
          4: "replay", 5: "other relay", 6: "pairing timeout",
          7: "at capacity"}


def npr(side, ticket):
    return b"NPR\x01" + bytes([side]) + struct.pack(">H", len(ticket)) + ticket


def run_batch(target, payloads, concurrency, hold=0.0, wait=10.0):
    """Sends each payload on its own connection, at most `concurrency` at
    once; returns {outcome: count}.  With hold, keeps each connection open
    (silent) that long after sending, unless the relay answers."""
    out = {}
    queue = list(payloads)
    live = {}
    poller = select.poll()

    def note(k):
        out[k] = out.get(k, 0) + 1

    def start():
        p = queue.pop()
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(target)
        if err not in (0, 115):
            note("connect error")
            s.close()
            return
        live[s.fileno()] = {"s": s, "p": p, "sent": False, "buf": b"",
                            "t": time.monotonic()}
        poller.register(s.fileno(), select.POLLOUT | select.POLLIN)

    end = time.monotonic() + wait + hold + 30
    while (queue or live) and time.monotonic() < end:
        while queue and len(live) < concurrency:
            start()
        for fd, ev in poller.poll(100):
            c = live.get(fd)
            if c is None:
                continue
            s = c["s"]
            done = None
            if ev & select.POLLOUT and not c["sent"]:
                try:
                    s.send(c["p"])
                    c["sent"] = True
                    c["t"] = time.monotonic()
                    poller.modify(fd, select.POLLIN)
                except OSError:
                    done = "closed before sending"
            if done is None and ev & (select.POLLIN | select.POLLHUP |
                                      select.POLLERR):
                try:
                    data = s.recv(16)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data:
                    c["buf"] += data
                    if len(c["buf"]) >= 4:
                        st = c["buf"][3]
                        done = ("status %d (%s)" %
                                (st, STATUS.get(st, "?"))
                                if c["buf"][:3] == b"NPR" else "bad reply")
                elif data is not None:
                    done = "closed without an answer"
            if done is None and c["sent"] and \
                    time.monotonic() - c["t"] > hold + wait:
                done = "no answer"
            if done is not None:
                note(done)
                poller.unregister(fd)
                del live[fd]
                s.close()
    for c in live.values():
        note("unfinished")
        c["s"].close()
    return out


def fmt(d):
    return ", ".join("%d %s" % (v, k) for k, v in sorted(d.items()))


def relayflood(relay, client, service, rule):
    raise_nofile()
    target = split(relay)
    rnd = random.Random(1)
    t0 = time.monotonic()
    say("relayflood: started")

    garbage = [rnd.randbytes(rnd.randrange(7, 300)) for _ in range(300)]
    say("garbage: %s" % fmt(run_batch(target, garbage, 32)))

    bogus = []
    for _ in range(1500):
        t = bytearray(rnd.randbytes(rnd.randrange(120, 297)))
        t[0] = 1
        bogus.append(npr(rnd.choice((1, 2)), bytes(t)))
    say("bogus tickets: %s" % fmt(run_batch(target, bogus, 48)))

    # Handshakes that never finish: more than the per-source cap at once.
    stuck = [b"NPR\x01\x01\x01\x00" + rnd.randbytes(10) for _ in range(100)]
    say("unfinished handshakes: %s" % fmt(run_batch(target, stuck, 100,
                                                    hold=20)))

    # Valid tickets, one side only, then the same again (replays).
    c = npctl.portal(client)
    s = npctl.portal(service)
    c.hello()
    s.hello()
    c.wait_rules()
    s.wait_rules()
    tickets = []
    for i in range(40):
        g = c.request(rule, 1000 + i, timeout=10)
        if g.type != "TUNNEL_GRANT":
            say("relayflood: FAIL: request %d: %r" % (i, g))
            return 1
        tickets.append(g.ticket)
    npctl.pump(0.1)
    say("unpaired valid tickets: %s" %
        fmt(run_batch(target, [npr(1, t) for t in tickets], 40, wait=30)))
    say("replayed tickets: %s" %
        fmt(run_batch(target, [npr(1, t) for t in tickets], 40)))
    c.close()
    s.close()
    say("relayflood: done after %.1f s" % (time.monotonic() - t0))
    return 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        if cmd == "trickle":
            sys.exit(trickle(args[0], args[1]))
        if cmd == "drip":
            sys.exit(drip(args[0], args[1], float(args[2])))
        if cmd == "tlsflood":
            sys.exit(tlsflood(args[0], int(args[1]), float(args[2])))
        if cmd == "relayflood":
            sys.exit(relayflood(args[0], args[1], args[2], args[3]))
    except npctl.TestFailure as e:
        say("FAIL: %s" % e)
        sys.exit(1)
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
