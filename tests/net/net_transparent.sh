#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Transparent mode: capture rules (to, as, ports, protocol) and a client
# portal that intercepts its LAN's traffic with nftables.  The client
# portal gw runs on the router of LAN 10.9.1.0/24 (host c1 10.9.1.2); the
# service portals sit on LANs behind routers of their own:
#   r1  LAN 192.168.1.0/24: portal s1 (.2), web5 (.5: HTTP on 80 and 8080,
#       sshd on 22), web6 (.6: HTTP on 8080), web9 (.9: HTTP on 80, left
#       out of s1's allow-list), dns53 (.53: dnsmasq, probe.example.test A
#       192.0.2.7); s1 allows 192.168.1.5:*, 192.168.1.6:*, 192.168.1.53:53
#   r2  LAN 10.20.0.0/16: portal s2 (10.20.0.2, no allow-list), web205
#       (10.20.0.5: HTTP on 80), web217 (10.20.1.7: HTTP on 8050)
# Rules: lan1 maps 100.64.1.0/24 onto 192.168.1.0/24 for TCP 22, 80, 8080
# through s1; lan1-dns the same for UDP 53; lan2 captures 10.20.0.0/16 on
# TCP and UDP 80, 8000-8100 and 53 through s2.  Without the tunnel neither
# c1 nor gw reaches those LANs or 100.64.0.0/10 (gw's default route leads
# to the public segment, where nothing answers them).  Each page names the
# host and port that served it, and each server's log shows the service
# portal as the client.  (r1 and r2 are namespaces; the relay's process
# and log are r1 as in every test here.)
#
# Checks:
#   - before gw starts: gw's nftables ruleset, ip rules and routing table
#     28273 (IPv4 and IPv6) are saved; then gw logs "capture: installed
#     table inet netport", and the table, the fwmark rule and the local
#     route are there;
#   - from c1 (through the router): curl of 100.64.1.5:80, 100.64.1.5:8080,
#     100.64.1.6:8080, 10.20.0.5:80, 10.20.1.7:8050, each the right page;
#     ssh to 100.64.1.5 with key authentication echoes a random token;
#     dig @100.64.1.53 answers 192.0.2.7;
#   - on gw itself (local applications): curl of 100.64.1.6:8080 and
#     10.20.1.7:8050, dig @100.64.1.53;
#   - refused: 100.64.1.6:8081 (a port no rule names) is not captured and
#     fails, s1 sees no stream for it; 100.64.1.9:80 (outside s1's
#     allow-list) fails and gw logs "not allowed by the service portal",
#     web9 gets no request; a connection that a rogue nftables table
#     redirects to the capture port (capture.port 15001) for 100.64.9.0/24,
#     which no rule names, fails and gw logs "capture: no rule for"; the
#     same from gw itself fails too;
#   - a clean stop of gw removes the table ("capture: removed table inet
#     netport"): ruleset, ip rules and table 28273 are as saved;
#   - gw killed with SIGKILL leaves its table; started again, it logs that
#     it removed the table left by an earlier run, installs its own, curl
#     and dig from c1 work again, and after a clean stop everything is as
#     saved again;
#   - no daemon logs a line at error level.
#
# NP_TRANSPARENT_TOPO_ONLY=1 checks the test bed alone and starts no
# netport daemon (NETPORT may then be any executable): the topology, every
# application server answering inside its own LAN, no path from c1 or gw
# to the far LANs or 100.64.0.0/10, the LANs' way out to the public side,
# and the rogue nftables table redirecting to port 15001 and going away
# without a trace.
. "$(dirname "$0")/netlib.sh"

for prog in nft curl dig ssh ssh-keygen /usr/sbin/sshd dnsmasq; do
	command -v "$prog" >/dev/null ||
	    np_fail "$prog is missing (bash scripts/setup.sh installs it)"
done
topo_only=${NP_TRANSPARENT_TOPO_ONLY:-0}
capture_port=15001

