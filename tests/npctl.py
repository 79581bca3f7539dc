# SPDX-License-Identifier: MIT
"""A hand-made client of the netport control protocol, for tests.

It speaks docs/PROTOCOL.md from the outside, with nothing but the Python
standard library: mutual TLS with a certificate of the netport CA, the frame
and attribute encoding, PING answered with PONG, and raw bytes for the
garbage a real portal never sends.  Tests use it to play a portal or a relay
whose every message they choose, so that the server's decisions (grants,
denials, refusals, closes) can be checked exactly.

Every wait takes a timeout; nothing here blocks without a bound.  While one
connection is being waited on, every other open connection keeps answering
the server's PINGs, so a short dead-peer timeout does not close it.
"""

import os
import re
import select
import socket
import ssl
import struct
import sys
import time

VERSION = 1
HDR = struct.Struct(">BBHI")
MAX_PAYLOAD = 16384

TYPES = {
    "HELLO": 1, "WELCOME": 2, "PING": 3, "PONG": 4, "ERROR": 5,
    "RULES_BEGIN": 6, "RULE": 7, "RULES_END": 8, "TUNNEL_REQUEST": 9,
    "TUNNEL_GRANT": 10, "RELAY_LOAD": 11,
}
TYPE_NAMES = {v: k for k, v in TYPES.items()}

ERRORS = {
    "BAD_REQUEST": 1, "DENIED": 2, "UNKNOWN_RULE": 3, "PEER_OFFLINE": 4,
    "NO_RELAY": 5, "EXPIRED": 6, "INTERNAL": 7, "VERSION": 8, "REVOKED": 9,
    "SHUTDOWN": 10,
}

# tag, name, kind (str, u8, u16, u32, u64, fixed:N, bytes, strs)
ATTRS = [
    (1, "software", "str"), (2, "keepalive_ms", "u32"),
    (3, "dead_ms", "u32"), (4, "time_ms", "u64"),
    (5, "ticket_key", "fixed"), (6, "nonce", "u64"), (7, "code", "u16"),
    (8, "message", "str"), (9, "generation", "u64"), (10, "count", "u32"),
    (11, "rule", "str"), (12, "side", "u8"), (13, "ipproto", "u8"),
    (14, "listen", "str"), (15, "peer", "str"), (16, "target", "str"),
    (17, "expires", "u64"), (18, "tunnel_id", "fixed"), (19, "relay", "str"),
    (20, "ticket", "bytes"), (21, "advertise", "strs"),
    (22, "capacity", "u32"), (23, "tunnels", "u32"), (24, "bytes", "u64"),
    (25, "relay_name", "str"),
]
ATTR_BY_NAME = {name: (tag, kind) for tag, name, kind in ATTRS}
ATTR_BY_TAG = {tag: (name, kind) for tag, name, kind in ATTRS}
INT_FMT = {"u8": ">B", "u16": ">H", "u32": ">I", "u64": ">Q"}


class TestFailure(Exception):
    pass


def fail(msg):
    raise TestFailure(msg)


def env(name):
    v = os.environ.get(name)
    if not v:
        fail("environment variable %s is not set" % name)
    return v


def attr(tag, value):
    """One raw attribute: u8 tag, u16 length, value bytes."""
    return struct.pack(">BH", tag, len(value)) + value


def encode_attrs(attrs):
    out = b""
    for name, value in attrs.items():
        tag, kind = ATTR_BY_NAME[name]
        if kind in INT_FMT:
            out += attr(tag, struct.pack(INT_FMT[kind], value))
        elif kind == "str":
            out += attr(tag, value.encode("ascii"))
        elif kind == "strs":
            for v in value:
                out += attr(tag, v.encode("ascii"))
        else:
            out += attr(tag, bytes(value))
    return out


def frame(mtype, mid=0, payload=b"", version=VERSION, length=None):
    """A raw frame; length overrides the payload length in the header."""
    if isinstance(mtype, str):
        mtype = TYPES[mtype]
    if length is None:
        length = len(payload)
    return HDR.pack(version, mtype, length, mid) + payload


def encode(mtype, mid=0, **attrs):
    return frame(mtype, mid, encode_attrs(attrs))


class Msg:
    """A decoded message: .type (name), .id, and one field per attribute."""

    def __init__(self, mtype, mid, fields):
        self.type = TYPE_NAMES.get(mtype, "TYPE%d" % mtype)
        self.id = mid
        self.fields = fields

    def __getattr__(self, name):
        if name in ATTR_BY_NAME:
            return self.fields.get(name)
        raise AttributeError(name)

    def __repr__(self):
        return "%s(id=%d, %s)" % (self.type, self.id, ", ".join(
            "%s=%r" % kv for kv in sorted(self.fields.items())))


