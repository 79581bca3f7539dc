# SPDX-License-Identifier: MIT
"""The data plane of netport from the outside, for tests: the relay
handshake, a portal's end of the tunnel TLS, and the frames inside.

Tests use it to play a portal (or a relay) whose every byte they choose,
next to real daemons: present a ticket of their choice to the real relay,
accept a real portal's tunnel with a portal certificate and then send it
frames that a real portal never sends.  It follows docs/PROTOCOL.md
("Relay handshake" and "Tunnel"), with nothing but the standard library
and npctl (whose control connections keep answering PINGs whenever this
module waits).  Every wait has a timeout.
"""

import os
import select
import socket
import ssl
import struct
import time

import npctl
from npctl import fail

# Relay handshake statuses.
PAIRED, MALFORMED, BAD_SIGNATURE, EXPIRED, REPLAY, WRONG_RELAY, \
    PAIR_TIMEOUT, CAPACITY = range(8)

# Frames.
HDR = struct.Struct(">BBHI")
DATA, OPEN, WINDOW, RESET, PING, GOAWAY, DGRAM, ACK_FRAME, RESUME = range(9)
FIN, ACK = 1, 2
# The tunnel protocol both portals must name in ALPN.
ALPN = "netport-tunnel/3"
MAX_PAYLOAD = 16384
INITIAL_WINDOW = 256 * 1024
TYPE_NAMES = {DATA: "DATA", OPEN: "OPEN", WINDOW: "WINDOW", RESET: "RESET",
              PING: "PING", GOAWAY: "GOAWAY", DGRAM: "DGRAM",
              ACK_FRAME: "ACK", RESUME: "RESUME"}


def relay_hello(ticket, side, version=1, magic=b"NPR"):
    """The bytes a portal sends to the relay."""
    return magic + bytes([version, side]) + struct.pack(">H", len(ticket)) + \
        bytes(ticket)


def relay_dial(addr, side, ticket, timeout=5.0):
    """Connects to the relay and presents ticket for side (1 or 2)."""
    s = socket.create_connection(npctl.split_addr(addr), timeout=timeout)
    s.sendall(relay_hello(ticket, side))
    return s


def relay_status(s, timeout=5.0):
    """Reads the relay's 4-byte answer; returns the status, or None when
    the relay closed without answering.  Pumps the control connections."""
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < 4:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("no answer from the relay within %.1f s (have %r)" %
                 (timeout, got))
        r, _, _ = select.select([s], [], [], min(left, 0.05))
        npctl.pump(0)
        if not r:
            continue
        try:
            data = s.recv(4 - len(got))
        except ConnectionResetError:
            data = b""
        if not data:
            return None if not got else fail("relay answer cut: %r" % got)
        got += data
    if got[:3] != b"NPR":
        fail("relay answered %r" % got)
    return got[3]


def peer_uris(tls):
    cert = tls.getpeercert() or {}
    return [v for k, v in cert.get("subjectAltName", ()) if k == "URI"]


def portal_tls(sock, name, server_side, expect_peer=None, timeout=5.0,
               alpn=ALPN):
    """Runs the tunnel's TLS 1.3 handshake on sock as portal NAME (server
    side: as the acceptor), verifying the peer against the netport CA and,
    if given, that it is portal EXPECT_PEER.  alpn is the tunnel protocol
    named (None: none, as a portal of another version would)."""
    crt, key = npctl.cert("portal", name)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else
                         ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(crt, key)
    ctx.load_verify_locations(os.path.join(npctl.env("NP_CA"), "ca.crt"))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    if alpn is not None:
        ctx.set_alpn_protocols([alpn])
    sock.settimeout(timeout)
    tls = ctx.wrap_socket(sock, server_side=server_side)
    if expect_peer is not None:
        want = "netport://portal/%s" % expect_peer
        if want not in peer_uris(tls):
            fail("tunnel peer is %r, expected %s" % (peer_uris(tls), want))
    return tls


def frame(ftype, stream=0, payload=b"", flags=0, length=None):
    """One frame; length overrides the header's payload length."""
    return HDR.pack(ftype, flags, len(payload) if length is None else length,
                    stream) + payload


def data(stream, payload, fin=False):
    return frame(DATA, stream, payload, FIN if fin else 0)


def window(stream, increment):
    return frame(WINDOW, stream, struct.pack(">I", increment))


def reset(stream, code, reason=b""):
    return frame(RESET, stream, struct.pack(">H", code) + reason)


def resume(received, path_no):
    """RESUME: the bytes of the peer's sequence received, and the number
    of the initiator's path it is sent on."""
    return frame(RESUME, 0, struct.pack(">QI", received, path_no))


def ping(value, ack=False):
    return frame(PING, 0, struct.pack(">Q", value), ACK if ack else 0)


class Frame:
    def __init__(self, ftype, flags, stream, payload):
        self.type, self.flags, self.stream, self.payload = \
            ftype, flags, stream, payload

    @property
    def code(self):
        return struct.unpack_from(">H", self.payload)[0]

    @property
    def reason(self):
        return self.payload[2:].decode("ascii", "replace")

    @property
    def increment(self):
        return struct.unpack(">I", self.payload)[0]

    @property
    def rule(self):
        return self.payload[1:1 + self.payload[0]].decode("ascii")

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else \
            self.payload[:40] + b"...(%d)" % len(self.payload)
        return "%s(stream=%d, flags=%d, %r)" % (
            TYPE_NAMES.get(self.type, "TYPE%d" % self.type), self.stream,
            self.flags, p)