np_step "topology: gw routes LAN 10.9.1.0/24; r1 192.168.1.0/24, r2 10.20.0.0/16"
nl_switch
nl_public_host srv 203.0.113.10
nl_public_host relay 203.0.113.20
nl_router gw 203.0.113.101 10.9.1 masq
nl_router r1 203.0.113.102 192.168.1 masq
nl_router r2 203.0.113.103 10.20.0 masq 16
nl_lan_host gw c1 10.9.1.2
nl_lan_host r1 s1 192.168.1.2
nl_lan_host r1 web5 192.168.1.5
nl_lan_host r1 web6 192.168.1.6
nl_lan_host r1 web9 192.168.1.9
nl_lan_host r1 dns53 192.168.1.53
nl_lan_host r2 s2 10.20.0.2
nl_lan_host r2 web205 10.20.0.5
nl_lan_host r2 web217 10.20.1.7
# A default route on gw: a connect() to an address without a route fails
# before the nat OUTPUT hook could capture it.  srv has no route to
# 100.64.0.0/10; the other LANs' routers drop what comes from outside.
ip -n "$(nl_ns gw)" route add default via 203.0.113.10

np_step "application servers: HTTP, sshd, dnsmasq"
declare -A page=()
# web NAME ROLE ADDR PORT: an HTTP server on ADDR:PORT in ROLE whose
# index.html names that host and port.
web() {
	local name=$1 role=$2 addr=$3 port=$4
	mkdir -p "$NP_TMP/www-$name"
	page[$name]="$role $addr:$port"
	echo "${page[$name]}" >"$NP_TMP/www-$name/index.html"
	nl_help "$role" "$name" http "$addr" "$port" "$NP_TMP/www-$name"
	np_wait_log "$name" "^http listening on ${addr//./\\.}:$port\$"
}
web web5-80 web5 192.168.1.5 80
web web5-8080 web5 192.168.1.5 8080
web web6-8080 web6 192.168.1.6 8080
web web9-80 web9 192.168.1.9 80
web web205-80 web205 10.20.0.5 80
web web217-8050 web217 10.20.1.7 8050

sd=$NP_TMP/ssh
mkdir -m 700 "$sd"
ssh-keygen -q -t ed25519 -N '' -f "$sd/host_key" -C net-host
ssh-keygen -q -t ed25519 -N '' -f "$sd/user_key" -C net-user
cp "$sd/user_key.pub" "$sd/authorized_keys"
cat >"$sd/sshd_config" <<EOF
ListenAddress 192.168.1.5:22
HostKey $sd/host_key
PidFile none
AuthorizedKeysFile $sd/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel VERBOSE
EOF
# sshd running as root needs its privilege separation directory.
if [ ! -d /run/sshd ]; then
	mkdir -m 0755 /run/sshd
fi
/usr/sbin/sshd -t -f "$sd/sshd_config" 2>"$NP_TMP/sshd-t.out" ||
    np_fail "sshd -t: $(cat "$NP_TMP/sshd-t.out")"
nl_start web5 sshd /usr/sbin/sshd -D -e -f "$sd/sshd_config"
np_wait_log sshd 'Server listening on 192\.168\.1\.5 port 22'
user=$(id -un)
ssh_opts=(-F /dev/null -o StrictHostKeyChecking=no
	-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=15
	-o LogLevel=ERROR -i "$sd/user_key")

# -d: foreground, no pid file, no change of user.
nl_start dns53 dns dnsmasq --no-daemon --conf-file=/dev/null --no-resolv \
    --no-hosts --listen-address=192.168.1.53 --bind-interfaces --port=53 \
    --address=/probe.example.test/192.0.2.7 --log-queries --log-facility=-
np_wait_log dns 'started, version'

