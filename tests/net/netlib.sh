# SPDX-License-Identifier: MIT
#
# The network test bed: netport's daemons in network namespaces joined by
# veth links, behind Linux routers that do NAT with iptables, over links
# that can be delayed, made lossy, rate-limited and cut.  Source it first
# (it sources tests/lib.sh and tests/lib_data.sh itself):
#
#	. "$(dirname "$0")/netlib.sh"
#
# Needs root: without it the script prints SKIP and exits 77.  The topology
# (nl_topo) is the one of tests/net/README.md:
#
#   A 10.1.0.2 --- rA [lan0 10.1.0.1 | wan0 203.0.113.101] --+
#                                                             +-- br0 in sw
#   B 10.2.0.2 --- rB [lan0 10.2.0.1 | wan0 203.0.113.102] --+   (public)
#                                                             +-- srv   203.0.113.10
#                                                             +-- relay 203.0.113.20
#
# Every namespace is named $NL_PREFIX<role>, where the prefix carries the
# PID and start time of the script ("npnet-PID-TICKS-"), so that parallel
# runs never collide and the leftovers of a run that was killed are
# recognised (their owner is gone) and removed by the next run.  Nothing is
# configured in the root namespace: every address, route, iptables rule,
# qdisc and process lives in a namespace of this run.
#
# lib.sh's EXIT trap stops every process the script started (by recorded
# PID, checking exit status and sanitizer reports); through NP_EXIT_HOOK it
# then calls nl__exit_hook, which on failure prints the routers' firewall
# state, kills whatever else still runs inside this run's namespaces and
# deletes the namespaces.
#
# Environment: NETPORT (the binary), NP_NFQ_DELAY (the delay line,
# tests/net/nfq_delay.c; ctest sets both, and by default it is the one
# beside NETPORT in its build tree), NL_IPT (iptables command,
# default iptables; iptables-legacy works too), NP_KEEP=1 (keep $NP_TMP).

NL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NL_SCRIPT=$(basename "$0" .sh)

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: $NL_SCRIPT: needs root (network namespaces, veth, iptables);" \
	    "run it as root or with sudo"
	exit 77
fi
: "${NL_IPT:=iptables}"
for nl_tool in ip tc "$NL_IPT" "$NL_IPT-restore" python3; do
	if ! command -v "$nl_tool" >/dev/null 2>&1; then
		echo "FAIL: $NL_SCRIPT: $nl_tool is missing (bash scripts/setup.sh" \
		    "installs it)" >&2
		exit 1
	fi
done
unset nl_tool

. "$NL_DIR/../lib.sh"
. "$NL_DIR/../lib_data.sh"

NL_PY=$(python3 -c 'import sys; print(sys.executable)')
NL_HELP=$NL_DIR/nethelp.py
# Beside the binary in a build tree, unless given.
: "${NP_NFQ_DELAY:=$(dirname "$NETPORT")/tests/net/nfq_delay}"

# $$ is the script's shell; its start time tells it from a later process
# that reuses the PID.
nl__starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# shellcheck disable=SC2086
	set -- $stat
	echo "${20}"
}
NL_PREFIX="npnet-$$-$(nl__starttime $$)-"
NL_NS=()			# roles of the namespaces made, in order
NL_PUBLIC=()			# public hosts (on the switch)
NL_ROUTERS=()			# routers
declare -A NL_WAN=()		# router -> WAN address
declare -A NL_LAN=()		# router -> LAN prefix (first three octets)
declare -A NL_NET=()		# router -> LAN network (e.g. 10.1.0.0/24)
declare -A NL_LANLEN=()		# router -> LAN prefix length (24 unless given)
declare -A NL_MODE=()		# router -> NAT mode
declare -A NL_MASQ=()		# router -> its nat POSTROUTING rule
declare -A NL_IMPAIRED=()	# "role dev in|out" -> 1
NL_NETEM=			# 1 when the kernel has netem, 0 when not

# nl_ns ROLE: the name of the namespace of ROLE.
nl_ns() {
	echo "$NL_PREFIX$1"
}

# nl_x ROLE CMD...: runs CMD inside the namespace of ROLE.
nl_x() {
	local role=$1
	shift
	ip netns exec "$NL_PREFIX$role" "$@"
}

# nl_ipt ROLE ARGS...: iptables inside ROLE.
nl_ipt() {
	local role=$1
	shift
	nl_x "$role" "$NL_IPT" -w 5 "$@"
}

