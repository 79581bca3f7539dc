#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A portal whose certificate the server refuses for good stops knocking.
# The server ends the TLS handshake with an alert that is a verdict on the
# portal's certificate: certificate_revoked (it is on the server's CRL) or
# unknown_ca (it comes from a CA the server does not trust).  Retrying a
# second later changes nothing, so the portal says once, in plain words,
# what is wrong and what to do, and waits reconnect.refused_delay (1 h by
# default) instead of its short reconnect backoff; with
# `reconnect.refused: exit` it exits with status 3 instead.  Checks, for a
# revoked portal and for one of another CA: the plain-words line appears
# exactly once, the server sees one handshake from it, and no second one
# over a 4 s window (before, it saw one every reconnect.max = 1 s at most,
# and the first refusal could pass for a reset connection); with the
# exit option the portal exits with status 3.  A server that is merely
# away keeps the short backoff; a session that comes up in between makes
# the next refusal news again.  A relay shares the control client: a
# revoked relay behaves the same.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
np_cert portal a
np_cert portal b
np_cert portal gone
np_cert portal away
np_cert relay rgone
np_revoke gone
np_revoke rgone

# Another CA (another name), with a certificate for portal "a".  The portal
# trusts both CAs (tls.ca is a bundle) so that it accepts the server and
# starts; the server trusts only its own.
"$NETPORT" ca init --dir "$NP_TMP/other" --name "other CA" >/dev/null
"$NETPORT" ca issue --dir "$NP_TMP/other" --role portal --name a >/dev/null
cat "$NP_CA/ca.crt" "$NP_TMP/other/ca.crt" >"$NP_TMP/both.crt"

cat >"$NP_TMP/policy.yaml" <<'EOF'
rules:
  - name: web
    client: [a, gone]
    listen: 127.0.0.1:20001
    service: b
    target: 127.0.0.1:20002
EOF
np_server_conf hub
np_start_server hub

# handshakes PATTERN: the server's refused handshakes so far whose reason
# matches PATTERN.
handshakes() {
	np_log_count hub "closed: TLS handshake with .* failed: .*$1"
}

# quiet NAME PATTERN SECONDS: the server logs no further refused handshake
# matching PATTERN for SECONDS, and NAME no further reconnect.  This is a
# check that something does not happen, so it has to watch for a while;
# it fails as soon as it does happen.
quiet() {
	local name=$1 pat=$2 secs=$3 before tries before_name deadline
	before=$(handshakes "$pat")
	before_name=$(np_log_count "$name" 'reconnecting to server')
	deadline=$(($(np__now_ms) + secs * 1000))
	tries=0
	while [ "$(np__now_ms)" -lt "$deadline" ]; do
		[ "$(handshakes "$pat")" -eq "$before" ] ||
		    np_fail "$name tried again within $secs s: $(np_log_line hub "failed: .*$pat")"
		[ "$(np_log_count "$name" 'reconnecting to server')" -eq "$before_name" ] ||
		    np_fail "$name: $(np_log_line "$name" 'reconnecting to server')"
		np_is_running "$name" || np_fail "$name exited"
		tries=$((tries + 1))
		sleep 0.1
	done
	echo "$name: no retry in $secs s ($tries checks)"
}

revoked_line='the server .* refused the certificate of portal/gone: it is revoked; ask the administrator for a new certificate; retrying in'
untrusted_line='the server .* refused the certificate of portal/a: it is not issued by a CA the server trusts; .*retrying in'

np_step "a revoked portal says so once and does not retry"
# Without a CRL of its own: a portal that knows it is revoked refuses to
# start, which is not the case tested here.
np_portal_conf gone tls.crl=-
np_start_portal gone
np_wait_log gone "$revoked_line [0-9]+ (min|h)"
np_wait_log hub 'failed: peer certificate: certificate revoked'
quiet gone 'certificate revoked' 4
[ "$(np_log_count gone 'refused the certificate')" -eq 1 ] ||
    np_fail "the refusal was logged $(np_log_count gone 'refused the certificate') times"