# get ROLE URL NAME FROM: curl in ROLE fetches URL; the page must be the
# one of web server NAME, and NAME's log must show a new request from
# address FROM (the service portal, when through the tunnel).
get() {
	local role=$1 url=$2 name=$3 from=$4 re n out
	re="^http: ${from//./\\.} \"GET / HTTP/1\\.1\" 200"
	n=$(np_log_count "$name" "$re")
	out=$(nl_x "$role" curl -sS --noproxy '*' --fail --max-time 20 "$url" \
	    2>&1) || np_fail "curl $url in $role failed: $out"
	[ "$out" = "${page[$name]}" ] ||
	    np_fail "curl $url in $role got '$out', expected '${page[$name]}'"
	np_wait_log_more "$name" "$re" "$n" 5
	echo "    $role: $url -> $out (client $from)"
}

# no_get ROLE SECS URL: curl in ROLE fails to fetch URL within SECS.
no_get() {
	local out
	if out=$(nl_x "$1" curl -sS --noproxy '*' --fail --max-time "$2" "$3" \
	    2>&1); then
		np_fail "curl $3 in $1 succeeded: $out"
	fi
	echo "    $1: $3 -> ${out:-failed}"
}

# dns ROLE SERVER FROM: dig in ROLE asks SERVER for probe.example.test and
# gets 192.0.2.7; dnsmasq logs a new query from FROM.
dns() {
	local re="query\\[A\\] probe\\.example\\.test from ${3//./\\.}\$" n out
	n=$(np_log_count dns "$re")
	out=$(nl_x "$1" dig +short +time=5 +tries=2 "@$2" probe.example.test A \
	    2>&1) || np_fail "dig @$2 in $1 failed: $out"
	[ "$out" = 192.0.2.7 ] || np_fail "dig @$2 in $1 answered '$out'"
	np_wait_log_more dns "$re" "$n" 5
	echo "    $1: dig @$2 probe.example.test -> $out (client $3)"
}

# no_dns ROLE SERVER: dig in ROLE gets no answer from SERVER.
no_dns() {
	local out
	out=$(nl_x "$1" dig +short +time=1 +tries=1 "@$2" probe.example.test A \
	    2>&1) || true
	! grep -qx '192\.0\.2\.7' <<<"$out" ||
	    np_fail "dig @$2 in $1 answered: $out"
	echo "    $1: dig @$2 -> no answer"
}

# ssh_echo ROLE HOST FROM: ssh from ROLE to HOST runs echo of a random
# token, which must come back; sshd logs the key accepted from FROM.
ssh_echo() {
	local token out re n
	token=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
	re="Accepted publickey for $user from ${3//./\\.} port [0-9]+ ssh2: ED25519"
	n=$(np_log_count sshd "$re")
	out=$(nl_x "$1" timeout 30 ssh "${ssh_opts[@]}" "$user@$2" \
	    "echo $token" </dev/null 2>"$NP_TMP/ssh.err") ||
	    np_fail "ssh $2 in $1 failed: $(cat "$NP_TMP/ssh.err")"
	[ "$out" = "$token" ] || np_fail "ssh $2 in $1 printed '$out', expected $token"
	np_wait_log_more sshd "$re" "$n" 5
	echo "    $1: ssh $2 echo $token -> $out (client $3)"
}

np_step "every server answers inside its own LAN"
get s1 http://192.168.1.5/ web5-80 192.168.1.2
get s1 http://192.168.1.5:8080/ web5-8080 192.168.1.2
get s1 http://192.168.1.6:8080/ web6-8080 192.168.1.2
get s1 http://192.168.1.9/ web9-80 192.168.1.2
dns s1 192.168.1.53 192.168.1.2
ssh_echo s1 192.168.1.5 192.168.1.2
get s2 http://10.20.0.5/ web205-80 10.20.0.2
get s2 http://10.20.1.7:8050/ web217-8050 10.20.0.2

np_step "without the tunnel, c1 and gw reach neither far LAN nor 100.64.0.0/10"
far=(192.168.1.5:80 192.168.1.5:22 192.168.1.6:8080 192.168.1.9:80
	100.64.1.5:80 100.64.1.5:22 100.64.1.6:8080 10.20.0.5:80
	10.20.1.7:8050)