# nl_sysctl ROLE KEY=VALUE...: sysctl inside ROLE.
nl_sysctl() {
	local role=$1
	shift
	nl_x "$role" sysctl -q -w "$@" >/dev/null
}

# --- clean-up -------------------------------------------------------------

# Kills the processes inside namespace NS (a full name) and deletes it.
nl__remove_ns() {
	local ns=$1 pid
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	ip netns del "$ns" 2>/dev/null || true
}

# Removes the namespaces of earlier runs whose script is no longer alive
# (killed by a timeout, say): their owner's PID is gone or belongs to a
# process with another start time.  A live run is never touched.
nl__clean_stale() {
	local ns pid ticks
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		[[ $ns =~ ^npnet-([0-9]+)-([0-9]+)- ]] || continue
		pid=${BASH_REMATCH[1]}
		ticks=${BASH_REMATCH[2]}
		[ "$(nl__starttime "$pid" 2>/dev/null)" = "$ticks" ] && continue
		echo "netlib: removing $ns, left over by a run that is gone" >&2
		nl__remove_ns "$ns"
	done
}

# Prints the routers' rules and connection counts (on failure).
nl__dump_state() {
	local r
	for r in "${NL_ROUTERS[@]}"; do
		echo "--- router $r (${NL_MODE[$r]:-?}): filter, nat, mangle ---"
		nl_ipt "$r" -S 2>&1 | grep -v '^-P .* ACCEPT$'
		nl_ipt "$r" -t nat -S POSTROUTING 2>&1 | grep -- '^-A'
		nl_ipt "$r" -t mangle -S 2>&1 | grep -- '^-A'
		if command -v conntrack >/dev/null; then
			echo "conntrack entries: $(nl_x "$r" conntrack -C 2>/dev/null)"
		fi
	done >&2
}

# Called by lib.sh's EXIT trap once this script's processes are stopped:
# the state of the routers when the test failed, then anything else still
# inside this run's namespaces (started by this script, directly or not:
# nothing else enters them), then the namespaces with their links, rules
# and qdiscs.
nl__exit_hook() {
	local name
	if [ "$1" -ne 0 ] && [ "${#NL_NS[@]}" -gt 0 ]; then
		nl__dump_state
	fi
	for name in "${NL_NS[@]}"; do
		nl__remove_ns "$NL_PREFIX$name"
	done
}
NP_EXIT_HOOK=nl__exit_hook

nl__clean_stale

# --- namespaces and links --------------------------------------------------

# nl_add_ns ROLE: a new namespace with loopback up and IPv6 off.
nl_add_ns() {
	local ns=$NL_PREFIX$1
	if ! ip netns add "$ns" 2>"$NP_TMP/netns.err"; then
		if [ "${#NL_NS[@]}" -eq 0 ]; then
			echo "SKIP: $NL_SCRIPT: cannot create network namespaces" \
			    "here: $(cat "$NP_TMP/netns.err")"
			exit 77
		fi
		np_fail "ip netns add $ns: $(cat "$NP_TMP/netns.err")"
	fi
	NL_NS+=("$1")
	ip -n "$ns" link set lo up
	nl_sysctl "$1" net.ipv6.conf.all.disable_ipv6=1 \
	    net.ipv6.conf.default.disable_ipv6=1
}

# nl_veth ROLE1 DEV1 ROLE2 DEV2: a veth pair between two namespaces.
# Segmentation offload is off at both ends (gso_max_segs 1): each packet
# that iptables, a qdisc or the delay line sees is one wire packet, as on a
# real link, so that a loss rate is per packet and not per 64 KiB burst.
nl_veth() {
	ip -n "$NL_PREFIX$1" link add name "$2" type veth peer name "$4" \
	    netns "$NL_PREFIX$3"
	ip -n "$NL_PREFIX$1" link set "$2" gso_max_segs 1
	ip -n "$NL_PREFIX$3" link set "$4" gso_max_segs 1
}

# nl_switch: the public segment, a bridge br0 in namespace sw.
nl_switch() {
	nl_add_ns sw
	ip -n "$NL_PREFIX"sw link add br0 type bridge forward_delay 0 stp_state 0
	ip -n "$NL_PREFIX"sw link set br0 up
	nl__bridge_plain sw
}

# Bridged frames skip iptables in ROLE (br_netfilter would otherwise run
# them through the FORWARD chain, its policy and its impairments).
nl__bridge_plain() {
	nl_sysctl "$1" net.bridge.bridge-nf-call-iptables=0 \
	    net.bridge.bridge-nf-call-ip6tables=0 \
	    net.bridge.bridge-nf-call-arptables=0 2>/dev/null || true
}

