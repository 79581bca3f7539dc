#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# HTTP through a tunnel, with real curl and a real HTTP server.  A python
# http.server stands behind the service portal pb; rule web makes the client
# portal pa listen on a loopback port.  curl fetches a small page and a
# 3 MiB file of random bytes through pa -> relay -> pb (end-to-end TLS
# between the portals), and each body must equal the file served (size and
# SHA-256).  The second fetch reuses the tunnel of the first: the server
# logs exactly one "tunnel granted" line for the two, the relay one
# "paired" line, and both portals one "up via relay" line.  Nothing is
# logged at warn or error level by any daemon.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_dp_pki
web_port=$(np_port)
http_port=$(np_port)
{
	echo "rules:"
	np_dp_rule web pa "$web_port" pb "$http_port"
} | np_policy
mkdir "$NP_TMP/www"
echo "hello through netport" >"$NP_TMP/www/index.html"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$NP_TMP/www/blob.bin"

np_step "server, relay, portals and an HTTP server behind pb"
np_dp_server
np_dp_relay
np_dp_portal pa 1 0
np_dp_portal pb 0 1
np_wait_port "$web_port" open
np_dp_app http http "$http_port" "$NP_TMP/www"

np_step "first fetch: a tunnel is granted and the page comes through"
curl -sS --fail --max-time 20 -o "$NP_TMP/index.out" \
    "http://127.0.0.1:$web_port/index.html" || np_fail "curl of index.html failed"
cmp -s "$NP_TMP/index.out" "$NP_TMP/www/index.html" ||
    np_fail "index.html differs: $(head -c 200 "$NP_TMP/index.out")"
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb up via relay '
np_wait_log pb 'tunnel [0-9a-f]{32} to portal/pa up via relay '
tid=$(np_log_line pa 'to portal/pb up via relay' | sed -E 's/.*tunnel ([0-9a-f]{32}) .*/\1/')
np_wait_log hub "tunnel granted: rule web, portal/pa -> portal/pb via relay/r1 at .*, tunnel $tid\$"

np_step "second fetch (3 MiB) reuses the tunnel"
curl -sS --fail --max-time 30 -o "$NP_TMP/blob.out" \
    "http://127.0.0.1:$web_port/blob.bin" || np_fail "curl of blob.bin failed"
want=$(sha256sum <"$NP_TMP/www/blob.bin")
got=$(sha256sum <"$NP_TMP/blob.out")
[ "$want" = "$got" ] || np_fail "blob.bin differs: $(stat -c %s "$NP_TMP/blob.out") bytes"
np_wait_log http '"GET /blob.bin HTTP/1.1" 200'
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted for two fetches, expected 1"
[ "$(np_log_count r1 ' paired ')" -eq 1 ] || np_fail "the relay paired $(np_log_count r1 ' paired ') tunnels"
[ "$(np_log_count pa 'up via relay')" -eq 1 ] || np_fail "pa brought up more than one tunnel"
[ "$(np_log_count pb 'up via relay')" -eq 1 ] || np_fail "pb brought up more than one tunnel"
for d in hub r1 pa pb; do
	np_no_log "$d" ' (warn|error) '
done

np_step "everyone stops cleanly"
np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop http

np_pass "two curl fetches through one tunnel"