nl_probe c1 closed --timeout 2 "${far[@]}"
nl_probe gw closed --timeout 2 "${far[@]}"
for role in c1 gw; do
	no_get "$role" 2 http://100.64.1.5/
	no_get "$role" 2 http://192.168.1.5/
	no_dns "$role" 192.168.1.53
	no_dns "$role" 100.64.1.53
done

# table FAMILY: routing table 28273 of gw (-4 or -6); a table that was
# never made lists as empty, as does one whose routes were all removed.
table() {
	nl_x gw ip "$1" route show table 28273 2>"$NP_TMP/table.err" ||
	    grep -q 'FIB table does not exist' "$NP_TMP/table.err"
}

# snapshot FILE: gw's nftables ruleset (without counters), ip rules and
# routing table 28273, IPv4 and IPv6.
snapshot() {
	{
		echo "# nft list ruleset"
		nl_x gw nft -s list ruleset 2>/dev/null |
		    sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
		echo "# ip rule"
		nl_x gw ip -4 rule show
		echo "# ip -6 rule"
		nl_x gw ip -6 rule show
		echo "# ip route show table 28273"
		table -4
		echo "# ip -6 route show table 28273"
		table -6
	} >"$1" || np_fail "cannot read gw's nftables ruleset, rules or routes: $(cat "$NP_TMP/table.err")"
}

# same_as_saved WHEN: gw's snapshot now equals the one taken before gw's
# portal first started.
same_as_saved() {
	snapshot "$NP_TMP/gw-$1.txt"
	diff -u "$NP_TMP/gw-before.txt" "$NP_TMP/gw-$1.txt" >&2 ||
	    np_fail "$1: gw's ruleset, ip rules or table 28273 differ from before"
	echo "    $1: nft ruleset, ip rules, table 28273 (IPv4, IPv6) as before" \
	    "($(grep -c . "$NP_TMP/gw-$1.txt") lines)"
}

# rogue add|del: a table of the test's own in gw that redirects TCP to
# 100.64.9.0/24 port 80, which no rule names, to the capture port (nat
# chains at dstnat's priority, -100, which nft names for prerouting only).
rogue() {
	if [ "$1" = del ]; then
		nl_x gw nft delete table inet rogue ||
		    np_fail "nft: cannot delete table inet rogue in gw"
		return 0
	fi
	nl_x gw nft -f - <<EOF || np_fail "nft: cannot add table inet rogue in gw"
table inet rogue {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 100.64.9.0/24 tcp dport 80 redirect to :$capture_port
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr 100.64.9.0/24 tcp dport 80 redirect to :$capture_port
	}
}
EOF
}

if [ "$topo_only" = 1 ]; then
	np_step "topology only: routes to the /16 LAN, the LANs' way out"
	for role in srv relay gw r1; do
		via=$(nl_x "$role" ip route get 10.20.1.7)
		grep -q 'via 203\.0\.113\.103 ' <<<"$via" ||
		    np_fail "$role has no route to 10.20.1.7 via r2: $via"
	done
	addr=$(nl_x r2 ip -4 -o addr show dev lan0)
	grep -q 'inet 10\.20\.0\.1/16 ' <<<"$addr" ||
	    np_fail "r2's lan0 is not 10.20.0.1/16: $addr"
	addr=$(nl_x web217 ip -4 -o addr show dev eth0)
	grep -q 'inet 10\.20\.1\.7/16 ' <<<"$addr" ||
	    np_fail "web217's eth0 is not 10.20.1.7/16: $addr"
	nl_help srv echo443 echo 203.0.113.10 443
	np_wait_log echo443 '^echo listening on 203\.0\.113\.10:443$'
	for role in s1 s2 gw c1; do
		nl_probe "$role" open 203.0.113.10:443
	done
	np_stop echo443

	np_step "topology only: the rogue table redirects to port $capture_port and goes"
	snapshot "$NP_TMP/gw-before.txt"
	web rogue-page gw 0.0.0.0 "$capture_port"
	rogue add
	get c1 http://100.64.9.5/ rogue-page 10.9.1.2
	get gw http://100.64.9.5/ rogue-page 203.0.113.101
	rogue del
	np_stop rogue-page
	no_get c1 2 http://100.64.9.5/
	same_as_saved "rogue table deleted"

	for name in web5-80 web5-8080 web6-8080 web9-80 web205-80 web217-8050 \
	    dns sshd; do
		np_stop "$name"
	done
	np_pass "topology only: servers answer in their LANs, no path from c1 or gw without the tunnel"
	exit 0