# nl__sw_port ROLE DEV: plugs DEV of ROLE into the switch (as p-ROLE).
nl__sw_port() {
	nl_veth "$1" "$2" sw "p-$1"
	ip -n "$NL_PREFIX"sw link set "p-$1" master br0 up
	ip -n "$NL_PREFIX$1" link set "$2" up
}

# nl__net ADDR LEN: the network of ADDR/LEN, as NET/LEN.
nl__net() {
	local a b c d n
	IFS=. read -r a b c d <<<"$1"
	n=$(((a << 24 | b << 16 | c << 8 | d) & (0xffffffff << (32 - $2)) & 0xffffffff))
	echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))/$2"
}

# nl_public_host ROLE ADDR...: a host on the public segment (eth0 with
# each ADDR/24), with routes to every router's LAN through that router:
# the public side may try to reach a LAN, and only the router stops it.
nl_public_host() {
	local role=$1 addr r
	shift
	nl_add_ns "$role"
	nl__sw_port "$role" eth0
	for addr in "$@"; do
		ip -n "$NL_PREFIX$role" addr add "$addr/24" dev eth0
	done
	NL_PUBLIC+=("$role")
	for r in "${NL_ROUTERS[@]}"; do
		ip -n "$NL_PREFIX$role" route add "${NL_NET[$r]}" via "${NL_WAN[$r]}"
	done
}

# nl_router ROLE WAN_ADDR LAN_PREFIX [MODE [LEN]]: a router with wan0 on
# the switch and a LAN bridge lan0 (LAN_PREFIX.1/LEN, e.g. 10.1.0; LEN 24
# unless given, so 10.20.0 with 16 is the LAN 10.20.0.0/16 with the
# router at 10.20.0.1), forwarding, in NAT MODE (default masq; see
# nl_nat).
nl_router() {
	local role=$1 wan=$2 lan=$3 mode=${4:-masq} len=${5:-24} net h
	net=$(nl__net "$lan.1" "$len")
	nl_add_ns "$role"
	nl__sw_port "$role" wan0
	ip -n "$NL_PREFIX$role" addr add "$wan/24" dev wan0
	ip -n "$NL_PREFIX$role" link add lan0 type bridge forward_delay 0 stp_state 0
	ip -n "$NL_PREFIX$role" addr add "$lan.1/$len" dev lan0
	ip -n "$NL_PREFIX$role" link set lan0 up
	nl__bridge_plain "$role"
	nl_sysctl "$role" net.ipv4.ip_forward=1
	NL_ROUTERS+=("$role")
	NL_WAN[$role]=$wan
	NL_LAN[$role]=$lan
	NL_NET[$role]=$net
	NL_LANLEN[$role]=$len
	# Public hosts and the other routers know the way to this LAN: only
	# the router's own rules keep them out.
	for h in "${NL_PUBLIC[@]}"; do
		ip -n "$NL_PREFIX$h" route add "$net" via "$wan"
	done
	for h in "${NL_ROUTERS[@]}"; do
		[ "$h" != "$role" ] || continue
		ip -n "$NL_PREFIX$h" route add "$net" via "$wan"
		ip -n "$NL_PREFIX$role" route add "${NL_NET[$h]}" via "${NL_WAN[$h]}"
	done
	nl_nat "$role" "$mode"
}

# nl_lan_host ROUTER ROLE ADDR: a host on ROUTER's LAN (ADDR with the
# LAN's prefix length), default route via the router.
nl_lan_host() {
	local router=$1 role=$2 addr=$3
	nl_add_ns "$role"
	nl_veth "$role" eth0 "$router" "h-$role"
	ip -n "$NL_PREFIX$router" link set "h-$role" master lan0 up
	ip -n "$NL_PREFIX$role" addr add "$addr/${NL_LANLEN[$router]}" dev eth0
	ip -n "$NL_PREFIX$role" link set eth0 up
	ip -n "$NL_PREFIX$role" route add default via "${NL_LAN[$router]}.1"
}

