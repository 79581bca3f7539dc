#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The server's control listener refuses, during the TLS handshake, every
# client whose certificate it must not trust, and logs why: a certificate
# of another CA (with a portal name the policy knows), a revoked one (on
# the CRL), an expired one (made with `openssl ca` and the netport CA key,
# since `netport ca` cannot back-date), one signed by the CA but carrying
# no netport identity, a server certificate presented by a client, and a
# client with no certificate at all; a TLS 1.2 client is refused too.  The
# clients are a hand-made Python client (tests/npctl.py), because the
# daemons check their own certificate at start and would not even try.  A
# real relay whose certificate is revoked (started without a CRL of its
# own) is refused and says so (it then waits reconnect.refused_delay, see
# ctl_refused.sh).  The other way round, a
# relay refuses a "server" that presents a relay certificate.  Throughout,
# a good portal stays registered and is answered: a refusal affects only
# its own connection.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
np_cert server hub2
np_cert portal a
np_cert portal b
np_cert portal gone
np_cert relay r1
np_cert relay rgone
np_cert relay rfake
np_revoke gone
np_revoke rgone

# Another CA, with a certificate for portal "a".
"$NETPORT" ca init --dir "$NP_TMP/other" >/dev/null
"$NETPORT" ca issue --dir "$NP_TMP/other" --role portal --name a >/dev/null

