#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Transparent capture on one host (the namespace test bed's net_transparent
# covers a LAN gateway across NATs).  The whole cast runs in a network
# namespace of its own, so that the capture rules it installs touch
# nothing else; the "LAN" behind the service portal is addresses on its
# loopback (192.168.1.5, .6, .9, .53, and fd00:20::5).  Rules: lan1 maps 100.64.1.0/24
# onto 192.168.1.0/24 for TCP 80 and 8080 and UDP 53; web6 captures
# 192.168.1.6:8080 itself (no mapping, so the service portal's own
# connection to it would be captured again if netport's sockets were not
# exempt); range is a listener rule with ports 18080-18081 that map to
# themselves on 192.168.1.5.
#
# Checks: curl through the mapped range reaches the right host and port,
# over IPv4 and IPv6;
# curl to 192.168.1.6:8080 is captured and served through the tunnel, not
# looped (the service portal's marked connection is not captured); dig over UDP
# through TPROXY (IPv4 and IPv6); the port-range listener; an address the service
# portal's allow-list leaves out is refused with the reason logged on the
# client side; a destination redirected to the capture port by someone
# else's rule, which no capture rule covers, is refused; a stop leaves the
# ruleset, the policy rules and the route table as they were; after a
# SIGKILL the table stays, and the next start removes it first; with
# capture.mode print the rules are logged and nothing is installed; with
# capture.backend iptables the same traffic is captured through chains of
# netport's own, which a stop removes.
set -u
if [ -z "${NP_CAPTURE_NS:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || ! command -v nft >/dev/null; then
		echo "SKIP: $0: needs root and nft (network namespaces, nftables)"
		exit 77
	fi
	ns=npcap-$$-$(date +%s%N)
	ip netns add "$ns" || { echo "SKIP: cannot create a namespace"; exit 77; }
	rc=0
	ip netns exec "$ns" env NP_CAPTURE_NS="$ns" bash "$0" "$@" || rc=$?
	ip netns del "$ns"
	exit "$rc"
fi

. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

np_step "a namespace: loopback with the LAN's addresses, a default route"
ip link set lo up
for a in 192.168.1.5 192.168.1.6 192.168.1.9 192.168.1.53; do
	ip addr add "$a/32" dev lo
done
# A default route that leads nowhere: connect() to 100.64.x.y needs a
# route before the nat output hook sees it.
ip link add up0 type veth peer name up1
ip addr add 10.99.0.1/24 dev up0
ip link set up0 up
ip link set up1 up
ip route add default via 10.99.0.2
ip -6 addr add fd00:20::5/128 dev lo nodad
ip -6 addr add fd00:20::53/128 dev lo nodad
ip -6 addr add fd00:99::1/64 dev up0 nodad
ip -6 route add default via fd00:99::2
nft list ruleset >"$NP_TMP/ruleset.before"
ip rule >"$NP_TMP/rule.before"

np_dp_pki
range_lo=18080
policy() {
	cat <<EOF
rules:
  - {name: lan1, client: pa, service: pb, to: 192.168.1.0/24, as: 100.64.1.0/24, ports: "80,8080"}
  - {name: lan1-dns, client: pa, service: pb, to: 192.168.1.0/24, as: 100.64.1.0/24, ports: 53, protocol: udp}
  - {name: web6, client: pa, service: pb, to: 192.168.1.6, ports: 8080}
  - {name: range, client: pa, service: pb, listen: 127.0.0.1, target: 192.168.1.5, ports: "$range_lo-$((range_lo + 1))"}
  - {name: v6, client: pa, service: pb, to: "fd00:20::/64", as: "fd00:64::/64", ports: 8080}
  - {name: v6-dns, client: pa, service: pb, to: "fd00:20::/64", as: "fd00:64::/64", ports: 53, protocol: udp}
EOF
}
policy | np_policy

for hp in 192.168.1.5:80 192.168.1.5:8080 192.168.1.6:80 192.168.1.6:8080 \
    192.168.1.9:8080 192.168.1.5:$range_lo 192.168.1.5:$((range_lo + 1)); do
	d=$NP_TMP/www-${hp/:/-}
	mkdir -p "$d"
	echo "page of $hp" >"$d/index.html"
	np_start "http-$hp" python3 "$NP_TESTS/net/nethelp.py" http \
	    "${hp%:*}" "${hp#*:}" "$d"
	np_wait_log "http-$hp" "^http listening on ${hp//./\\.}\$"
done
mkdir -p "$NP_TMP/www-v6"
echo "page of [fd00:20::5]:8080" >"$NP_TMP/www-v6/index.html"
np_start http-v6 python3 "$NP_TESTS/net/nethelp.py" http fd00:20::5 8080 \
    "$NP_TMP/www-v6"
np_wait_log http-v6 '^http listening on fd00:20::5:8080$'
np_start dns dnsmasq --no-daemon --conf-file=/dev/null --no-resolv \
    --no-hosts --listen-address=192.168.1.53,fd00:20::53 --bind-interfaces --port=53 \
    --address=/probe.example.test/192.0.2.7 --log-facility=-

np_dp_server
np_dp_relay
cport=$(np_port)
# Here both portals share the namespace: pb runs with capture.mode print,
# which marks its sockets as a capturing portal's are and installs nothing,
# so that pa's rules leave pb's own connections alone.
np_dp_portal pa 6 0 capture.mode=auto capture.port="$cport"
np_dp_portal pb 0 6 log.level=debug capture.mode=print \
    allow='["192.168.1.5:*", "192.168.1.6:*", "192.168.1.53:53", "[fd00:20::5]:8080", "[fd00:20::53]:53"]'
np_wait_log pa 'capture: installed table inet netport \(5 rules'
nft list table inet netport | sed 's/^/    /'

np_step "curl through the mapped range: each page from its own host and port"
for hp in 100.64.1.5:80 100.64.1.5:8080 100.64.1.6:80; do
	got=$(curl -sS --fail --max-time 10 "http://$hp/") ||
	    np_fail "curl http://$hp/ failed"
	[ "$got" = "page of 192.168.1.${hp#100.64.1.}" ] ||
	    np_fail "http://$hp/ answered '$got'"
	echo "    http://$hp/ -> $got"
done

np_step "IPv6: [fd00:64::5]:8080 mapped onto [fd00:20::5]:8080"
got=$(curl -sS -g --fail --max-time 10 "http://[fd00:64::5]:8080/") ||
    np_fail "curl over IPv6 failed"
[ "$got" = "page of [fd00:20::5]:8080" ] || np_fail "answered '$got'"

np_step "an unmapped capture: 192.168.1.6:8080 goes through the tunnel, once"
got=$(curl -sS --fail --max-time 10 http://192.168.1.6:8080/) ||
    np_fail "curl http://192.168.1.6:8080/ failed"
[ "$got" = "page of 192.168.1.6:8080" ] || np_fail "answered '$got'"
np_wait_log pb 'stream [0-9]+: connecting to 192\.168\.1\.6:8080 for rule web6'
[ "$(np_log_count pb 'connecting to .* for rule web6')" -eq 1 ] ||
    np_fail "the service portal's own connection was captured again"

np_step "dig over UDP through TPROXY, IPv4 and IPv6"
ans=$(dig +short +time=5 +tries=2 @100.64.1.53 probe.example.test A)
[ "$ans" = 192.0.2.7 ] || np_fail "dig answered '$ans'"
ans=$(dig +short +time=5 +tries=2 @fd00:64::53 probe.example.test A)
[ "$ans" = 192.0.2.7 ] || np_fail "dig over IPv6 answered '$ans'"
grep -q 'fwmark 0x6e71 lookup 28273' <<<"$(ip rule)" ||
    np_fail "no policy rule for captured UDP: $(ip rule)"

np_step "a port-range listener rule: each port to the same port of its target"
for port in "$range_lo" "$((range_lo + 1))"; do
	got=$(curl -sS --fail --max-time 10 "http://127.0.0.1:$port/") ||
	    np_fail "curl 127.0.0.1:$port failed"
	[ "$got" = "page of 192.168.1.5:$port" ] || np_fail "answered '$got'"
done

np_step "netport status shows the capture"
st=$("$NETPORT" status -c "$NP_TMP/pa.yaml")
grep -E 'capture: auto, nftables, installed; tcp port [0-9]+, udp port [0-9]+; [0-9]+ UDP flow' <<<"$st" ||
    np_fail "status: $st"

np_step "refused: the service portal's allow-list leaves 192.168.1.9 out"
curl -sS --max-time 5 -o /dev/null http://100.64.1.9:8080/ 2>/dev/null &&
    np_fail "192.168.1.9 was reached"
np_wait_log pa 'reset by the peer: not allowed by the service portal: target 192\.168\.1\.9:8080'

np_step "refused: a redirect no capture rule covers"
nft -f - <<EOF
table inet rogue {
	chain out {
		type nat hook output priority -150; policy accept;
		ip daddr 100.64.9.0/24 tcp dport 80 redirect to :$cport
	}
}
EOF
curl -sS --max-time 5 -o /dev/null http://100.64.9.9/ 2>/dev/null &&
    np_fail "a connection no rule covers was served"
np_wait_log pa 'capture: no rule for tcp 100\.64\.9\.9:80'
nft delete table inet rogue

np_step "a stop removes the table and the policy route"
np_stop pa
np_wait_log pa 'capture: removed table inet netport$'
diff <(nft list ruleset) "$NP_TMP/ruleset.before" ||
    np_fail "the ruleset is not as it was"
diff <(ip rule) "$NP_TMP/rule.before" || np_fail "ip rule is not as it was"
[ -z "$(ip route show table 28273 2>/dev/null)" ] ||
    np_fail "routes left in table 28273"

np_step "SIGKILL leaves the table; the next start removes it first"
np_dp_portal pa 6 0 capture.mode=auto capture.port="$cport"
np_wait_log_count pa 'capture: installed table inet netport' 2
np_signal pa KILL
np__wait_exit pa 10000 || np_fail "pa did not die of SIGKILL"
np__reap pa
nft list table inet netport >/dev/null ||
    np_fail "the table went away with the process"
np_dp_portal pa 6 0 capture.mode=auto capture.port="$cport"
np_wait_log pa 'capture: removed table inet netport left by an earlier run'
np_wait_log_count pa 'capture: installed table inet netport' 3
curl -sS --fail --max-time 10 -o /dev/null http://100.64.1.5/ ||
    np_fail "curl after the restart failed"
np_stop pa
diff <(nft list ruleset) "$NP_TMP/ruleset.before" ||
    np_fail "the ruleset is not as it was after the restart"

np_step "capture.mode print: the rules are logged, nothing installed"
np_dp_portal pa 6 0 capture.mode=print capture.port="$cport"
np_wait_log pa 'capture: install these nftables rules with nft -f'
np_wait_log pa "capture: +ip daddr 100\.64\.1\.0/24 tcp dport \{ 80,8080 \} redirect to :$cport"
np_wait_log pa 'capture: +ip rule add fwmark 0x6e71 lookup 28273'
diff <(nft list ruleset) "$NP_TMP/ruleset.before" ||
    np_fail "print mode changed the ruleset"
np_stop pa

np_step "capture.backend iptables: the same rules through iptables-restore"
if command -v iptables-restore >/dev/null; then
	np_dp_portal pa 6 0 capture.mode=auto capture.backend=iptables \
	    capture.port="$cport"
	np_wait_log pa 'capture: installed iptables chains NETPORT_PREROUTING and NETPORT_OUTPUT \(5 rules'
	iptables-save | grep NETPORT | sed 's/^/    /'
	for hp in 100.64.1.5:8080 192.168.1.6:8080 "[fd00:64::5]:8080"; do
		curl -sS -g --fail --max-time 10 -o /dev/null "http://$hp/" ||
		    np_fail "curl http://$hp/ through iptables failed"
	done
	ans=$(dig +short +time=5 +tries=2 @100.64.1.53 probe.example.test A)
	[ "$ans" = 192.0.2.7 ] || np_fail "dig through iptables answered '$ans'"
	np_stop pa
	np_wait_log pa 'capture: removed iptables chains'
	! iptables-save | grep -q NETPORT || np_fail "iptables chains left"
	! ip6tables-save | grep -q NETPORT || np_fail "ip6tables chains left"
	diff <(ip rule) "$NP_TMP/rule.before" ||
	    np_fail "ip rule is not as it was"
else
	echo "    (no iptables-restore here: skipped)"
fi
np_pass "mapped and unmapped capture (IPv4, IPv6), UDP, port ranges, refusals, clean-up, print mode, iptables"
