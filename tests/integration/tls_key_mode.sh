#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Private key files must be private.  Keys from `netport ca issue` are mode
# 0600 and a server, a relay and a portal start with them.  A portal whose
# tls.key is open to its group or to others (0644, 0640, 0604; group write
# 0620) refuses to start, exit 1, with the config line, the file and the
# fix, before it dials anything; the same for a key reached through a
# symbolic link (the layout of a container's secret volume).  0400 starts.
# With tls.key_permissions: ignore the 0644 key is accepted and the portal
# registers with the server over real TLS.  `netport ca issue` refuses a
# CA key open to others the same way, and works again after chmod 600.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
np_cert relay r1
np_cert portal pa
key=$NP_CA/certs/portal-pa.key
for f in ca.key certs/server-hub.key certs/relay-r1.key certs/portal-pa.key; do
	[ "$(stat -c %a "$NP_CA/$f")" = 600 ] ||
	    np_fail "$f has mode $(stat -c %a "$NP_CA/$f"), expected 600"
done
np_policy <<'EOF'
rules: []
EOF

np_step "server and relay start with the keys netport ca issue wrote"
np_server_conf hub
np_start_server hub
np_relay_conf r1
np_start_relay r1
np_portal_conf pa

# refused MODE [FILE]: the portal with tls.key FILE (default the key) of
# MODE exits 1 at start with exactly the message, and never reaches the
# server.
refused() {
	local mode=$1 file=${2:-$key} n
	chmod "$mode" "$key"
	n=$(np_log_count hub 'peer=portal/pa .*portal registered')
	np_start_portal pa
	np_wait_exit pa 1
	want="$NP_TMP/pa.yaml:3: tls.key: '$file' is open to group or others (mode 0$mode); expected mode 0600 or 0400 (chmod 600 $file), or tls.key_permissions: ignore where a platform mounts keys with modes of its own"
	[ "$(tail -n 1 "$NP_TMP/pa.log")" = "$want" ] ||
	    np_fail "mode $mode: last line of pa.log is '$(tail -n 1 "$NP_TMP/pa.log")', expected '$want'"
	[ "$(np_log_count hub 'peer=portal/pa .*portal registered')" -eq "$n" ] ||
	    np_fail "mode $mode: the portal registered with the server"
}

np_step "a portal key open to group or others is refused at start"
for mode in 644 640 604 620; do
	refused "$mode"
done

np_step "through a symbolic link, the mode of the file counts"
mkdir "$NP_TMP/secret"
ln -s "$key" "$NP_TMP/secret/tls.key"
np_portal_conf pa tls.key="$NP_TMP/secret/tls.key"
refused 644 "$NP_TMP/secret/tls.key"

np_step "0400 starts and registers"
chmod 400 "$key"
n=$(np_log_count hub 'peer=portal/pa .*portal registered')
np_start_portal pa
np_wait_log_more hub 'peer=portal/pa .*portal registered' "$n"
np_stop pa

np_step "tls.key_permissions: ignore accepts a 0644 key"
chmod 644 "$key"
np_portal_conf pa tls.key="$NP_TMP/secret/tls.key" tls.key_permissions=ignore
n=$(np_log_count hub 'peer=portal/pa .*portal registered')
said=$(np_log_count pa 'is open to group or others')
np_start_portal pa
np_wait_log_more hub 'peer=portal/pa .*portal registered' "$n"
np_stop pa
[ "$(np_log_count pa 'is open to group or others')" -eq "$said" ] ||
    np_fail "with tls.key_permissions: ignore the portal still complained"

np_step "netport ca issue refuses a CA key open to others"
chmod 644 "$NP_CA/ca.key"
st=0
"$NETPORT" ca issue --dir "$NP_CA" --role portal --name pb \
    >"$NP_TMP/issue.out" 2>&1 || st=$?
[ "$st" -eq 1 ] || np_fail "ca issue with a 0644 ca.key: exit $st, expected 1"
grep -qxF "netport ca: $NP_CA/ca.key is open to group or others (mode 0644); expected mode 0600 (chmod 600 $NP_CA/ca.key)" \
    "$NP_TMP/issue.out" || np_fail "ca issue said: $(cat "$NP_TMP/issue.out")"
[ ! -e "$NP_CA/certs/portal-pb.key" ] || np_fail "a refused issue wrote a key"
chmod 600 "$NP_CA/ca.key"
np_cert portal pb

np_stop r1
np_stop hub
np_pass "keys open to group or others refused at start (portal, CA), 0400 and the opt-out accepted"