# nl_nat ROUTER MODE: sets the router's filter and nat tables at once
# (iptables-restore; the mangle table, where impairments live, is kept):
#   masq          MASQUERADE (endpoint-independent, keeps the source port
#                 when it is free), stateful firewall
#   random-fully  MASQUERADE --random-fully (a random port per mapping),
#                 stateful firewall
#   firewall      no translation (the LAN is routed as it is), stateful
#                 firewall
#   none          routing only: no translation, no filter (connection
#                 tracking stays on, so that connections made under an
#                 earlier mode keep their translation)
# The stateful firewall forwards LAN -> WAN, lets WAN -> LAN through only
# for ESTABLISHED,RELATED connections, drops INVALID ones, and drops
# unsolicited packets to the router itself from the WAN (as home routers
# do; it also keeps conntrack from confirming them).  Existing conntrack
# entries keep the translation they were made with.
nl_nat() {
	local r=$1 mode=$2 lan=${NL_NET[$1]}
	local -a masq=()
	case $mode in
	masq) masq=(-s "$lan" -o wan0 -j MASQUERADE) ;;
	random-fully) masq=(-s "$lan" -o wan0 -j MASQUERADE --random-fully) ;;
	firewall|none) ;;
	*) np_fail "nl_nat: unknown mode $mode (masq, random-fully, firewall, none)" ;;
	esac
	{
		echo '*filter'
		if [ "$mode" = none ]; then
			# Accepts everything, but uses conntrack: without any
			# user of it the kernel stops tracking in this
			# namespace, and connections made under an earlier mode
			# would lose their translation.
			printf '%s\n' ':INPUT ACCEPT [0:0]' ':FORWARD ACCEPT [0:0]' \
			    ':OUTPUT ACCEPT [0:0]' \
			    '-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED -j ACCEPT'
		else
			printf '%s\n' ':INPUT DROP [0:0]' ':FORWARD DROP [0:0]' \
			    ':OUTPUT ACCEPT [0:0]' \
			    '-A INPUT -i lo -j ACCEPT' \
			    '-A INPUT -i lan0 -j ACCEPT' \
			    '-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT' \
			    '-A FORWARD -m conntrack --ctstate INVALID -j DROP' \
			    '-A FORWARD -i lan0 -o wan0 -j ACCEPT' \
			    '-A FORWARD -i wan0 -o lan0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT'
		fi
		echo COMMIT
	} >"$NP_TMP/ipt-$r.rules"
	nl_x "$r" "$NL_IPT-restore" -w 5 <"$NP_TMP/ipt-$r.rules" ||
	    np_fail "$NL_IPT-restore in $r failed for mode $mode"
	# The nat table changes by one rule at a time: replacing the table
	# (iptables-restore) would unregister its hooks, and the kernel then
	# strips the translation of every live connection.
	if [ -n "${NL_MASQ[$r]:-}" ]; then
		# shellcheck disable=SC2086
		nl_ipt "$r" -t nat -D POSTROUTING ${NL_MASQ[$r]}
	fi
	NL_MASQ[$r]=${masq[*]}
	if [ "${#masq[@]}" -gt 0 ]; then
		nl_ipt "$r" -t nat -A POSTROUTING "${masq[@]}"
	fi
	NL_MODE[$r]=$mode
}

# nl_topo [MODE_A [MODE_B]]: the standard topology (see the top of this
# file): switch sw; srv 203.0.113.10 and relay 203.0.113.20 on it; routers
# rA (203.0.113.101, LAN 10.1.0.0/24) and rB (203.0.113.102, 10.2.0.0/24)
# in the given NAT modes (default masq); A 10.1.0.2 and B 10.2.0.2.
nl_topo() {
	nl_switch
	nl_public_host srv 203.0.113.10
	nl_public_host relay 203.0.113.20
	nl_router rA 203.0.113.101 10.1.0 "${1:-masq}"
	nl_router rB 203.0.113.102 10.2.0 "${2:-masq}"
	nl_lan_host rA A 10.1.0.2
	nl_lan_host rB B 10.2.0.2
}

# nl_probe ROLE open|closed [--timeout S] HOST:PORT...: connection
# attempts from ROLE, all at once; fails unless each is as expected
# (closed: refused, timed out or unreachable).  Prints the results.
nl_probe() {
	local role=$1 want=$2
	shift 2
	nl_x "$role" "$NL_PY" "$NL_HELP" probe --expect "$want" "$@" \
	    >"$NP_TMP/probe.out" 2>&1 || {
		cat "$NP_TMP/probe.out" >&2
		np_fail "from $role, expected $want: $*"
	}
	sed "s/^/    $role -> /" "$NP_TMP/probe.out"
}

# --- impairment ------------------------------------------------------------

