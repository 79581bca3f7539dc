#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The main scenario under valgrind: server, relay and two portals, each in
# memcheck, carry HTTP requests through a tunnel, then stop on SIGTERM.
# Every process must report no definite leak and no invalid access.
# Skipped (77) for sanitizer builds, which valgrind cannot run.
. "$(dirname "$0")/../lib.sh"

if np_sanitized; then
	echo "SKIP: $NETPORT is a sanitizer build"
	trap - EXIT
	rm -rf "$NP_TMP"
	exit 77
fi
command -v valgrind >/dev/null || np_fail "valgrind is not installed"

np_ca
np_cert server srv
np_cert relay relay-1
np_cert portal alice
np_cert portal bob
web_port=$(np_port)
rule_port=$(np_port)
np_policy <<EOF
rules:
  - name: web
    client: alice
    listen: 127.0.0.1:$rule_port
    service: bob
    target: 127.0.0.1:$web_port
EOF
mkdir "$NP_TMP/www"
head -c 300000 /dev/urandom >"$NP_TMP/www/blob"
np_start web python3 -m http.server "$web_port" --bind 127.0.0.1 \
    --directory "$NP_TMP/www"
np_wait_port "$web_port" open

# --error-exitcode: a definite leak or an invalid access makes the process
# exit 99, which np_stop reports.
vg=(valgrind --leak-check=full --errors-for-leak-kinds=definite
    --error-exitcode=99 --suppressions="$NP_TESTS/valgrind.supp")
# Valgrind runs code many times slower: generous protocol timeouts.  It
# cannot run under a seccomp filter (its own calls are not the daemon's).
np_server_conf srv keepalive=2s dead_timeout=30s handshake_timeout=30s \
    seccomp=off
np_start srv "${vg[@]}" "$NETPORT" server -c "$NP_TMP/srv.yaml"
np_wait_log srv 'server/srv up' 60
line=$(np_log_line srv 'listening on ')
NP_SERVER_ADDR=${line##* }
np_relay_conf relay-1 seccomp=off
np_portal_conf alice tunnel.setup_timeout=60s
np_portal_conf bob tunnel.setup_timeout=60s
np_start relay-1 "${vg[@]}" "$NETPORT" relay -c "$NP_TMP/relay-1.yaml"
np_start alice "${vg[@]}" "$NETPORT" portal -c "$NP_TMP/alice.yaml"
np_start bob "${vg[@]}" "$NETPORT" portal -c "$NP_TMP/bob.yaml"
np_wait_log relay-1 'registered' 60
np_wait_log alice "listening on 127.0.0.1:$rule_port" 60
np_wait_log bob 'rule set .* applied' 60

n=0
for i in 1 2 3; do
	curl -sS --max-time 60 -o "$NP_TMP/got" \
	    "http://127.0.0.1:$rule_port/blob" ||
	    np_fail "fetch $i through the tunnel failed"
	cmp -s "$NP_TMP/got" "$NP_TMP/www/blob" || np_fail "fetch $i differs"
	n=$((n + 1))
done

NP_STOP_TIMEOUT=30
for p in alice bob relay-1 srv; do
	np_stop "$p"
	grep -q 'definitely lost: [1-9]' "$(np_log "$p")" &&
	    np_fail "$p: $(grep 'definitely lost' "$(np_log "$p")")"
	grep -q 'ERROR SUMMARY: [1-9]' "$(np_log "$p")" &&
	    np_fail "$p: $(grep 'ERROR SUMMARY' "$(np_log "$p")")"
	grep -h 'definitely lost\|no leaks are possible\|ERROR SUMMARY' "$(np_log "$p")" |
	    sed "s/^/$p: /"
done
np_stop web 143
np_pass "$n fetches under memcheck; 4 processes without a definite leak or a memory error"