# mkcert NAME SAN START END: a certificate signed with the netport CA key
# by `openssl ca`, with the netport extensions but the given SAN and
# validity (openssl dates, YYYYMMDDHHMMSSZ).
mkcert() {
	local name=$1 san=$2 start=$3 end=$4 d=$NP_TMP/oca
	mkdir -p "$d/new"
	: >"$d/index.txt"
	[ -f "$d/serial" ] || echo 1000 >"$d/serial"
	cat >"$d/$name.cnf" <<EOF
[ ca ]
default_ca = np
[ np ]
database = $d/index.txt
new_certs_dir = $d/new
certificate = $NP_CA/ca.crt
private_key = $NP_CA/ca.key
serial = $d/serial
default_md = sha256
policy = anything
unique_subject = no
x509_extensions = leaf
[ anything ]
commonName = supplied
[ leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$d/$name.key" -subj "/CN=$name" -out "$d/$name.csr" \
	    >>"$d/log" 2>&1 || np_fail "openssl req for $name: $(tail -3 "$d/log")"
	openssl ca -batch -config "$d/$name.cnf" -in "$d/$name.csr" \
	    -out "$d/$name.crt" -notext -startdate "$start" -enddate "$end" \
	    >>"$d/log" 2>&1 || np_fail "openssl ca for $name: $(tail -3 "$d/log")"
}
mkcert old URI:netport://portal/old 20200101000000Z 20200102000000Z
mkcert anon DNS:anon.example 20200101000000Z 20991231000000Z
# Sanity: openssl agrees the expired one is expired and the other is good.
openssl verify -CAfile "$NP_CA/ca.crt" "$NP_TMP/oca/old.crt" >/dev/null 2>&1 &&
    np_fail "openssl accepts the expired certificate"
openssl verify -CAfile "$NP_CA/ca.crt" "$NP_TMP/oca/anon.crt" >/dev/null ||
    np_fail "openssl refuses the no-identity certificate"

cat >"$NP_TMP/policy.yaml" <<'EOF'
rules:
  - name: web
    client: [a, old, gone]
    listen: 127.0.0.1:20001
    service: b
    target: 127.0.0.1:20002
EOF
np_server_conf hub
np_start_server hub

np_step "a good portal registers"
np_py <<'EOF'
import npctl
def main():
    a = npctl.portal("a")
    a.hello()
    gen, rules = a.wait_rules()
    assert [r.rule for r in rules] == ["web"], rules
npctl.run(main)
EOF
np_wait_log hub 'peer=portal/a .*portal registered from 127\.0\.0\.1:'

np_step "refused clients, each with its reason in the server log"
# Each case: the client's certificate, and the reason the server must log.
np_py <<'EOF'
import os, re, ssl, npctl
T, CA = os.environ["NP_TMP"], os.environ["NP_CA"]
cases = [
    ("another CA", T + "/other/certs/portal-a", None,
     r"peer certificate: (unable to get local issuer certificate|"
     r"certificate signature failure)"),
    ("revoked", CA + "/certs/portal-gone", None,
     r"peer certificate: certificate revoked"),
    ("expired", T + "/oca/old", None,
     r"peer certificate: certificate has expired"),
    ("no identity", T + "/oca/anon", None,
     r"peer certificate has no valid identity"),
    ("server role", CA + "/certs/server-hub2", None,
     r"peer server/hub2 has role server; this listener accepts "
     r"portal.*relay"),
    ("no certificate", None, None, r"peer did not return a certificate"),
]

def main():
    # A portal that must stay registered and served throughout.
    keep = npctl.portal("a")
    keep.hello()
    keep.wait_rules()
    for label, base, _, reason in cases:
        crt, key = (base + ".crt", base + ".key") if base else (None, None)
        c = npctl.Conn(os.environ["NP_SERVER_ADDR"], crt, key, label=label)
        try:
            c.send("HELLO", 0, software="refusal test")
        except npctl.Closed:
            pass
        why = c.expect_closed(5)
        if c.take("WELCOME"):
            npctl.fail("%s: the server said WELCOME" % label)
        line = npctl.wait_log(
            "hub", r"connection 127\.0\.0\.1:%d closed: TLS handshake with "
            r"127\.0\.0\.1:%d failed: " % (c.local_port, c.local_port), 5)
        if not re.search(reason, line):
            npctl.fail("%s: server logged %r, expected /%s/" %
                       (label, line.strip(), reason))
        print("%s: client saw %s; server: %s" % (label, why, line.strip()))
    # TLS 1.2 and below are refused before any certificate is looked at.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(CA + "/certs/portal-a.crt", CA + "/certs/portal-a.key")
    import socket
    raw = socket.create_connection(npctl.split_addr(
        os.environ["NP_SERVER_ADDR"]), timeout=5)
    port = raw.getsockname()[1]
    try:
        ctx.wrap_socket(raw).close()
        npctl.fail("a TLS 1.2 handshake succeeded")
    except (ssl.SSLError, OSError) as e:
        print("TLS 1.2 client: %s" % e)
    npctl.wait_log("hub", r"connection 127\.0\.0\.1:%d closed: TLS handshake "
                   r"with 127\.0\.0\.1:%d failed: .*(version|protocol)"
                   % (port, port), 5)
    # The good portal was never disturbed: still answered.
    r = keep.request("web", 1)
    if r.type != "ERROR" or r.code != npctl.ERRORS["PEER_OFFLINE"]:
        npctl.fail("expected PEER_OFFLINE for web (b is away), got %r" % r)
    if keep.closed:
        npctl.fail("the good portal was closed: %s" % keep.closed)
npctl.run(main)
EOF
np_no_log hub 'peer=portal/(gone|old) .*registered'
np_no_log hub 'peer=server/hub2 .*registered'

np_step "a real relay with a revoked certificate is refused, and says so"
np_relay_conf rgone tls.crl=-
np_start_relay rgone
np_wait_log hub 'closed: TLS handshake with .* failed: peer certificate: certificate revoked' 5
np_wait_log rgone 'refused the certificate of relay/rgone: it is revoked' 10
np_no_log hub 'peer=relay/rgone .*relay registered'
np_no_log rgone 'registered; ticket key'
np_stop rgone

np_step "a good relay registers next to the refused ones"
np_relay_conf r1
np_start_relay r1
np_wait_log hub 'peer=relay/r1 .*relay registered from 127\.0\.0\.1:[0-9]+: dial 127\.0\.0\.1:[0-9]+, capacity 1000'
np_wait_log r1 'registered; ticket key [0-9a-f]{8}'

np_step "a relay refuses a server that presents a relay certificate"
fake_port=$(np_port)
cat >"$NP_TMP/fake_server.py" <<'EOF'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(ca + "/certs/relay-rfake.crt", ca + "/certs/relay-rfake.key")
ctx.load_verify_locations(ca + "/ca.crt")
ctx.verify_mode = ssl.CERT_OPTIONAL
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(8)
print("fake server listening", flush=True)
ls.settimeout(30)
while True:
    c, _ = ls.accept()
    c.settimeout(5)
    try:
        s = ctx.wrap_socket(c, server_side=True)
        s.recv(100)
    except (ssl.SSLError, OSError) as e:
        print("handshake refused: %s" % e, flush=True)
    c.close()
EOF
np_start fake python3 "$NP_TMP/fake_server.py" "$fake_port" "$NP_CA"
np_wait_log fake 'fake server listening'
np_relay_conf r2 server="127.0.0.1:$fake_port"
np_cert relay r2
np_start_relay r2
np_wait_log r2 "closed: TLS handshake with 127\.0\.0\.1:$fake_port failed: peer relay/rfake has role relay; this connection accepts server" 5
np_wait_log r2 'reconnecting to server'
np_no_log r2 'session with server .* is up'
np_stop r2
np_kill9 fake

np_step "the good relay and portal were never disturbed"
np_no_log hub 'peer=relay/r1 .*closed'
np_no_log hub 'peer=portal/a .*closed: (TLS|bad|malformed)'
np_stop r1
np_stop hub

np_pass "every untrusted certificate refused at the handshake, with its reason"