nl__have_netem() {
	if [ -z "$NL_NETEM" ]; then
		NL_NETEM=0
		nl_add_ns probe
		if nl_x probe tc qdisc add dev lo root netem delay 1ms \
		    2>/dev/null; then
			NL_NETEM=1
		fi
		nl__remove_ns "${NL_PREFIX}probe"
		unset 'NL_NS[-1]'
		NL_NS=("${NL_NS[@]}")
	fi
	[ "$NL_NETEM" = 1 ]
}

# nl_can_delay: true when delay can be emulated here (netem in the
# kernel, or the nfq_delay program built).
nl_can_delay() {
	nl__have_netem || [ -x "$NP_NFQ_DELAY" ]
}

# Converts a rate (e.g. 10mbit, 500kbit, 1gbit) to bytes per second.
nl__rate_bytes() {
	local n unit
	[[ $1 =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] ||
	    np_fail "nl_impair: rate $1: expected N followed by bit, kbit, mbit or gbit"
	n=${BASH_REMATCH[1]}
	unit=${BASH_REMATCH[2]}
	case $unit in
	bit) echo $((n / 8)) ;;
	kbit) echo $((n * 1000 / 8)) ;;
	mbit) echo $((n * 1000000 / 8)) ;;
	gbit) echo $((n * 1000000000 / 8)) ;;
	esac
}

# nl_impair ROLE DEV in|out [delay=MS] [jitter=MS] [loss=PCT] [rate=RATE]:
# impairs the packets that leave DEV (out) or arrive on it (in), in ROLE.
# Impair both ends of a link, or both sides of a router, for both
# directions.  With netem in the kernel, "out" is one netem qdisc (and
# "in" is refused: use "out" on the other end).  Without netem:
#   loss    an iptables rule, -m statistic --mode random --probability P
#           -j DROP
#   delay,  an NFQUEUE rule served by nfq_delay, which holds packets in a
#   jitter  FIFO (jitter uniform in [-J, +J], never reordering)
#   rate    a tbf qdisc on DEV (always on what leaves DEV)
# The rules sit in chain NL-out-DEV of the mangle table (from POSTROUTING
# -o DEV) or NL-in-DEV of the raw table (from PREROUTING -i DEV).  On a
# router, prefer "in": the raw table comes before connection tracking, so
# a held packet has no conntrack entry yet, whereas one held in
# POSTROUTING has an unconfirmed entry, and a second packet of the same
# flow sent meanwhile clashes with it and is dropped by the kernel (seen
# with ping; TCP sends nothing more before its handshake completes).
# Replaces an earlier impairment of DEV in that direction.
nl_impair() {
	local role=$1 dev=$2 dir=$3 kv delay=0 jitter=0 loss=0 rate='' chain
	local table hook match q name bps burst
	local -a netem=()
	shift 3
	case $dir in
	in) table=raw hook=PREROUTING match=-i ;;
	out) table=mangle hook=POSTROUTING match=-o ;;
	*) np_fail "nl_impair: direction in or out, not $dir" ;;
	esac
	for kv in "$@"; do
		case $kv in
		delay=*) delay=${kv#*=} ;;
		jitter=*) jitter=${kv#*=} ;;
		loss=*) loss=${kv#*=} ;;
		rate=*) rate=${kv#*=} ;;
		*) np_fail "nl_impair: unknown setting $kv" ;;
		esac
	done
	nl_impair_clear "$role" "$dev" "$dir"
	NL_IMPAIRED["$role $dev $dir"]=1
	if nl__have_netem; then
		[ "$dir" = out ] || np_fail "nl_impair: with netem, impair what leaves a device (out)"
		[ "$delay" = 0 ] && [ "$jitter" = 0 ] || netem+=(delay "${delay}ms" "${jitter}ms")
		[ "$loss" = 0 ] || netem+=(loss "$loss%")
		[ -z "$rate" ] || netem+=(rate "$rate")
		[ "${#netem[@]}" -eq 0 ] ||
		    nl_x "$role" tc qdisc replace dev "$dev" root netem "${netem[@]}" ||
		    np_fail "netem on $role/$dev failed"
		return 0
	fi
	chain=NL-$dir-$dev
	nl_ipt "$role" -t "$table" -N "$chain"
	if [ "$loss" != 0 ]; then
		nl_ipt "$role" -t "$table" -A "$chain" -m statistic --mode random \
		    --probability "$(awk -v p="$loss" 'BEGIN { printf "%.6f", p / 100 }')" \
		    -j DROP
	fi
	if [ "$delay" != 0 ] || [ "$jitter" != 0 ]; then
		[ -x "$NP_NFQ_DELAY" ] ||
		    np_fail "no netem in this kernel and no nfq_delay program (NP_NFQ_DELAY=$NP_NFQ_DELAY): build it (needs libnetfilter-queue-dev)"
		# Queue numbers are per namespace: unique per device and way.
		q=$(nl_x "$role" cat "/sys/class/net/$dev/ifindex")
		q=$((q * 2 + 100))
		[ "$dir" = out ] || q=$((q + 1))
		name=nfq-$role-$dev-$dir
		np_start "$name" ip netns exec "$NL_PREFIX$role" "$NP_NFQ_DELAY" \
		    -q "$q" -d "$delay" -j "$jitter"
		np_wait_log "$name" "^nfq_delay: queue $q ready"
		nl_ipt "$role" -t "$table" -A "$chain" -j NFQUEUE --queue-num "$q" \
		    --queue-bypass
	fi
	nl_ipt "$role" -t "$table" -A "$hook" "$match" "$dev" -j "$chain"
	if [ -n "$rate" ]; then
		bps=$(nl__rate_bytes "$rate")
		burst=$((bps / 50 > 16384 ? bps / 50 : 16384))
		nl_x "$role" tc qdisc replace dev "$dev" root tbf rate "$rate" \
		    burst "$burst" latency 200ms ||
		    np_fail "tbf on $role/$dev failed"
	fi
}