class Tunnel:
    """Frames over a portal TLS session.  Reading answers the peer's
    PINGs (unless mute) and tracks the credit the peer gives per stream."""

    def __init__(self, tls, label="tunnel"):
        self.tls = tls
        self.label = label
        self.buf = b""
        self.closed = None
        self.credit = {}	# stream -> bytes we may still send
        self.mute = False
        # The peer's ACKs are consumed here (the last value is kept):
        # this end keeps nothing for a replay, so it needs none of them.
        self.acked = 0
        # Bytes of the peer's sequence read (all frames but ACK and
        # RESUME): what a RESUME from this end says it received.
        self.rx_seq = 0
        tls.setblocking(False)

    def send(self, raw):
        view = memoryview(raw)
        deadline = time.monotonic() + 10
        while view:
            try:
                n = self.tls.send(view[:65536])
                view = view[n:]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                    BlockingIOError):
                if time.monotonic() > deadline:
                    fail("%s: cannot send for 10 s" % self.label)
                select.select([], [self.tls], [], 0.05)
                npctl.pump(0)

    def _fill(self, timeout):
        if self.closed:
            return False
        if not self.tls.pending():
            r, _, _ = select.select([self.tls], [], [], timeout)
            if not r:
                return True
        try:
            chunk = self.tls.recv(262144)
        except (ssl.SSLWantReadError, BlockingIOError):
            return True
        except ssl.SSLError as e:
            self.closed = "TLS: %s" % (e.reason or e)
            return False
        except OSError as e:
            self.closed = os.strerror(e.errno) if e.errno else str(e)
            return False
        if not chunk:
            self.closed = "EOF"
            return False
        self.buf += chunk
        return True

    def _take(self):
        if len(self.buf) < HDR.size:
            return None
        ftype, flags, n, stream = HDR.unpack_from(self.buf)
        if len(self.buf) < HDR.size + n:
            return None
        f = Frame(ftype, flags, stream, self.buf[HDR.size:HDR.size + n])
        self.buf = self.buf[HDR.size + n:]
        if f.type not in (ACK_FRAME, RESUME):
            self.rx_seq += HDR.size + n
        if f.type == ACK_FRAME and n == 8:
            self.acked = struct.unpack(">Q", f.payload)[0]
            return self._take()
        if f.type == PING and not f.flags & ACK and not self.mute:
            self.send(ping(struct.unpack(">Q", f.payload)[0], ack=True))
        if f.type == WINDOW:
            self.credit[f.stream] = self.credit.get(f.stream,
                                                    INITIAL_WINDOW) + \
                f.increment
        return f

    def read(self, timeout=5.0):
        """The next frame, or None once the tunnel is closed (see
        .closed); fails when nothing comes within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            f = self._take()
            if f is not None:
                return f
            left = deadline - time.monotonic()
            if left <= 0:
                fail("%s: no frame within %.1f s" % (self.label, timeout))
            npctl.pump(0)
            if not self._fill(min(left, 0.05)):
                f = self._take()
                return f

    def expect(self, pred, timeout=5.0, what="a frame"):
        """Reads until pred(frame); returns it.  Other frames are kept in
        .seen.  Fails at the deadline or if the tunnel closes first."""
        deadline = time.monotonic() + timeout
        self.seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("%s: no %s within %.1f s; saw %r" %
                     (self.label, what, timeout, self.seen[-10:]))
            f = self.read(left)
            if f is None:
                fail("%s closed (%s) while waiting for %s; saw %r" %
                     (self.label, self.closed, what, self.seen[-10:]))
            if pred(f):
                return f
            self.seen.append(f)

    def expect_closed(self, timeout=5.0):
        """Reads until the peer closes; returns the frames seen."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("%s: still open after %.1f s; saw %r" %
                     (self.label, timeout, seen[-10:]))
            f = self.read(left)
            if f is None:
                return seen
            seen.append(f)

    def sync(self, value, timeout=5.0):
        """Sends a PING and reads until its ACK: afterwards every frame the
        peer sent before it has been read (credit included)."""
        self.send(ping(value))
        return self.expect(lambda f: f.type == PING and f.flags & ACK and
                           struct.unpack(">Q", f.payload)[0] == value,
                           timeout, "PING ACK %d" % value)

    def close(self):
        try:
            self.tls.setblocking(True)
            self.tls.settimeout(1.0)
            self.tls.unwrap()
        except (OSError, ssl.SSLError, ValueError):
            pass
        try:
            self.tls.close()
        except OSError:
            pass


def recv_exactly(sock, n, timeout=10.0):
    """Reads n bytes from a plain blocking socket (pumping control)."""
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("got %d of %d bytes within %.1f s" % (len(got), n, timeout))
        r, _, _ = select.select([sock], [], [], min(left, 0.05))
        npctl.pump(0)
        if r:
            chunk = sock.recv(n - len(got))
            if not chunk:
                fail("EOF after %d of %d bytes" % (len(got), n))
            got += chunk
    return got


def wait_reset(sock, timeout=10.0):
    """Reads until the connection is reset; fails on a clean EOF or at the
    deadline.  Returns the bytes read before the reset."""
    got = b""
    deadline = time.monotonic() + timeout
    sock.setblocking(False)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("no reset within %.1f s (%d bytes read)" % (timeout,
                                                            len(got)))
        r, _, _ = select.select([sock], [], [], min(left, 0.05))
        npctl.pump(0)
        if not r:
            continue
        try:
            chunk = sock.recv(262144)
        except BlockingIOError:
            continue
        except ConnectionResetError:
            return got
        if not chunk:
            fail("clean EOF instead of a reset (%d bytes read)" % len(got))
        got += chunk
