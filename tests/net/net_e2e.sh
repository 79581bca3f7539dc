#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The data plane across real NAT.  Portal pa sits on LAN A behind router
# rA (port-preserving MASQUERADE), portal pb on LAN B behind rB
# (MASQUERADE --random-fully); server and relay are on the public segment.
# An HTTP server runs on a second host of LAN B, web (10.2.0.3), and rule
# web lets pa listen on 127.0.0.1:8080 for it.
#
# Checks: the server sees each portal at its router's address (the
# translation happened), and conntrack on each router holds the portal's
# connection to the relay translated to the router's WAN address.  curl on
# host A fetches a page and a 3 MiB file through the tunnel, equal to what
# web serves.  The public side cannot reach a LAN: from srv and relay
# (which have routes to both LANs via the routers) connections to every
# LAN address, web's HTTP port included, fail, and so do connections to
# the routers' WAN addresses and from LAN A to LAN B; only the rule gets
# through.  To show that this check would see a hole, rB is switched to
# routing only for a moment: srv then reaches web directly; back to NAT,
# it cannot again, and the tunnel still serves.  No daemon logs a warning
# or an error.
. "$(dirname "$0")/netlib.sh"

np_step "topology: rA masq, rB random-fully, web on LAN B"
nl_topo masq random-fully
nl_lan_host rB web 10.2.0.3
np_dp_pki
{
	echo "rules:"
	nl_rule web pa 127.0.0.1:8080 pb 10.2.0.3:8080
} | np_policy
mkdir "$NP_TMP/www"
echo "hello across two NATs" >"$NP_TMP/www/index.html"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$NP_TMP/www/blob.bin"
nl_help web http http 10.2.0.3 8080 "$NP_TMP/www"
np_wait_log http '^http listening on 10\.2\.0\.3:8080$'

np_step "server and relay on the public segment, portals behind the NATs"
nl_server
nl_relay
nl_portal pa A 1 0
nl_portal pb B 0 1
np_wait_log pa 'listening on 127\.0\.0\.1:8080 for rule web'
np_wait_log hub 'peer=portal/pa .*portal registered from 203\.0\.113\.101:'
np_wait_log hub 'peer=portal/pb .*portal registered from 203\.0\.113\.102:'
grep -E 'portal registered from' "$(np_log hub)" | sed 's/^.* peer=/    /'

np_step "curl through the tunnel: a page and 3 MiB"
nl_x A curl -sS --fail --max-time 20 -o "$NP_TMP/index.out" \
    http://127.0.0.1:8080/index.html || np_fail "curl of index.html failed"
cmp -s "$NP_TMP/index.out" "$NP_TMP/www/index.html" ||
    np_fail "index.html differs: $(head -c 200 "$NP_TMP/index.out")"
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb up via relay 203\.0\.113\.20:8443'
np_wait_log pb 'tunnel [0-9a-f]{32} to portal/pa up via relay 203\.0\.113\.20:8443'
nl_x A curl -sS --fail --max-time 30 -o "$NP_TMP/blob.out" \
    http://127.0.0.1:8080/blob.bin || np_fail "curl of blob.bin failed"
[ "$(sha256sum <"$NP_TMP/blob.out")" = "$(sha256sum <"$NP_TMP/www/blob.bin")" ] ||
    np_fail "blob.bin differs ($(stat -c %s "$NP_TMP/blob.out") bytes)"
np_wait_log http '^http: 10\.2\.0\.2 "GET /blob.bin HTTP/1.1" 200'
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1"

np_step "the routers translated the portals' connections to the relay"
if command -v conntrack >/dev/null; then
	ct=$(nl_x rA conntrack -L -p tcp --orig-dst 203.0.113.20 --dport 8443 2>/dev/null)
	grep -q 'src=10\.1\.0\.2 dst=203\.0\.113\.20 .*src=203\.0\.113\.20 dst=203\.0\.113\.101 ' <<<"$ct" ||
	    np_fail "rA has no translated entry for pa's relay connection: $ct"
	ct=$(nl_x rB conntrack -L -p tcp --orig-dst 203.0.113.20 --dport 8443 2>/dev/null)
	grep -q 'src=10\.2\.0\.2 dst=203\.0\.113\.20 .*src=203\.0\.113\.20 dst=203\.0\.113\.102 ' <<<"$ct" ||
	    np_fail "rB has no translated entry for pb's relay connection: $ct"
	for r in rA rB; do
		echo "    $r: $(nl_x "$r" conntrack -L -p tcp --orig-dst 203.0.113.20 --dport 8443 2>/dev/null | head -1)"
	done
fi

lan_targets=(10.2.0.3:8080 10.2.0.2:22 10.2.0.1:22 10.1.0.2:22 10.1.0.1:22)
np_step "the public side cannot reach a LAN host, only the rule does"
nl_probe srv closed "${lan_targets[@]}" 203.0.113.101:8080 203.0.113.102:8080
nl_probe relay closed "${lan_targets[@]}"
nl_probe A closed 10.2.0.3:8080 10.2.0.2:22
nl_x srv curl -sS --max-time 2 -o /dev/null http://10.2.0.3:8080/index.html 2>/dev/null &&
    np_fail "srv fetched a page from web directly"

np_step "contrast: with rB routing only, srv reaches web directly"
nl_nat rB none
nl_probe srv open 10.2.0.3:8080
nl_x srv curl -sS --fail --max-time 10 -o "$NP_TMP/direct.out" \
    http://10.2.0.3:8080/index.html || np_fail "direct fetch with rB routing only failed"
cmp -s "$NP_TMP/direct.out" "$NP_TMP/www/index.html" || np_fail "direct fetch differs"
nl_nat rB random-fully
nl_probe srv closed 10.2.0.3:8080

np_step "the tunnel still serves"
nl_x A curl -sS --fail --max-time 20 -o "$NP_TMP/index2.out" \
    http://127.0.0.1:8080/index.html || np_fail "curl after the NAT change failed"
cmp -s "$NP_TMP/index2.out" "$NP_TMP/www/index.html" || np_fail "index.html differs"
for d in hub r1 pa pb; do
	np_no_log "$d" ' (warn|error) '
done

np_step "everyone stops cleanly"
np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop http

np_pass "curl across two NATs (masq, random-fully); no direct path from the public side"