# nl_impair_clear ROLE DEV in|out: removes what nl_impair set.
nl_impair_clear() {
	local role=$1 dev=$2 dir=$3 name=nfq-$1-$2-$3 table=raw hook=PREROUTING
	local match=-i
	[ -n "${NL_IMPAIRED["$role $dev $dir"]:-}" ] || return 0
	unset "NL_IMPAIRED[$role $dev $dir]"
	[ "$dir" = in ] || { table=mangle hook=POSTROUTING match=-o; }
	[ "$dir" = in ] || nl_x "$role" tc qdisc del dev "$dev" root 2>/dev/null || true
	if nl_ipt "$role" -t "$table" -S "NL-$dir-$dev" >/dev/null 2>&1; then
		nl_ipt "$role" -t "$table" -D "$hook" "$match" "$dev" -j "NL-$dir-$dev"
		nl_ipt "$role" -t "$table" -F "NL-$dir-$dev"
		nl_ipt "$role" -t "$table" -X "NL-$dir-$dev"
	fi
	if np_is_running "$name"; then
		np_stop "$name"
	fi
}

# nl_impair_router ROUTER SETTINGS...: impairs the router's WAN access link
# both ways, with SETTINGS (see nl_impair) for each: what goes from the LAN
# to the WAN and what goes from the WAN to the LAN.  A delay of D ms adds
# 2*D ms to the round trip of every LAN host to the public side.  Without
# netem, the router holds packets where they come in (raw table, before
# conntrack); a rate limits what leaves wan0 and what leaves lan0.
nl_impair_router() {
	local r=$1 kv dir=in
	local -a other=() rates=()
	shift
	nl__have_netem && dir=out
	for kv in "$@"; do
		case $kv in
		rate=*) rates=("$kv") ;;
		*) other+=("$kv") ;;
		esac
	done
	if [ "$dir" = out ]; then
		nl_impair "$r" wan0 out "$@"
		nl_impair "$r" lan0 out "$@"
		return 0
	fi
	if [ "${#other[@]}" -gt 0 ]; then
		nl_impair "$r" lan0 in "${other[@]}"
		nl_impair "$r" wan0 in "${other[@]}"
	fi
	if [ "${#rates[@]}" -gt 0 ]; then
		nl_impair "$r" wan0 out "${rates[@]}"
		nl_impair "$r" lan0 out "${rates[@]}"
	fi
}

# nl_impair_router_clear ROUTER: undoes nl_impair_router.
nl_impair_router_clear() {
	local dev dir
	for dev in wan0 lan0; do
		for dir in in out; do
			nl_impair_clear "$1" "$dev" "$dir"
		done
	done
}

# nl_cut ROUTER link|drop: cuts the router's WAN: "link" sets wan0 down
# (routes via wan0 go away, and the kernel forgets the masqueraded
# connections of a device that goes down), "drop" drops every packet in
# and out of wan0 with iptables (conntrack keeps its entries).  nl_uncut
# ROUTER restores it.
nl_cut() {
	case $2 in
	link) ip -n "$NL_PREFIX$1" link set wan0 down ;;
	drop)
		nl_ipt "$1" -t mangle -N NL-CUT
		nl_ipt "$1" -t mangle -A NL-CUT -j DROP
		nl_ipt "$1" -t mangle -I PREROUTING -i wan0 -j NL-CUT
		nl_ipt "$1" -t mangle -I POSTROUTING -o wan0 -j NL-CUT
		;;
	*) np_fail "nl_cut: link or drop, not $2" ;;
	esac
}