def decode_payload(payload):
    fields = {}
    off = 0
    while off < len(payload):
        if off + 3 > len(payload):
            fail("truncated attribute header from the server")
        tag, n = struct.unpack_from(">BH", payload, off)
        off += 3
        value = payload[off:off + n]
        if len(value) != n:
            fail("truncated attribute value from the server")
        off += n
        if tag not in ATTR_BY_TAG:
            continue
        name, kind = ATTR_BY_TAG[tag]
        if kind in INT_FMT:
            fields[name] = struct.unpack(INT_FMT[kind], value)[0]
        elif kind == "str":
            fields[name] = value.decode("ascii")
        elif kind == "strs":
            fields.setdefault(name, []).append(value.decode("ascii"))
        else:
            fields[name] = value
    return fields


def parse_ticket(t):
    """Splits a ticket (docs/PROTOCOL.md, "Tickets") into its fields."""
    if len(t) < 1 + 8 + 16 + 16 + 3 + 64 or t[0] != 1:
        fail("ticket of %d bytes, version %d" % (len(t), t[0] if t else -1))
    out = {"version": t[0], "key_id": t[1:9], "tunnel_id": t[9:25]}
    out["issued"], out["expires"] = struct.unpack_from(">QQ", t, 25)
    off = 41
    for name in ("relay", "initiator", "acceptor"):
        n = t[off]
        out[name] = t[off + 1:off + 1 + n].decode("ascii")
        off += 1 + n
    out["signature"] = t[off:]
    if len(out["signature"]) != 64:
        fail("ticket signature is %d bytes" % len(out["signature"]))
    return out


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class Closed(Exception):
    pass


_open = []


class Conn:
    """A mutual-TLS control connection to the server.

    The handshake is done by the constructor.  In TLS 1.3 the client
    finishes its handshake before the server has judged the client's
    certificate, so a refusal shows up as an alert on the first read: see
    expect_closed().
    """

    def __init__(self, addr, cert=None, key=None, ca=None, label=None,
                 timeout=5.0, rcvbuf=0):
        self.label = label or (os.path.basename(cert) if cert else "anon")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.load_verify_locations(ca or os.path.join(env("NP_CA"), "ca.crt"))
        if cert:
            ctx.load_cert_chain(cert, key)
        if rcvbuf:
            # Set before connect, so that the window is that small.
            host, port = split_addr(addr)
            raw = socket.socket(socket.AF_INET6 if ":" in host else
                                socket.AF_INET, socket.SOCK_STREAM)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            raw.settimeout(timeout)
            raw.connect((host, port))
        else:
            raw = socket.create_connection(split_addr(addr),
                                           timeout=timeout)
        self.local_port = raw.getsockname()[1]
        try:
            self.sock = ctx.wrap_socket(raw)
        except Exception:
            raw.close()
            raise
        self.sock.settimeout(1.0)
        self.buf = b""
        self.inbox = []
        self.closed = None  # the reason, once closed
        self.welcome = None
        self.rules = None  # (generation, [RULE...]) last set received
        self.rule_sets = 0
        self._incoming = None
        self.mute = False  # True: do not answer PINGs (play dead)
        self.pings = 0  # PINGs the server sent us
        _open.append(self)

    def __repr__(self):
        return "<%s :%d>" % (self.label, self.local_port)

    def send_raw(self, data):
        if self.closed:
            raise Closed(self.closed)
        try:
            self.sock.settimeout(5.0)
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as e:
            self._close("send: %s" % e)
            raise Closed(self.closed)
        finally:
            if not self.closed:
                self.sock.settimeout(1.0)

    def send(self, mtype, mid=0, **attrs):
        self.send_raw(encode(mtype, mid, **attrs))

    def close(self):
        """Closes cleanly: TLS close_notify, then the socket."""
        if self.closed:
            return
        try:
            self.sock.settimeout(1.0)
            self.sock.unwrap()
        except (OSError, ssl.SSLError, ValueError):
            pass
        self._close("closed by the test")

    def _close(self, why):
        self.closed = why
        try:
            self.sock.close()
        except OSError:
            pass
        if self in _open:
            _open.remove(self)

    def _read(self):
        """Reads what is there; returns False once the connection is gone."""
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except ssl.SSLError as e:
            self._close("TLS: %s" % (e.reason or e))
            return False
        except OSError as e:
            self._close(os.strerror(e.errno) if e.errno else str(e))
            return False
        if not data:
            self._close("EOF")
            return False
        self.buf += data
        while len(self.buf) >= HDR.size:
            ver, mtype, n, mid = HDR.unpack_from(self.buf)
            if len(self.buf) < HDR.size + n:
                break
            payload = self.buf[HDR.size:HDR.size + n]
            self.buf = self.buf[HDR.size + n:]
            if ver != VERSION:
                fail("%r: server sent a frame of version %d" % (self, ver))
            self._dispatch(Msg(mtype, mid, decode_payload(payload)))
        return True

    def _dispatch(self, m):
        if m.type == "PING":
            self.pings += 1
            if self.mute:
                return
            try:
                self.send("PONG", 0, nonce=m.nonce)
            except Closed:
                pass
            return
        if m.type == "RULES_BEGIN":
            self._incoming = (m.generation, m.count, [])
        elif m.type == "RULE" and self._incoming:
            self._incoming[2].append(m)
        elif m.type == "RULES_END" and self._incoming:
            gen, count, rules = self._incoming
            if gen != m.generation or count != len(rules):
                fail("%r: rule set %d announced %d rules, got %d" %
                     (self, gen, count, len(rules)))
            self.rules = (gen, rules)
            self.rule_sets += 1
            self._incoming = None
        self.inbox.append(m)

    def take(self, mtype=None, pred=None):
        for i, m in enumerate(self.inbox):
            if (mtype is None or m.type == mtype) and (pred is None or
                                                        pred(m)):
                return self.inbox.pop(i)
        return None

    def expect(self, mtype, timeout=5.0, pred=None):
        """Waits for a message of mtype (and pred), keeping others."""
        got = []

        def ready():
            m = self.take(mtype, pred)
            if m is not None:
                got.append(m)
                return True
            if self.closed:
                fail("%r closed (%s) while waiting for %s; inbox %r" %
                     (self, self.closed, mtype, self.inbox))
            return False

        if not pump_until(ready, timeout):
            fail("%r: no %s within %.1f s; inbox %r" %
                 (self, mtype, timeout, self.inbox))
        return got[0]

    def expect_closed(self, timeout=5.0):
        """Waits until the server closes; returns the reason seen."""
        if not pump_until(lambda: self.closed is not None, timeout,
                          conns=[self] + [c for c in _open if c is not self]):
            fail("%r: still open after %.1f s; inbox %r" %
                 (self, timeout, self.inbox))
        return self.closed

    def hello(self, timeout=5.0, **attrs):
        """Sends HELLO and waits for WELCOME."""
        attrs.setdefault("software", "npctl test client")
        self.send("HELLO", 0, **attrs)
        self.welcome = self.expect("WELCOME", timeout)
        return self.welcome

    def wait_rules(self, sets=1, timeout=5.0):
        """Waits until `sets` rule sets in all have been received."""
        if not pump_until(lambda: self.rule_sets >= sets or self.closed,
                          timeout) or self.rule_sets < sets:
            fail("%r: %d rule sets after %.1f s, expected %d (%s)" %
                 (self, self.rule_sets, timeout, sets, self.closed or
                  "open"))
        return self.rules

    def request(self, rule, mid, timeout=5.0):
        """TUNNEL_REQUEST; returns the reply (GRANT or ERROR) with that id."""
        self.send("TUNNEL_REQUEST", mid, rule=rule)
        return self.expect(None, timeout, pred=lambda m: m.id == mid and
                           m.type in ("TUNNEL_GRANT", "ERROR"))