# One handshake in all: the refusal is recognised at the first attempt,
# also when the server's reset to our HELLO comes before we read its alert.
[ "$(handshakes 'certificate revoked')" -eq 1 ] ||
    np_fail "the server saw $(handshakes 'certificate revoked') handshakes of the revoked portal"
np_no_log gone "reconnecting to server"
np_no_log gone 'session with server .* is up'
np_stop gone

np_step "a portal of another CA says so once and does not retry"
np_portal_conf other "tls.ca=$NP_TMP/both.crt" \
    "tls.cert=$NP_TMP/other/certs/portal-a.crt" \
    "tls.key=$NP_TMP/other/certs/portal-a.key" tls.crl=-
np_start_portal other
np_wait_log other "$untrusted_line [0-9]+ (min|h)"
np_wait_log hub 'failed: peer certificate: unable to get local issuer certificate'
quiet other 'unable to get local issuer' 4
[ "$(np_log_count other 'refused the certificate')" -eq 1 ] ||
    np_fail "the refusal was logged $(np_log_count other 'refused the certificate') times"
[ "$(handshakes 'unable to get local issuer')" -eq 1 ] ||
    np_fail "the server saw $(handshakes 'unable to get local issuer') handshakes of the other CA's portal"
np_no_log other "reconnecting to server"
np_stop other

np_step "with reconnect.refused: exit, a revoked portal exits with status 3"
np_portal_conf gone-exit "tls.cert=$NP_CA/certs/portal-gone.crt" \
    "tls.key=$NP_CA/certs/portal-gone.key" tls.crl=- reconnect.refused=exit
np_start_portal gone-exit
np_wait_exit gone-exit 3 10
np_wait_log gone-exit 'refused the certificate of portal/gone: it is revoked; ask the administrator for a new certificate; exiting \(reconnect\.refused: exit\)'
np__check_sanitizer gone-exit || exit 1

np_step "a server that is away: the short backoff stays"
np_portal_conf away server=127.0.0.1:"$(np_port)"
np_start_portal away
np_wait_log_count away 'reconnecting to server .* in [0-9]+ ms \(attempt [0-9]+\)' 3 10
np_no_log away 'refused the certificate'
np_stop away

np_step "a revoked relay does the same"
np_relay_conf rgone tls.crl=-
np_start_relay rgone
np_wait_log rgone 'the server .* refused the certificate of relay/rgone: it is revoked; .*retrying in [0-9]+ (min|h)'
quiet rgone 'certificate revoked' 2
np_stop rgone

np_step "a good portal is served all along"
np_portal_conf a
np_start_portal a
np_wait_log hub 'peer=portal/a .*portal registered'
np_wait_log a 'rule set .* applied'
np_no_log a 'refused the certificate'
np_stop a

np_step "a session in between: the next refusal is told in full again"
# The other CA's portal, with a short refusal delay.  The server comes
# back trusting both CAs (without revocation checks: a CRL must cover
# every CA of tls.ca), the session comes up, and when the server returns
# to its own CA only, the refusal is news again.
np_portal_conf flip "tls.ca=$NP_TMP/both.crt" \
    "tls.cert=$NP_TMP/other/certs/portal-a.crt" \
    "tls.key=$NP_TMP/other/certs/portal-a.key" tls.crl=- \
    reconnect.refused_delay=1s
np_start_portal flip
np_wait_log flip "$untrusted_line"
addr=${NP_ADDR[hub]}
np_stop hub
np_server_conf hub2 "listen=$addr" "tls.ca=$NP_TMP/both.crt" tls.crl=-
cp "$NP_CA/certs/server-hub.crt" "$NP_CA/certs/server-hub2.crt"
cp "$NP_CA/certs/server-hub.key" "$NP_CA/certs/server-hub2.key"
np_start_server hub2
np_wait_log flip 'session with server .* is up' 10
np_stop hub2
np_server_conf hub "listen=$addr"
np_start_server hub
np_wait_log_count flip "$untrusted_line" 2 10
np_no_log flip 'still refuses'
np_stop flip
np_stop hub

np_pass "a refused certificate is reported once, in plain words, and not retried for reconnect.refused_delay; exit status 3 on request"
