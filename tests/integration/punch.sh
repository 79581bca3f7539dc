#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# netport punch on loopback: a control node and pairs of peers, as
# netpunch's README runs them.
#   - peers a (SHA-224 signatures, netpunch's seed version) and b
#     (HMAC-SHA256, later netpunch) find each other through the control
#     node and each prints netpunch's result line with the other's address;
#   - peers c and d pair up as well (netpunch's slots a..z, by twos), with
#     the secret read from a file (newline and all, as netpunch reads it);
#   - datagrams with another secret, a forged payload, a truncated
#     signature or no signature at all are dropped, counted in the log,
#     and never answered; a correctly signed slot from a plain UDP client
#     (signed here in Python: SHA-224, Go's ascii85) is answered with the
#     partner's entry;
#   - bad command lines get netpunch's messages and exit 1.
. "$(dirname "$0")/../lib.sh"

ctl_port=$(np_port)
pa=$(np_port)
pb=$(np_port)
pc=$(np_port)
pd=$(np_port)

np_step "control node; peers a (seed) and b (hmac)"
np_start ctl "$NETPORT" punch -secret TheSecretWord -local "127.0.0.1:$ctl_port"
np_wait_log ctl "Start in control mode on 127\\.0\\.0\\.1:$ctl_port"
np_start peer_a "$NETPORT" punch -peer a -secret TheSecretWord \
    -local ":$pa" -remote "localhost:$ctl_port"
np_start peer_b "$NETPORT" punch -peer b -secret=TheSecretWord \
    --local ":$pb" -remote "127.0.0.1:$ctl_port" -sign hmac
np_wait_exit peer_a 0 20
np_wait_exit peer_b 0 20
np_wait_log peer_a "^LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: :$pa n/a $pa 127\\.0\\.0\\.1:$pb 127\\.0\\.0\\.1 $pb\$"
np_wait_log peer_b "^LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: :$pb n/a $pb 127\\.0\\.0\\.1:$pa 127\\.0\\.0\\.1 $pa\$"
np_log_line peer_a '^LADDR' | sed 's/^/    a: /'
np_log_line peer_b '^LADDR' | sed 's/^/    b: /'
# The control node answers whichever peer came second.
np_wait_log ctl "write: \"i\\|(a\\|127\\.0\\.0\\.1:$pa\" -> 127\\.0\\.0\\.1:$pb|b\\|127\\.0\\.0\\.1:$pb\" -> 127\\.0\\.0\\.1:$pa)"

np_step "peers c and d, the secret from a file"
printf 'TheSecretWord\n' >"$NP_TMP/secret.key"
np_stop ctl
np_start ctl2 "$NETPORT" punch -secret-file "$NP_TMP/secret.key" \
    -local "127.0.0.1:$ctl_port"
np_wait_log ctl2 'Start in control mode'
np_start peer_c "$NETPORT" punch -peer c -secret-file "$NP_TMP/secret.key" \
    -local "127.0.0.1:$pc" -remote "127.0.0.1:$ctl_port"
np_start peer_d "$NETPORT" punch -peer d -secret-file "$NP_TMP/secret.key" \
    -local "127.0.0.1:$pd" -remote "127.0.0.1:$ctl_port"
np_wait_exit peer_c 0 20
np_wait_exit peer_d 0 20
np_wait_log peer_c "^LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: 127\\.0\\.0\\.1:$pc 127\\.0\\.0\\.1 $pc 127\\.0\\.0\\.1:$pd 127\\.0\\.0\\.1 $pd\$"

np_step "unsigned and forged datagrams are dropped and never answered"
python3 - "$ctl_port" <<'EOF' || np_fail "the control node answered a bad datagram, or not a good one"
import base64, hashlib, socket, sys
port = int(sys.argv[1])
secret = b"TheSecretWord\n"
def seal(payload, key=secret):
    # netpunch's seed scheme: ascii85 (Go's: "z" for zero groups, no
    # delimiters) of SHA-224(secret || payload), a space, the payload.
    sig = base64.a85encode(hashlib.sha224(key + payload).digest())
    return sig.ljust(35, b"\0") + b" " + payload
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.5)
bad = [b"a", b"x" * 36 + b"a", seal(b"a", b"wrong"), seal(b"b")[:-1] + b"a",
       seal(b"a")[1:]]
for d in bad:
    s.sendto(d, ("127.0.0.1", port))
try:
    got = s.recv(2048)
    sys.exit("answered a bad datagram: %r" % got)
except socket.timeout:
    pass
# A good one: slot c, whose partner d is known.
s.sendto(seal(b"c"), ("127.0.0.1", port))
got = s.recv(2048)
if not got[36:].startswith(b"i|d|127.0.0.1:"):
    sys.exit("unexpected answer %r" % got)
print("    answered a signed slot: %s" % got[36:].decode())
EOF
np_wait_log ctl2 'dropped a datagram from 127\.0\.0\.1:[0-9]+: too short \(1 dropped so far\)'
np_wait_log ctl2 'dropped a datagram from 127\.0\.0\.1:[0-9]+: bad signature \(4 dropped so far\)'
np_stop ctl2

np_step "bad command lines"
out=$("$NETPORT" punch -peer ab -local :1 2>&1) && np_fail "a bad role was accepted"
case $out in
*'Error: invalid role: "ab"; you have to specify secret'*) ;;
*) np_fail "unexpected message: $out" ;;
esac
out=$("$NETPORT" punch -peer a -secret x -local :1 2>&1) &&
    np_fail "peer mode without -remote was accepted"
case $out in
*'Error: you have to specify remote address in peer mode role "a"'*) ;;
*) np_fail "unexpected message: $out" ;;
esac
"$NETPORT" punch --help | grep -q 'netpunch' || np_fail "--help does not say what it is"

np_pass "netpunch-compatible rendezvous on loopback: seed and hmac peers, slots by twos, bad datagrams dropped unanswered"
