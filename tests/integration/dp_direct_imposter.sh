#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A portal that answers a direct dial with the wrong certificate is
# refused, and its path is never used.
#
# Rule echo: client pa -> service pb (an echo server behind pb), both with
# direct.mode auto.  pb announces the candidate 127.0.0.2 with its
# listener's port, but listens on 127.0.0.4: at 127.0.0.2 an imposter
# (Python, below) waits instead.  It holds a valid certificate of the same
# CA, of another portal (mallory); it reads the relay handshake pa sends,
# answers "NPR" 0 (paired) as a real direct listener would, and runs the
# tunnel's TLS 1.3 as the acceptor (TLS server, client certificate
# required, the tunnel's ALPN).  pa (initiator, TLS client) must refuse it:
# netport status shows the attempt "peer is portal/mallory, expected
# portal/pb", the tunnel "stays on relay", again at the next direct.retry,
# and never goes direct; the imposter's TLS handshake fails, and it never
# gets a byte of the tunnel.  Echoes through the rule work before the
# first attempt, after it and after the retry, on the same relayed tunnel.
#
# Nothing may make a genuine direct path by another way: pa's listener is
# on 127.0.0.4 and it announces 127.0.0.3, and the server's reflexive
# candidates (the sessions come from 127.0.0.1, with the listeners' ports)
# lead to nothing either, so every other direct dial is refused.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki mallory
port_echo=$(np_port)
echo_port=$(np_port)
pa_direct=$(np_port)
pb_direct=$(np_port)
{
	echo "rules:"
	np_dp_rule echo pa "$port_echo" pb "$echo_port"
} | np_policy

echo_once() {
	np_dp_echo_once "$port_echo" "$1"
}

# pa's status, until its tunnel to pb shows the refused attempt (a retry
# under way shows it "connecting" for a moment).
pa_status_refused() {
	local deadline=$(($(np__now_ms) + 10000)) out=$NP_TMP/status.txt
	while :; do
		"$NETPORT" status -c "$NP_TMP/pa.yaml" >"$out" 2>&1 || true
		grep -Eq " 127\\.0\\.0\\.2:$pb_direct: TLS handshake with the peer failed: peer is portal/mallory, expected portal/pb\$" "$out" &&
		    grep -q 'not direct: no direct attempt succeeded' "$out" &&
		    break
		[ "$(np__now_ms)" -lt "$deadline" ] || {
			cat "$out" >&2
			np_fail "status does not show the refused attempt to 127.0.0.2:$pb_direct"
		}
		sleep 0.2
	done
	# No attempt of this tunnel ever came up.
	if grep -Eq ': (up|chosen)$' "$out"; then
		cat "$out" >&2
		np_fail "status shows a direct attempt that came up"
	fi
}

cat >"$NP_TMP/imposter.py" <<'EOF'
# The imposter: a direct listener that pairs any ticket, then runs the
# tunnel's TLS as acceptor with a valid certificate of the wrong portal.
import os, signal, socket, ssl, struct, sys
sys.path.insert(0, os.environ["NP_TESTS"])
import dptun

host, port, crt, key, ca = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))


def say(msg):
    print("imposter: " + msg, flush=True)