nl_uncut() {
	ip -n "$NL_PREFIX$1" link set wan0 up
	if nl_ipt "$1" -t mangle -S NL-CUT >/dev/null 2>&1; then
		nl_ipt "$1" -t mangle -D PREROUTING -i wan0 -j NL-CUT
		nl_ipt "$1" -t mangle -D POSTROUTING -o wan0 -j NL-CUT
		nl_ipt "$1" -t mangle -F NL-CUT
		nl_ipt "$1" -t mangle -X NL-CUT
	fi
}

# --- netport and applications in namespaces ------------------------------

# nl_netport ROLE: prints the path of a wrapper that runs $NETPORT inside
# ROLE's namespace (exec all the way, so the recorded PID is netport's).
# lib.sh's starters take it as NETPORT: NETPORT=$(nl_netport A) np_...
nl_netport() {
	local w=$NP_TMP/bin/netport-$1
	if [ ! -x "$w" ]; then
		mkdir -p "$NP_TMP/bin"
		printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' \
		    "$NL_PREFIX$1" "$NETPORT" >"$w"
		chmod +x "$w"
	fi
	echo "$w"
}

# nl_server [KEY=VALUE...]: server hub in srv, listening on
# 203.0.113.10:443 (STUN on UDP 3480: nl_stun takes 3478 and 3479), with
# timings that suit impaired links; sets
# NP_SERVER_ADDR.
nl_server() {
	np_server_conf hub listen=203.0.113.10:443 keepalive=1s \
	    dead_timeout=5s handshake_timeout=5s \
	    stun.listen=203.0.113.10:3480 "$@"
	NETPORT=$(nl_netport srv) np_start_server hub
}

# nl_relay [KEY=VALUE...]: relay r1 in relay, 203.0.113.20:8443, and
# waits until the server has registered it.
nl_relay() {
	NETPORT=$(nl_netport relay) np_dp_relay r1 listen=203.0.113.20:8443 "$@"
}

# nl_portal NAME ROLE CLIENT_RULES SERVICE_RULES [KEY=VALUE...]: portal
# NAME in ROLE's namespace; waits until it has applied its rule set.
nl_portal() {
	local name=$1 role=$2
	shift 2
	NETPORT=$(nl_netport "$role") np_dp_portal "$name" "$@"
}

# nl_start ROLE NAME CMD...: np_start inside ROLE's namespace.
nl_start() {
	local role=$1 name=$2
	shift 2
	np_start "$name" ip netns exec "$NL_PREFIX$role" "$@"
}

# nl_app ROLE NAME KIND PORT [ARGS...]: a tests/dpio.py server (echo,
# source, sink, talk, http) on 127.0.0.1:PORT inside ROLE; waits until it
# listens.
nl_app() {
	local role=$1 name=$2 kind=$3 port=$4
	shift 4
	nl_start "$role" "$name" "$NL_PY" "$NP_DPIO" "$kind" "$port" "$@"
	np_wait_log "$name" "^$kind listening on 127\\.0\\.0\\.1:$port\$"
}

# nl_client ROLE NAME SECONDS ARGS...: a tests/dpio.py client inside ROLE,
# in the background, with a deadline; wait for it with np_dp_done.
nl_client() {
	local role=$1 name=$2 secs=$3
	shift 3
	nl_start "$role" "$name" "$NL_PY" "$NP_DPIO" --timeout "$secs" "$@"
}

# nl_help ROLE NAME ARGS...: tests/net/nethelp.py inside ROLE, in the
# background.
nl_help() {
	local role=$1 name=$2
	shift 2
	nl_start "$role" "$name" "$NL_PY" "$NL_HELP" "$@"
}

# nl_rule NAME CLIENT LISTEN SERVICE TARGET: one policy rule (YAML, after
# a "rules:" line); LISTEN and TARGET are host:port.
nl_rule() {
	cat <<EOF
  - name: $1
    client: $2
    listen: $3
    service: $4
    target: $5
EOF
}

# nl_asan: true when $NETPORT is built with AddressSanitizer.
nl_asan() {
	np_sanitized
}