def pump(timeout, conns=None):
    """Reads from every open connection for up to timeout seconds."""
    conns = [c for c in (conns or _open) if not c.closed]
    if not conns:
        time.sleep(min(timeout, 0.05))
        return
    ready = [c for c in conns if c.sock.pending()]
    if not ready:
        r, _, _ = select.select([c.sock for c in conns], [], [],
                                max(timeout, 0))
        ready = [c for c in conns if c.sock in r]
    for c in ready:
        c._read()


def pump_until(pred, timeout, conns=None):
    """Pumps until pred() is true; False when timeout passed first."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        pump(min(left, 0.05), conns)


def idle(seconds):
    """Lets time pass while every open connection keeps answering PINGs."""
    pump_until(lambda: False, seconds)


def log_path(name):
    return os.path.join(env("NP_TMP"), name + ".log")


def log_count(name, regex):
    try:
        with open(log_path(name), errors="replace") as f:
            return sum(1 for line in f if re.search(regex, line))
    except FileNotFoundError:
        return 0


def wait_log(name, regex, timeout=10.0, count=1):
    """Waits for count lines of NAME.log matching regex; returns the last."""
    def ready():
        return log_count(name, regex) >= count
    if not pump_until(ready, timeout):
        fail("%s.log: %d line(s) matching /%s/ after %.1f s, expected %d" %
             (name, log_count(name, regex), regex, timeout, count))
    with open(log_path(name), errors="replace") as f:
        return [line for line in f if re.search(regex, line)][count - 1]


def cert(role, name):
    """Paths of a certificate issued by np_cert: (crt, key)."""
    base = os.path.join(env("NP_CA"), "certs", "%s-%s" % (role, name))
    return base + ".crt", base + ".key"


def portal(name, addr=None, **kw):
    """A connection with the certificate of portal NAME."""
    crt, key = cert("portal", name)
    kw.setdefault("label", "portal/" + name)
    return Conn(addr or env("NP_SERVER_ADDR"), crt, key, **kw)


def run(main):
    """Runs a test body; a failure prints one line and exits 1."""
    try:
        main()
    except TestFailure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
    finally:
        for c in list(_open):
            c.close()