def recv_exactly(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += d
    return b


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(crt, key)
ctx.load_verify_locations(ca)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.set_alpn_protocols([dptun.ALPN])


def serve(c, n, peer):
    # Exactly the handshake: "NPR" 1 side u16-length ticket.
    hdr = recv_exactly(c, 7)
    if hdr[:4] != b"NPR\x01":
        say("conn %d: not a relay handshake: %r" % (n, hdr))
        return
    ticket = recv_exactly(c, struct.unpack(">H", hdr[5:7])[0])
    say("conn %d: handshake from %s:%d, side %d, ticket of %d bytes" %
        (n, peer[0], peer[1], hdr[4], len(ticket)))
    c.sendall(b"NPR\x00")
    say("conn %d: answered paired" % n)
    try:
        tls = ctx.wrap_socket(c, server_side=True)
    except (ssl.SSLError, OSError) as e:
        say("conn %d: TLS failed: %s" % (n, e))
        return
    say("conn %d: TLS done with %r" % (n, dptun.peer_uris(tls)))
    got = 0
    try:
        while True:
            d = tls.recv(65536)
            if not d:
                break
            got += len(d)
    except (ssl.SSLError, OSError):
        pass
    say("conn %d: received %d bytes of tunnel frames" % (n, got))


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(16)
say("listening on %s:%d" % (host, port))
n = 0
while True:
    c, peer = ls.accept()
    n += 1
    c.settimeout(5)
    try:
        serve(c, n, peer)
    except Exception as e:
        say("conn %d: error: %s" % (n, e))
    finally:
        c.close()
EOF

np_step "server, relay, an imposter at 127.0.0.2:$pb_direct, portals pa and pb, echo server"
np_dp_server
np_dp_relay
np_start imposter python3 "$NP_TMP/imposter.py" 127.0.0.2 "$pb_direct" \
    "$NP_CA/certs/portal-mallory.crt" "$NP_CA/certs/portal-mallory.key" \
    "$NP_CA/ca.crt"
np_wait_log imposter "^imposter: listening on 127\\.0\\.0\\.2:$pb_direct\$"
timing=(tunnel.keepalive=500ms tunnel.dead_timeout=3s tunnel.setup_timeout=3s
	direct.retry=2s)
NP_DIRECT=auto np_dp_portal pa 1 0 "${timing[@]}" \
    "direct.listen=127.0.0.4:$pa_direct" 'direct.addresses=["127.0.0.3"]'
NP_DIRECT=auto np_dp_portal pb 0 1 "${timing[@]}" \
    "direct.listen=127.0.0.4:$pb_direct" 'direct.addresses=["127.0.0.2"]'
np_wait_log pa "listening for direct paths on 127\\.0\\.0\\.4:$pa_direct\$"
np_wait_log pb "listening for direct paths on 127\\.0\\.0\\.4:$pb_direct\$"
np_wait_port "$port_echo" open
np_dp_app echo echo "$echo_port"

np_step "a tunnel comes up on the relay; pa dials the imposter and refuses it"
echo_once "before " || np_fail "the first echo failed"
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb up via relay '
np_wait_log imposter '^imposter: conn 1: handshake from 127\.0\.0\.1:[0-9]+, side 1, ticket of [0-9]+ bytes$'
# pa, the TLS client, aborts the handshake with an alert.
np_wait_log imposter '^imposter: conn 1: TLS failed: .*alert'
np_wait_log pa "tunnel [0-9a-f]{32} to portal/pb stays on relay 127\\.0\\.0\\.1:[0-9]+: no direct path"
np_wait_log pa "direct path [a-z]+ 127\\.0\\.0\\.2:$pb_direct to portal/pb refused: TLS handshake failed: peer is portal/mallory, expected portal/pb"
pa_status_refused
cat "$NP_TMP/status.txt"
echo_once "after the refusal " || np_fail "an echo after the refusal failed"

np_step "the retry after direct.retry meets the imposter again: refused again"
np_wait_log_count imposter '^imposter: conn [0-9]+: TLS failed: ' 2 15
np_wait_log_count pa 'tunnel [0-9a-f]{32} to portal/pb stays on relay ' 2 15
pa_status_refused
echo_once "after the retry " || np_fail "an echo after the retry failed"

np_step "the imposter's path was never used"
for p in pa pb; do
	np_no_log "$p" 'now direct'
	np_no_log "$p" 'lost its path'
	np_no_log "$p" 'stream [0-9]+ \(rule [a-z]+\) reset'
done
[ "$(np_log_count pa 'up via relay')" -eq 1 ] ||
    np_fail "pa brought up $(np_log_count pa 'up via relay') tunnels, expected one"
np_stop pa
np_stop pb
# Every connection the imposter got (pa dials nothing more now) ended in a
# failed TLS handshake: not one byte of the tunnel reached it.
n_hs=$(np_log_count imposter '^imposter: conn [0-9]+: handshake from ')
np_wait_log_count imposter '^imposter: conn [0-9]+: TLS failed: ' "$n_hs" 5
np_no_log imposter '^imposter: conn [0-9]+: (TLS done|received|error|not a relay handshake)'
echo "    $(np_log_line imposter 'TLS failed: ')"

np_stop r1
np_stop hub
np_stop echo
np_stop imposter
np_pass "pa refused the imposter (valid portal/mallory certificate) $n_hs time(s); the tunnel stayed on the relay and echoed"