# nl_hold SECONDS NAME...: lets SECONDS pass (a scenario's duration, such
# as an outage, not a wait for an event), failing early if one of the
# named processes dies meanwhile.
nl_hold() {
	local secs=$1 deadline name
	shift
	deadline=$(($(np__now_ms) + secs * 1000))
	while [ "$(np__now_ms)" -lt "$deadline" ]; do
		for name in "$@"; do
			np_is_running "$name" || np_fail "$name exited during a $secs s hold"
		done
		sleep 0.1
	done
}

# nl_rss NAME: resident memory of process NAME, in KiB.
nl_rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/${NP_PID[$1]}/status"
}

# nl_echo_round ROLE PORT [KIB]: from ROLE, KIB KiB (default 8 MiB)
# through an echo server behind 127.0.0.1:PORT, sent and read back at
# once; fails the test unless the same bytes come back.
nl_echo_round() {
	nl_x "$1" "$NL_PY" - "$2" "${3:-8192}" <<'EOF' || np_fail "echo of ${3:-8192} KiB through port $2 in $1 failed"
import hashlib, socket, sys, threading
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
data = hashlib.sha256(b"round").digest() * (int(sys.argv[2]) * 1024 // 32)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=send).start()
got = bytearray()
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    got += d
sys.exit(0 if bytes(got) == data else "echo returned %d of %d bytes" %
         (len(got), len(data)))
EOF
}

# nl_stun: a STUN server (nethelp.py stun) on srv's 203.0.113.10 and a
# second address, 203.0.113.11, answering from either as asked (RFC 5780
# CHANGE-REQUEST): what miniupnpd needs to see that nothing filters a
# router's reserved public address.  Call it once, before nl_miniupnpd.
nl_stun() {
	ip -n "${NL_PREFIX}srv" addr add 203.0.113.11/24 dev eth0
	nl_help srv stun stun 203.0.113.10 203.0.113.11
	np_wait_log stun '^stun ready$'
}

# nl_miniupnpd ROUTER: Debian's miniupnpd on ROUTER (UPnP-IGD and NAT-PMP
# on lan0), as process upnpd-ROUTER; waits until port forwarding is on.
# The router then lets mapped ports through (conntrack state DNAT), and
# STUN answers reach it, as on a home router.
nl_miniupnpd() {
	local r=$1 conf=$NP_TMP/miniupnpd-$1.conf
	command -v miniupnpd >/dev/null && command -v nft >/dev/null ||
	    np_fail "miniupnpd or nft is missing (bash scripts/setup.sh installs them)"
	nl_ipt "$r" -I FORWARD 2 -i wan0 -o lan0 -m conntrack --ctstate DNAT \
	    -j ACCEPT
	nl_ipt "$r" -I INPUT 1 -i wan0 -p udp -s 203.0.113.10/31 \
	    --sport 3478:3479 -j ACCEPT
	# miniupnpd's nftables chains: it adds its rules there, creates none.
	nl_x "$r" nft -f - <<'EOF' || np_fail "nft: cannot create miniupnpd's table in $r"
table inet miniupnpd {
	chain forward {
		type filter hook forward priority 0; policy accept;
		jump miniupnpd
	}
	chain miniupnpd {
	}
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump prerouting_miniupnpd
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump postrouting_miniupnpd
	}
	chain prerouting_miniupnpd {
	}
	chain postrouting_miniupnpd {
	}
}
EOF
	cat >"$conf" <<EOF
ext_ifname=wan0
listening_ip=lan0
http_port=0
enable_natpmp=yes
enable_upnp=yes
ext_perform_stun=yes
ext_stun_host=203.0.113.10
ext_stun_port=3478
upnp_table_name=miniupnpd
upnp_nat_table_name=miniupnpd
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
secure_mode=yes
system_uptime=yes
lease_file=$NP_TMP/miniupnpd-$r.leases
uuid=3b2c4f6e-1d2a-4b7c-9e8f-$(printf '%012x' "$RANDOM$RANDOM")
allow 1024-65535 ${NL_NET[$r]} 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
	nl_start "$r" "upnpd-$r" miniupnpd -d -f "$conf" \
	    -P "$NP_TMP/miniupnpd-$r.pid"
	np_wait_log "upnpd-$r" 'Port forwarding is now enabled' 20
	np_wait_log "upnpd-$r" 'HTTP listening on port'
	np_no_log "upnpd-$r" 'Port forwarding is impossible|restrictive'
}