fi

np_step "server, relay, service portals s1 (allow-list) and s2"
np_dp_pki gw s1 s2
np_policy <<'EOF'
rules:
  - name: lan1
    client: gw
    service: s1
    to: 192.168.1.0/24
    as: 100.64.1.0/24
    ports: 22,80,8080
  - name: lan1-dns
    client: gw
    service: s1
    to: 192.168.1.0/24
    as: 100.64.1.0/24
    ports: 53
    protocol: udp
  - name: lan2
    client: gw
    service: s2
    to: 10.20.0.0/16
    ports: 80,8000-8100,53
    protocol: [tcp, udp]
EOF

# portal NAME ROLE [KEY=VALUE...]: portal NAME in ROLE's namespace with the
# test timings of np_dp_portal; waits until it has applied a rule set
# (whatever number of rules each side counts).
portal() {
	local name=$1 role=$2 re='rule set [0-9]+ applied: ' n
	shift 2
	n=$(np_log_count "$name" "$re")
	np_portal_conf "$name" tunnel.keepalive=1s tunnel.dead_timeout=5s \
	    tunnel.setup_timeout=10s connect_timeout=2s drain_timeout=2s "$@"
	NETPORT=$(nl_netport "$role") np_start_portal "$name"
	np_wait_log_more "$name" "$re" "$n" 20
	echo "    $name: $(np_log_line "$name" "$re" | sed 's/.*: rule set/rule set/')"
}

installed='capture: installed table inet netport'
removed='capture: removed table inet netport'
crashed='capture: removed table inet netport left by an earlier run'

# start_gw: starts the client portal on gw and waits until it has
# installed its capture table.
start_gw() {
	local n
	n=$(np_log_count gw "$installed")
	portal gw gw capture.mode=auto capture.port="$capture_port" log.level=debug
	np_wait_log_more gw "$installed" "$n" 10
	echo "    gw: $(np_log_line gw "$installed" | sed 's/.*capture: /capture: /')"
}

nl_server
nl_relay
portal s1 s1 log.level=debug \
    'allow=["192.168.1.5:*", "192.168.1.6:*", "192.168.1.53:53"]'
portal s2 s2 log.level=debug

np_step "gw's ruleset, ip rules and table 28273 saved; gw installs its capture table"
snapshot "$NP_TMP/gw-before.txt"
! nl_x gw nft list table inet netport >/dev/null 2>&1 ||
    np_fail "gw has a table inet netport before its portal started"
start_gw
np_no_log gw "$crashed"
nl_x gw nft list table inet netport >"$NP_TMP/gw-table.txt" 2>&1 ||
    np_fail "no table inet netport in gw: $(cat "$NP_TMP/gw-table.txt")"
rules=$(nl_x gw ip rule show)
grep -Eq 'fwmark 0x6e71(/0x[0-9a-f]+)? lookup 28273' <<<"$rules" ||
    np_fail "no ip rule fwmark 0x6e71 lookup 28273 in gw: $rules"
routes=$(nl_x gw ip route show table 28273)
grep -q '^local default dev lo' <<<"$routes" ||
    np_fail "no local default route in gw's table 28273: $routes"

