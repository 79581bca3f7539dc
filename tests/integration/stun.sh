#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The server's STUN responder and the portal's reflexive UDP address.
#   - A plain RFC 5389 client (Python, here) gets its own address and port
#     back in XOR-MAPPED-ADDRESS, with its transaction id; a request
#     without the magic cookie (RFC 3489), a response, a truncated message
#     and junk get no answer.
#   - Answers are rate-limited per source address (stun.rate_per_source,
#     5 here: a burst of 10): of 40 requests sent at once from one address,
#     each from a fresh port, 10 or 11 are answered; netport status counts
#     the rest as over the rate limits; another address is still answered
#     (asking again after 300 ms, as a portal would, in case it shares the
#     first one's slot).
#   - A portal with direct paths learns its reflexive UDP address from the
#     port WELCOME names, from a UDP socket on its direct listener's port
#     number, logs it and shows it in netport status.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
port_echo=$(np_port)
pa_direct=$(np_port)
{
	echo "rules:"
	np_dp_rule echo pa "$port_echo" pb "$(np_port)"
} | np_policy

np_step "server: STUN on a UDP port of its own"
np_dp_server stun.rate_per_source=5
np_wait_log hub 'answering STUN on UDP port [0-9]+'
stun_port=$(np_log_line hub 'answering STUN on UDP port' | sed 's/.* port //')

np_step "a standard Binding request is answered; anything else is not"
python3 - "$stun_port" <<'EOF' || np_fail "the STUN responder misbehaved"
import os, socket, struct, sys
port = int(sys.argv[1])
COOKIE = 0x2112A442
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(1)
tid = os.urandom(12)
s.sendto(struct.pack("!HHI", 1, 0, COOKIE) + tid, ("127.0.0.1", port))
d = s.recv(600)
mtype, mlen, cookie = struct.unpack("!HHI", d[:8])
assert mtype == 0x0101 and cookie == COOKIE and d[8:20] == tid, d
assert mlen == len(d) - 20, "length"
off, got = 20, None
while off < len(d):
    atype, alen = struct.unpack("!HH", d[off:off + 4])
    if atype == 0x0020:
        fam, xport = struct.unpack("!xBH", d[off + 4:off + 8])
        addr = bytes(a ^ b for a, b in zip(d[off + 8:off + 12],
                                           struct.pack("!I", COOKIE)))
        got = (socket.inet_ntoa(addr), xport ^ (COOKIE >> 16))
    off += 4 + (alen + 3) // 4 * 4
assert got == s.getsockname(), (got, s.getsockname())
print("    answered: XOR-MAPPED-ADDRESS %s:%d" % got)
bad = [struct.pack("!HHI", 1, 0, 0) + tid,          # RFC 3489: no cookie
       struct.pack("!HHI", 0x0101, 0, COOKIE) + tid, # a response
       struct.pack("!HHI", 1, 8, COOKIE) + tid,      # length beyond
       b"GET / HTTP/1.0\r\n\r\n"]
for b in bad:
    s.sendto(b, ("127.0.0.1", port))
try:
    d = s.recv(600)
    sys.exit("answered a bad message: %r" % d)
except socket.timeout:
    pass
EOF

np_step "a flood from one address gets its burst, then nothing"
python3 - "$stun_port" <<'EOF' || np_fail "the STUN rate limit misbehaved"
import os, select, socket, struct, sys, time
port = int(sys.argv[1])
COOKIE = 0x2112A442


def request():
    return struct.pack("!HHI", 1, 0, COOKIE) + os.urandom(12)


socks = []
for i in range(40):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    s.sendto(request(), ("127.0.0.1", port))
# Each socket gets at most one answer; wait until 1 s has passed without
# one more.
answered, deadline = 0, time.monotonic() + 1
while socks and time.monotonic() < deadline:
    r, _, _ = select.select(socks, [], [], deadline - time.monotonic())
    for s in r:
        s.recv(600)
        socks.remove(s)
        answered += 1
        deadline = time.monotonic() + 1
print("    one address, 40 requests at once: %d answered" % answered)
assert 10 <= answered <= 11, answered
other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
other.bind(("127.0.0.2", 0))
other.settimeout(0.3)
for attempt in range(1, 6):
    other.sendto(request(), ("127.0.0.1", port))
    try:
        other.recv(600)
        break
    except socket.timeout:
        pass
else:
    sys.exit("another address got no answer in 5 tries")
print("    another address: answered (try %d)" % attempt)
EOF
"$NETPORT" status -c "$NP_TMP/hub.yaml" >"$NP_TMP/hub-st.txt" ||
    np_fail "netport status of the server failed"
grep -E '^  STUN on UDP port' "$NP_TMP/hub-st.txt" | sed 's/^ */    /'
limited=$(sed -nE 's/.*dropped, ([0-9]+) over the rate limits$/\1/p' "$NP_TMP/hub-st.txt")
[ "${limited:-0}" -ge 29 ] ||
    np_fail "status counts ${limited:-no} requests over the rate limits, expected at least 29"

np_step "a portal learns its reflexive UDP address"
NP_DIRECT=auto np_dp_portal pa 1 0 "direct.listen=127.0.0.1:$pa_direct"
np_wait_log pa "STUN: reflexive UDP address 127\\.0\\.0\\.1:$pa_direct \\(local port $pa_direct\\)"
"$NETPORT" status -c "$NP_TMP/pa.yaml" >"$NP_TMP/st.txt" ||
    np_fail "netport status failed"
grep -q "reflexive UDP address: 127\\.0\\.0\\.1:$pa_direct (STUN, local port $pa_direct)" \
    "$NP_TMP/st.txt" || np_fail "status shows no reflexive UDP address: $(cat "$NP_TMP/st.txt")"
sed -n '2,3p' "$NP_TMP/st.txt"
np_stop pa
np_stop hub
np_pass "STUN Binding answered (RFC 5389 only), rate-limited per source; a portal's reflexive UDP address learned and shown"