np_step "gateway: c1's connections to 100.64.1.0/24 and 10.20.0.0/16 reach the real hosts"
get c1 http://100.64.1.5/ web5-80 192.168.1.2
get c1 http://100.64.1.5:8080/ web5-8080 192.168.1.2
get c1 http://100.64.1.6:8080/ web6-8080 192.168.1.2
get c1 http://10.20.0.5/ web205-80 10.20.0.2
get c1 http://10.20.1.7:8050/ web217-8050 10.20.0.2
ssh_echo c1 100.64.1.5 192.168.1.2
dns c1 100.64.1.53 192.168.1.2

np_step "local applications on gw are captured too"
get gw http://100.64.1.6:8080/ web6-8080 192.168.1.2
get gw http://10.20.1.7:8050/ web217-8050 10.20.0.2
dns gw 100.64.1.53 192.168.1.2

np_step "refused: a port no rule names is not captured"
no_get c1 3 http://100.64.1.6:8081/
np_no_log s1 '(192\.168\.1\.6|100\.64\.1\.6):8081'
np_no_log gw 'capture: no rule for .*8081'

np_step "refused: an address outside s1's allow-list"
n=$(np_log_count gw 'reset by the peer: not allowed by the service portal')
n9=$(np_log_count web9-80 '^http: ')
no_get c1 5 http://100.64.1.9/
np_wait_log_more gw 'reset by the peer: not allowed by the service portal' "$n" 10
echo "    gw: $(np_log_line gw 'not allowed by the service portal' | sed 's/.*reset by the peer: /reset by the peer: /')"
[ "$(np_log_count web9-80 '^http: ')" -eq "$n9" ] ||
    np_fail "web9 got a request: $(np_log_line web9-80 '^http: ')"

np_step "refused: a connection captured by a rogue table that matches no rule"
rogue add
n=$(np_log_count gw 'capture: no rule for')
no_get c1 5 http://100.64.9.5/
np_wait_log_more gw 'capture: no rule for' "$n" 10
echo "    gw: $(np_log_line gw 'capture: no rule for' | sed 's/.*capture: /capture: /')"
# The same from a local application (gw need not log each such line).
no_get gw 5 http://100.64.9.5/
rogue del

np_step "a clean stop removes the capture table: everything as saved"
n=$(np_log_count gw "$removed")
np_stop gw
np_wait_log_more gw "$removed" "$n" 5
same_as_saved "after a clean stop"

np_step "after SIGKILL the table stays; the next start removes it, then serves"
start_gw
np_kill9 gw
nl_x gw nft list table inet netport >/dev/null 2>&1 ||
    np_fail "no table inet netport in gw after SIGKILL"
echo "    gw killed: table inet netport still there"
n=$(np_log_count gw "$crashed")
start_gw
np_wait_log_more gw "$crashed" "$n" 5
l_crashed=$(grep -En -- "$crashed" "$(np_log gw)" | tail -1 | cut -d: -f1)
l_installed=$(grep -En -- "$installed" "$(np_log gw)" | tail -1 | cut -d: -f1)
[ "$l_crashed" -lt "$l_installed" ] ||
    np_fail "gw installed its table (line $l_installed) before removing the old one (line $l_crashed)"
echo "    gw: $(np_log_line gw "$crashed" | sed 's/.*capture: /capture: /')"
get c1 http://100.64.1.5/ web5-80 192.168.1.2
get c1 http://10.20.1.7:8050/ web217-8050 10.20.0.2
dns c1 100.64.1.53 192.168.1.2
n=$(np_log_count gw "$removed")
np_stop gw
np_wait_log_more gw "$removed" "$n" 5
same_as_saved "after the restart and a clean stop"

np_step "no daemon logged an error; everyone stops cleanly"
for d in hub r1 gw s1 s2; do
	np_no_log "$d" '^[^ ]+ error '
done
for d in s1 s2 r1 hub web5-80 web5-8080 web6-8080 web9-80 web205-80 \
    web217-8050 dns sshd; do
	np_stop "$d"
done

np_pass "capture through gw: c1 and gw's own applications reach 192.168.1.0/24 as 100.64.1.0/24 and 10.20.0.0/16 (HTTP, ssh, DNS); refusals; the table goes on stop and after a crash"
