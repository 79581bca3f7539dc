#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Measures netport side by side with direct loopback, an stunnel chain and
# ssh -L, in one run, on loopback: throughput (iperf3, 1 and 4 streams),
# 64-byte round trips, time to first byte of new connections and of a new
# tunnel, short connections per second, memory per process and per idle
# stream, CPU per GiB moved and per connection, and the stall a stream sees
# while its tunnel moves from the relay to a direct path.  Prints one table of
# medians over several runs with min-max and the ratio to direct loopback,
# and writes it as JSON.  docs/PERFORMANCE.md explains every figure.
#
#   bash bench/run.sh                 full run (about 7 minutes on 2 cores)
#   bash bench/run.sh --quick         shorter runs, fewer repetitions (~2.5 min)
#   bash bench/run.sh --out FILE      JSON to FILE (default bench/results/latest.json)
#   bash bench/run.sh --runs N        repetitions of every measurement
#   bash bench/run.sh --profile DIR   also perf-record the forwarding processes
#                                     during a 1-stream transfer and 8 parallel
#                                     short connections; reports in DIR
#   bash bench/run.sh --relay-fast-path splice|sockmap|auto
#                                     the relay's fast_path (default splice,
#                                     the relay's own default)
#   bash bench/run.sh --keep          keep the scratch directory (logs, configs)
#   bash bench/run.sh --no-setup      skip scripts/setup.sh --bench
#   BENCH_SOCAT_NODELAY=0 bash bench/run.sh   socat without TCP_NODELAY
#
# Paths, all ending at one iperf3 server and one echo server (a port each):
#   direct   client -> target
#   netport  client -> portal A -> relay -> portal B -> target
#            (the bench's own CA, server, relay and two portals)
#   stunnel  client -> stunnel (client mode) -> socat -> stunnel (server) -> target
#            (TLS 1.3 end to end through a plain relay, the shape of netport)
#   ssh      client -> ssh -N -L -> sshd on a high port -> target
# Everything runs in a scratch directory on 127.0.0.1 with free ports, and
# is stopped on exit (only the processes this script started, by PID).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

mode=full
runs=
out=$top/bench/results/latest.json
keep=0
setup=1
profile_dir=
relay_fast_path=splice

usage() {
	sed -n '3,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) mode=quick ;;
	--out) [ $# -ge 2 ] || usage; out=$2; shift ;;
	--out=*) out=${1#--out=} ;;
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift ;;
	--runs=*) runs=${1#--runs=} ;;
	--profile) [ $# -ge 2 ] || usage; profile_dir=$2; shift ;;
	--profile=*) profile_dir=${1#--profile=} ;;
	--relay-fast-path) [ $# -ge 2 ] || usage; relay_fast_path=$2; shift ;;
	--relay-fast-path=*) relay_fast_path=${1#--relay-fast-path=} ;;
	--keep) keep=1 ;;
	--no-setup) setup=0 ;;
	-h | --help) usage 0 ;;
	*) echo "bench: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done

if [ "$mode" = quick ]; then
	: "${runs:=3}"
	tput_secs=2		# iperf3 -t, per run and path
	cps_secs=1		# short-connection loop, per run and path
	rr_count=2000		# round trips per run
	ttfb_count=10		# new connections per run
	cpu_bytes=512M		# fixed-size transfer for CPU per GiB
	mem_runs=1		# 1000-idle-stream rounds
	cold_runs=3		# restarts of the client portal
else
	: "${runs:=5}"
	tput_secs=4
	cps_secs=2
	rr_count=5000
	ttfb_count=20
	cpu_bytes=1G
	mem_runs=2
	cold_runs=5
fi
held=1000
stall_secs=3		# each stall stream (npbench stall), both modes
case $runs in
'' | *[!0-9]* | 0) echo "bench: --runs needs a positive number" >&2; exit 2 ;;
esac
case $out in
/*) ;;
*) out=$PWD/$out ;;
esac

t0_ms=$(( ${EPOCHREALTIME/./} / 1000 ))
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
clock() {
	local s=$((($(now_ms) - t0_ms) / 1000))
	printf '%02d:%02d' $((s / 60)) $((s % 60))
}
if [ -t 2 ]; then
	say() { printf '\033[1m== [%s] %s\033[0m\n' "$(clock)" "$*" >&2; }
else
	say() { printf '== [%s] %s\n' "$(clock)" "$*" >&2; }
fi
# progress: "  [mm:ss] what ... result"; the result comes with done_.
step() { printf '   [%s] %-52s ' "$(clock)" "$*" >&2; }
done_() { printf '%s\n' "$*" >&2; }

fail() {
	printf '\nbench: FAILED: %s\n' "$*" >&2
	exit 1
}

# ---- setup and build ---------------------------------------------------

say "packages (scripts/setup.sh --bench) and build (release)"
if [ "$setup" = 1 ]; then
	bash scripts/setup.sh --bench >&2
fi
for tool in iperf3 stunnel4 socat ssh ssh-keygen python3 ss cc cmake; do
	command -v "$tool" >/dev/null || fail "$tool not found (run without --no-setup)"
done
[ -x /usr/sbin/sshd ] || fail "/usr/sbin/sshd not found (openssh-server)"
if [ -n "$profile_dir" ]; then
	command -v perf >/dev/null || fail "--profile needs perf (apt-get install linux-perf)"
fi
buildlog=$(mktemp)
if ! { cmake --preset release && cmake --build --preset release; } \
    >"$buildlog" 2>&1; then
	cat "$buildlog" >&2
	rm -f "$buildlog"
	fail "release build failed"
fi
rm -f "$buildlog"
bindir=$top/build/bench
mkdir -p "$bindir"
npbench=$bindir/npbench
cc -O2 -g -Wall -Wextra -Wshadow -Wformat=2 -std=gnu11 -pthread \
    -o "$npbench.tmp" bench/npbench.c || fail "cannot compile bench/npbench.c"
mv -f "$npbench.tmp" "$npbench"
bl() { python3 "$top/bench/benchlib.py" "$@"; }

# Enough descriptors for 1000 held connections through every forwarder.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((2 * held + 100)) ] ||
    fail "need at least $((2 * held + 100)) open files (ulimit -n is $(ulimit -n))"

# ---- processes ---------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/netport-bench.XXXXXX")
raw=$work/raw.jsonl
: >"$raw"
declare -A PID=()
NAMES=()

# alive NAME: true while the process runs (a zombie is dead).
alive() {
	local pid=${PID[$1]:-} line rest
	[ -n "$pid" ] || return 1
	read -r line 2>/dev/null <"/proc/$pid/stat" || return 1
	rest=${line##*) }
	[ "${rest%% *}" != Z ]
}

# start NAME CMD...: runs CMD in the background, output to $work/NAME.log.
start() {
	local name=$1
	shift
	"$@" </dev/null >>"$work/$name.log" 2>&1 &
	PID[$name]=$!
	case " ${NAMES[*]} " in
	*" $name "*) ;;
	*) NAMES+=("$name") ;;
	esac
}

# Every descendant of a PID (socat's and sshd's per-connection children).
descendants() {
	local kid
	for kid in $(pgrep -P "$1" 2>/dev/null || true); do
		echo "$kid"
		descendants "$kid"
	done
}

# stop NAME: SIGTERM, up to 5 s, then SIGKILL; reaps it.
stop() {
	local name=$1 pid=${PID[$1]:-} deadline
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(($(now_ms) + 5000))
	while alive "$name" && [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.02
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "PID[$name]"
}

cleanup() {
	local status=$? i name pid deadline
	local -a kids=()

	trap - EXIT INT TERM
	set +e
	# Children forked by what we started (socat, sshd) go too.
	for name in "${NAMES[@]}"; do
		[ -n "${PID[$name]:-}" ] || continue
		mapfile -t -O "${#kids[@]}" kids < <(descendants "${PID[$name]}")
	done
	for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
		name=${NAMES[$i]}
		[ -n "${PID[$name]:-}" ] && kill -TERM "${PID[$name]}" 2>/dev/null
	done
	deadline=$(($(now_ms) + 5000))
	for name in "${NAMES[@]}"; do
		while alive "$name" && [ "$(now_ms)" -lt "$deadline" ]; do
			sleep 0.02
		done
		pid=${PID[$name]:-}
		[ -n "$pid" ] || continue
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for pid in "${kids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	if [ "$status" -ne 0 ]; then
		for name in "${NAMES[@]}"; do
			[ -s "$work/$name.log" ] || continue
			echo "--- last 15 lines of $name.log" >&2
			tail -n 15 "$work/$name.log" >&2
		done
	fi
	if [ "$keep" = 1 ]; then
		echo "bench: kept $work" >&2
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A private copy of the binary: a rebuild of build/release while the bench
# runs (other work in the same tree) must not change what is measured, and
# perf needs the file it profiles to stay in place.
cp "$top/build/release/netport" "$work/netport"
np=$work/netport

# wait_for WHAT SECONDS NAME CMD...: polls CMD every 50 ms until it
# succeeds; fails after SECONDS, or at once when process NAME exits.
wait_for() {
	local what=$1 secs=$2 name=$3 deadline
	shift 3
	deadline=$(($(now_ms) + secs * 1000))
	until "$@"; do
		if [ -n "$name" ] && ! alive "$name"; then
			fail "$name exited while waiting for $what"
		fi
		[ "$(now_ms)" -lt "$deadline" ] ||
		    fail "no $what after $secs s"
		sleep 0.05
	done
}
log_count() {
	local n
	n=$(grep -Ec -- "$2" "$work/$1.log" 2>/dev/null) || true
	echo "${n:-0}"
}
log_more() { [ "$(log_count "$1" "$2")" -gt "$3" ]; }
log_has() { log_more "$1" "$2" 0; }
listening() {
	[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null |
	    awk '$4 == "127.0.0.1:'"$1"'"')" ]
}
# Established connections whose local port is PORT (seen from a server).
conns_on() { ss -Htn state established "sport = :$1" 2>/dev/null | wc -l; }

# ---- configuration -----------------------------------------------------

say "starting everything on loopback in $work"
# Each path has its own echo target port, so that the TIME_WAIT sockets one
# path's short connections leave behind never slow another path's connects.
read -r e_direct e_netport e_stunnel e_ssh p_iperf p_server p_relay np_echo \
    np_iperf st_echo st_iperf so_echo so_iperf sts_echo sts_iperf p_sshd \
    ssh_echo ssh_iperf e_p2p p2p_echo p2p_iperf e_quic quic_echo quic_iperf \
    < <(bl ports 24)

cd "$work"
export NETPORT_CA_DIR=$work/ca
"$np" ca init --name "bench CA" >/dev/null
for cert in "server srv" "relay relay-1" "portal alice" "portal bob" \
    "portal carol" "portal dave" "portal erin" "portal frank" \
    "portal stunnel-client" "portal stunnel-server"; do
	read -r role cname <<<"$cert"
	"$np" ca issue --role "$role" --name "$cname" >/dev/null
done

tls() {
	printf 'tls:\n  ca: %s/ca/ca.crt\n  cert: %s/ca/certs/%s.crt\n' \
	    "$work" "$work" "$1"
	printf '  key: %s/ca/certs/%s.key\n  crl: %s/ca/crl.pem\n' \
	    "$work" "$1" "$work"
	printf 'control:\n  socket: %s/%s.sock\n' "$work" "$1"
}
cat >policy.yaml <<EOF
rules:
  - name: echo
    client: alice
    listen: 127.0.0.1:$np_echo
    service: bob
    target: 127.0.0.1:$e_netport
  - name: iperf
    client: alice
    listen: 127.0.0.1:$np_iperf
    service: bob
    target: 127.0.0.1:$p_iperf
  - name: iperf-udp
    protocol: udp
    client: alice
    listen: 127.0.0.1:$np_iperf
    service: bob
    target: 127.0.0.1:$p_iperf
  - name: p2p-echo
    client: carol
    listen: 127.0.0.1:$p2p_echo
    service: dave
    target: 127.0.0.1:$e_p2p
  - name: p2p-iperf
    client: carol
    listen: 127.0.0.1:$p2p_iperf
    service: dave
    target: 127.0.0.1:$p_iperf
  - name: p2p-iperf-udp
    protocol: udp
    client: carol
    listen: 127.0.0.1:$p2p_iperf
    service: dave
    target: 127.0.0.1:$p_iperf
  - name: quic-echo
    client: erin
    listen: 127.0.0.1:$quic_echo
    service: frank
    target: 127.0.0.1:$e_quic
  - name: quic-iperf
    client: erin
    listen: 127.0.0.1:$quic_iperf
    service: frank
    target: 127.0.0.1:$p_iperf
  - name: quic-iperf-udp
    protocol: udp
    client: erin
    listen: 127.0.0.1:$quic_iperf
    service: frank
    target: 127.0.0.1:$p_iperf
EOF
# The policy is polled often: the bench switches carol's tunnel between
# paths by editing it (direct: off), under a running stream.
{ tls server-srv; printf 'listen: 127.0.0.1:%s\npolicy: %s/policy.yaml\n' \
    "$p_server" "$work"; printf 'policy_poll: 200ms\n'
  printf 'stun:\n  listen: 127.0.0.1:0\n'; } >server.yaml
{ tls relay-relay-1; printf 'server: 127.0.0.1:%s\nlisten: 127.0.0.1:%s\nfast_path: %s\n' \
    "$p_server" "$p_relay" "$relay_fast_path"; } >relay.yaml
# The netport row measures the relayed path: no direct paths for alice and
# bob.  carol and dave are the "netport direct" row: their tunnel moves to
# a direct connection (on loopback), with no relay between them.
{ tls portal-alice; printf 'server: 127.0.0.1:%s\n' "$p_server"
  printf 'direct:\n  mode: off\n'; } >alice.yaml
{ tls portal-bob; printf 'server: 127.0.0.1:%s\n' "$p_server"
  printf 'allow: ["127.0.0.1:%s", "127.0.0.1:%s"]\n' "$e_netport" "$p_iperf"
  printf 'direct:\n  mode: off\n'
} >bob.yaml
{ tls portal-carol; printf 'server: 127.0.0.1:%s\n' "$p_server"
  printf 'direct:\n  addresses: ["127.0.0.1"]\n  portmap: off\n'; } >carol.yaml
{ tls portal-dave; printf 'server: 127.0.0.1:%s\n' "$p_server"
  printf 'allow: ["127.0.0.1:%s", "127.0.0.1:%s"]\n' "$e_p2p" "$p_iperf"
  printf 'direct:\n  addresses: ["127.0.0.1"]\n  portmap: off\n'
} >dave.yaml
# erin and frank are the "netport direct over QUIC" row: their tunnel
# moves to a QUIC path (direct.quic: prefer, so that it is chosen over
# direct TCP on loopback).
{ tls portal-erin; printf 'server: 127.0.0.1:%s\n' "$p_server"
  printf 'direct:\n  addresses: ["127.0.0.1"]\n  portmap: off\n  quic: prefer\n'
} >erin.yaml
{ tls portal-frank; printf 'server: 127.0.0.1:%s\n' "$p_server"
  printf 'allow: ["127.0.0.1:%s", "127.0.0.1:%s"]\n' "$e_quic" "$p_iperf"
  printf 'direct:\n  addresses: ["127.0.0.1"]\n  portmap: off\n  quic: prefer\n'
} >frank.yaml

# stunnel: the same CA and key type (ECDSA P-256) and the same TLS 1.3
# suite netport negotiates (AES-128-GCM), mutual authentication, TCP_NODELAY
# like netport, and warnings only in the log (no line per connection).
stunnel_conf() {
	local side=$1 client=$2
	shift 2
	cat <<EOF
foreground = yes
pid =
debug = 4
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
cert = $work/ca/certs/portal-stunnel-$side.crt
key = $work/ca/certs/portal-stunnel-$side.key
CAfile = $work/ca/ca.crt
CRLfile = $work/ca/crl.pem
verifyChain = yes
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
client = $client
EOF
	while [ $# -gt 0 ]; do
		printf '[%s]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' \
		    "$1" "$2" "$3"
		shift 3
	done
}
stunnel_conf client yes echo "$st_echo" "$so_echo" \
    iperf "$st_iperf" "$so_iperf" >stunnel-client.conf
stunnel_conf server no echo "$sts_echo" "$e_stunnel" \
    iperf "$sts_iperf" "$p_iperf" >stunnel-server.conf

# sshd on a high port with its own host key, authorized key and config.
mkdir -p ssh
ssh-keygen -q -t ed25519 -N '' -C bench-host -f ssh/host_ed25519
ssh-keygen -q -t ed25519 -N '' -C bench-user -f ssh/user_ed25519
cp ssh/user_ed25519.pub ssh/authorized_keys
printf '[127.0.0.1]:%s %s\n' "$p_sshd" "$(cut -d' ' -f1,2 ssh/host_ed25519.pub)" \
    >ssh/known_hosts
cat >ssh/sshd_config <<EOF
Port $p_sshd
ListenAddress 127.0.0.1
HostKey $work/ssh/host_ed25519
PidFile none
AuthorizedKeysFile $work/ssh/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding local
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
Ciphers aes128-gcm@openssh.com
LogLevel ERROR
EOF
# sshd refuses to start as root without its privilege separation directory.
if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
	mkdir -p /run/sshd
	chmod 0755 /run/sshd
fi

# ---- start -------------------------------------------------------------

step "targets: echo server, iperf3 server"
start echo "$npbench" echo "$e_direct" "$e_netport" "$e_stunnel" "$e_ssh" \
    "$e_p2p" "$e_quic"
start iperf3 iperf3 -s -B 127.0.0.1 -p "$p_iperf" --idle-timeout 60
wait_for "echo server" 10 echo log_has echo 'echo listening'
wait_for "iperf3 server" 10 iperf3 listening "$p_iperf"
done_ ok

step "netport: server, relay, service portal, client portal"
start server "$np" server -c server.yaml
wait_for "netport server" 15 server log_has server 'listening on'
start relay "$np" relay -c relay.yaml
start bob "$np" portal -c bob.yaml
start alice "$np" portal -c alice.yaml
wait_for "relay registration" 15 relay log_has relay 'registered'
# Which way the relay forwards (auto may fall back): shown in the table.
if log_has relay 'forwarding in the kernel'; then
	relay_fast_path=sockmap
else
	relay_fast_path=splice
fi
wait_for "service portal rules" 15 bob log_has bob 'rule set .* applied'
wait_for "client portal listener" 15 alice \
    log_has alice "listening on 127.0.0.1:$np_echo "
wait_for "client portal listener" 15 alice \
    log_has alice "listening on 127.0.0.1:$np_iperf "
done_ ok

step "netport direct: portals carol and dave"
start dave "$np" portal -c dave.yaml
start carol "$np" portal -c carol.yaml
wait_for "service portal rules" 15 dave log_has dave 'rule set .* applied'
wait_for "client portal listener" 15 carol \
    log_has carol "listening on 127.0.0.1:$p2p_echo "
wait_for "client portal listener" 15 carol \
    log_has carol "listening on 127.0.0.1:$p2p_iperf "
done_ ok

step "netport direct over QUIC: portals erin and frank"
start frank "$np" portal -c frank.yaml
start erin "$np" portal -c erin.yaml
wait_for "service portal rules" 15 frank log_has frank 'rule set .* applied'
wait_for "client portal listener" 15 erin \
    log_has erin "listening on 127.0.0.1:$quic_echo "
wait_for "client portal listener" 15 erin \
    log_has erin "listening on 127.0.0.1:$quic_iperf "
done_ ok

step "stunnel server, socat relays, stunnel client"
start st_server stunnel4 "$work/stunnel-server.conf"
# TCP_NODELAY on both sides, as netport's relay sets it: without it, socat
# holds back the small second flight of each TLS handshake until the delayed
# ACK (about 40 ms per new connection).  BENCH_SOCAT_NODELAY=0 measures the
# plain command.
nodelay=,nodelay
[ "${BENCH_SOCAT_NODELAY:-1}" = 1 ] || nodelay=
start socat_echo socat -b 131072 \
    "TCP-LISTEN:$so_echo,bind=127.0.0.1,reuseaddr,fork$nodelay" \
    "TCP:127.0.0.1:$sts_echo$nodelay"
start socat_iperf socat -b 131072 \
    "TCP-LISTEN:$so_iperf,bind=127.0.0.1,reuseaddr,fork$nodelay" \
    "TCP:127.0.0.1:$sts_iperf$nodelay"
start st_client stunnel4 "$work/stunnel-client.conf"
for port in "$sts_echo st_server" "$sts_iperf st_server" \
    "$so_echo socat_echo" "$so_iperf socat_iperf" "$st_echo st_client" \
    "$st_iperf st_client"; do
	read -r pnum name <<<"$port"
	wait_for "$name on port $pnum" 15 "$name" listening "$pnum"
done
done_ ok

step "sshd, ssh -N -L"
start sshd /usr/sbin/sshd -D -e -f "$work/ssh/sshd_config"
wait_for "sshd" 15 sshd listening "$p_sshd"
start ssh ssh -F /dev/null -N -p "$p_sshd" -i "$work/ssh/user_ed25519" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$work/ssh/known_hosts" -o ExitOnForwardFailure=yes \
    -o Compression=no -o ServerAliveInterval=0 -c aes128-gcm@openssh.com \
    -L "127.0.0.1:$ssh_echo:127.0.0.1:$e_ssh" \
    -L "127.0.0.1:$ssh_iperf:127.0.0.1:$p_iperf" "$(id -un)@127.0.0.1"
wait_for "ssh -L listener" 15 ssh listening "$ssh_echo"
wait_for "ssh -L listener" 15 ssh listening "$ssh_iperf"
done_ ok

paths=(direct netport p2p quic stunnel ssh)
declare -A ECHO_PORT=([direct]=$e_direct [netport]=$np_echo [p2p]=$p2p_echo
    [quic]=$quic_echo [stunnel]=$st_echo
    [ssh]=$ssh_echo)
declare -A TARGET_PORT=([direct]=$e_direct [netport]=$e_netport [p2p]=$e_p2p
    [quic]=$e_quic [stunnel]=$e_stunnel [ssh]=$e_ssh)
# settled PATH: the path's target has no connection left (waits up to 60 s).
settled() {
	wait_for "teardown of $1's connections" 60 "" \
	    test "$(conns_on "${TARGET_PORT[$1]}")" -eq 0
}
declare -A IPERF_PORT=([direct]=$p_iperf [netport]=$np_iperf [p2p]=$p2p_iperf
    [quic]=$quic_iperf [stunnel]=$st_iperf [ssh]=$ssh_iperf)

# procs PATH echo|iperf: sets P to the forwarding processes of a path, as
# NAME=SPEC for benchlib.py (a SPEC of PID:sub means the PID's descendants:
# sshd's session processes; socat's SPEC includes its forked children).
procs() {
	case $1 in
	netport) P=("client=${PID[alice]}" "relay=${PID[relay]}"
	    "service=${PID[bob]}") ;;
	p2p) P=("client=${PID[carol]}" "service=${PID[dave]}") ;;
	quic) P=("client=${PID[erin]}" "service=${PID[frank]}") ;;
	stunnel) P=("client=${PID[st_client]}" "socat=${PID[socat_$2]}"
	    "server=${PID[st_server]}") ;;
	ssh) P=("client=${PID[ssh]}" "sshd=${PID[sshd]}:sub") ;;
	direct) P=() ;;
	esac
}

# rec METRIC PATH PROC VALUE: one raw measurement of run $run.
run=0
rec() {
	local proc=null
	[ -z "$3" ] || proc="\"$3\""
	printf '{"metric": "%s", "path": "%s", "proc": %s, "run": %d, "value": %s}\n' \
	    "$1" "$2" "$proc" "$run" "$4" >>"$raw"
}
# rec_json METRIC PATH JSON: a {"proc": value} object from benchlib.py.
rec_json() {
	local k v
	while read -r k v; do
		rec "$1" "$2" "$k" "$v"
	done < <(python3 -c 'import json, sys
for k, v in json.loads(sys.argv[1]).items(): print(k, v)' "$3")
}

# iperf PATH ARGS...: iperf3 -J through PATH into $work/iperf.json.
iperf() {
	local path=$1
	shift
	timeout 120 iperf3 -c 127.0.0.1 -p "${IPERF_PORT[$path]}" -J "$@" \
	    >"$work/iperf.json" 2>>"$work/iperf-client.log" ||
	    fail "$path: iperf3 $* failed: $(bl field "$work/iperf.json" \
	    error 2>/dev/null || tail -3 "$work/iperf-client.log")"
}

# ---- warm-up: every path works, every tunnel is up ---------------------

say "warm-up: every path carries an echo and an iperf3 transfer"
# The stall a stream sees while its tunnel changes paths.  The very first
# connection through carol's port is a stall stream (64 bytes every ms,
# echoes checked for order and content): it asks for the tunnel, which
# comes up on the relay and moves to direct while the stream runs, so the
# stream's longest time without an echo includes the move.  The relayed
# row's first stream (no path switch: alice and bob have direct paths off)
# and direct loopback give the longest gap the same stream sees anyway on
# this machine.  All three run before anything else touches their ports.
step "netport direct: first stream, ${stall_secs} s across the move"
"$npbench" stall "$p2p_echo" "$stall_secs" >"$work/stall-p2p.json" ||
    fail "p2p: the stall stream through port $p2p_echo failed"
# The direct row is only that once carol's tunnel has left the relay.
wait_for "carol's tunnel on a direct path" 20 carol \
    log_has carol 'to portal/dave now direct: '
# The move (RESUME both ways) and the time since the tunnel's grant, and
# when the move was done (the log's UTC timestamp, to the millisecond):
# the report checks that it fell inside the stall stream.
p2p_line=$(grep -m1 -- 'to portal/dave now direct: ' "$work/carol.log")
p2p_move_ms=$(sed -n 's/.*the move took \([0-9]*\) ms.*/\1/p' <<<"$p2p_line")
p2p_grant_ms=$(sed -n 's/.*, \([0-9]*\) ms after the grant.*/\1/p' \
    <<<"$p2p_line")
p2p_direct_at=${p2p_line%% *}
done_ "longest gap $(bl field "$work/stall-p2p.json" max_gap_ms) ms;" \
    "moved after ${p2p_grant_ms:-?} ms"
for path in netport direct; do
	step "$path: first stream, ${stall_secs} s (no path switch)"
	"$npbench" stall "${ECHO_PORT[$path]}" "$stall_secs" \
	    >"$work/stall-$path.json" ||
	    fail "$path: the stall stream through port ${ECHO_PORT[$path]} failed"
	done_ "longest gap $(bl field "$work/stall-$path.json" max_gap_ms) ms"
done
# Two path switches under one running stream: direct: off on carol's
# rules moves her tunnel from its direct path to the relay, and taking it
# away moves it back to a direct path.  The log lines' timestamps place
# each switch among the stream's longest gaps (the report does that).
switch_secs=8
step "netport direct: a ${switch_secs} s stream across two path switches"
"$npbench" stall "$p2p_echo" "$switch_secs" >"$work/stall-switch.json" &
switch_pid=$!
n_relay=$(log_count carol 'to portal/dave resumed via relay ')
n_direct=$(log_count carol 'to portal/dave now direct: ')
cp policy.yaml policy-auto.yaml
sed 's/^    service: dave$/    service: dave\n    direct: "off"/' \
    policy-auto.yaml >policy-off.yaml
# A second of stream before the first switch: the scenario's timing (the
# report places each switch in the stream by its time, or says it missed).
sleep 1
mv policy-off.yaml policy.yaml
wait_for "carol's tunnel on the relay" 15 carol \
    log_more carol 'to portal/dave resumed via relay ' "$n_relay"
cp policy-auto.yaml policy.yaml.new
mv policy.yaml.new policy.yaml
wait_for "carol's tunnel direct again" 15 carol \
    log_more carol 'to portal/dave now direct: ' "$n_direct"
wait "$switch_pid" || fail "the stream across the path switches failed"
switch_relay_at=$(grep -- 'to portal/dave resumed via relay ' carol.log |
    sed -n "$((n_relay + 1))p" | cut -d' ' -f1)
switch_direct_at=$(grep -- 'to portal/dave now direct: ' carol.log |
    sed -n "$((n_direct + 1))p" | cut -d' ' -f1)
done_ "longest gap $(bl field "$work/stall-switch.json" max_gap_ms) ms"
for path in "${paths[@]}"; do
	step "$path"
	"$npbench" ttfb "${ECHO_PORT[$path]}" 3 >"$work/warm.json" ||
	    fail "$path: echo through port ${ECHO_PORT[$path]} failed"
	# The QUIC row is only that once erin's tunnel is on its QUIC path.
	[ "$path" != quic ] || wait_for "erin's tunnel on a QUIC path" 20 erin \
	    log_has erin 'to portal/frank now direct: .*/quic, QUIC'
	iperf "$path" -n 32M
	done_ "ok ($(bl iperf "$work/iperf.json" | cut -d' ' -f1) Gbit/s)"
done

# ---- memory: idle and with 1000 idle streams ---------------------------

say "memory: RSS idle and with $held idle streams ($mem_runs round(s))"
for ((run = 1; run <= mem_runs; run++)); do
	for path in netport stunnel ssh; do
		port=${ECHO_PORT[$path]}
		step "$path: idle, then $held streams (round $run/$mem_runs)"
		settled "$path"	# nothing left from the previous round
		procs "$path" echo
		idle=$(bl rss "${P[@]}")
		rec_json rss_idle "$path" "$idle"
		rec_json anon_idle "$path" "$(bl rss --anon "${P[@]}")"
		start hold "$npbench" hold "$port" "$held"
		wait_for "$held held connections through $path" 180 hold \
		    log_has hold '^holding'
		full=$(bl rss "${P[@]}")
		rec_json rss_1000 "$path" "$full"
		stop hold
		rm -f "$work/hold.log"
		done_ "$(python3 -c 'import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(", ".join(f"{k} {a[k] / 1024:.1f}->{b[k] / 1024:.1f} MiB" for k in a))' \
		    "$idle" "$full")"
	done
done
for path in netport stunnel ssh; do settled "$path"; done

# ---- the rounds --------------------------------------------------------

# One measurement of one path; records and prints it.
m_rr() {
	"$npbench" rr "${ECHO_PORT[$1]}" "$rr_count" 64 >"$work/m.json" ||
	    fail "$1: round trips failed"
	local p50 p99
	p50=$(bl field "$work/m.json" p50_us)
	p99=$(bl field "$work/m.json" p99_us)
	rec rr_p50 "$1" "" "$p50"
	rec rr_p99 "$1" "" "$p99"
	done_ "p50 $p50 µs, p99 $p99 µs"
}
m_ttfb() {
	"$npbench" ttfb "${ECHO_PORT[$1]}" "$ttfb_count" >"$work/m.json" ||
	    fail "$1: new connections failed"
	local p50
	p50=$(bl field "$work/m.json" p50_us)
	rec ttfb_warm "$1" "" "$p50"
	done_ "p50 $p50 µs"
}
m_cps() {	# PATH PARALLEL METRIC
	local rc=0 cps errors conns before=''
	# CPU per connection of the forwarding processes, around the 8-way run.
	# "machine" is every CPU's busy time: the load generator, the echo
	# server and the kernel's own threads included.
	if [ "$2" -gt 1 ]; then
		procs "$1" echo
		P+=("machine=machine")
		before=$(bl cpu "${P[@]}")
	fi
	"$npbench" cps "${ECHO_PORT[$1]}" "$cps_secs" "$2" >"$work/m.json" ||
	    rc=$?
	[ -s "$work/m.json" ] || fail "$1: short connections failed"
	cps=$(bl field "$work/m.json" cps)
	errors=$(bl field "$work/m.json" errors)
	conns=$(bl field "$work/m.json" conns)
	rec "$3" "$1" "" "$cps"
	if [ -n "$before" ]; then
		settled "$1"	# the closes are part of the cost
		rec_json cpu_conn "$1" "$(python3 -c 'import json, sys
a, b, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
print(json.dumps({k: round((b[k] - a[k]) * 1e6 / max(n, 1), 1) for k in a}))' \
		    "$before" "$(bl cpu "${P[@]}")" "$conns")"
	fi
	if [ "$rc" -ne 0 ] || [ "$errors" -ne 0 ]; then
		done_ "$cps conn/s, $errors FAILED ($(bl field "$work/m.json" last_error))"
	else
		done_ "$cps conn/s"
	fi
	settled "$1"	# the closes of this burst are done
}
m_tput() {	# PATH STREAMS METRIC
	local gbps bytes ipid
	if [ "$1" != direct ] && [ "$2" -gt 1 ]; then
		# RSS of the forwarding processes while the transfer runs.
		procs "$1" iperf
		iperf "$1" -t "$tput_secs" -P "$2" &
		ipid=$!
		bl rss-peak "$ipid" "${P[@]}" >"$work/rss.json" ||
		    fail "RSS sampler failed"
		wait "$ipid" || exit 1	# iperf has said why
		rec_json rss_xfer "$1" "$(cat "$work/rss.json")"
	else
		iperf "$1" -t "$tput_secs" -P "$2"
	fi
	read -r gbps bytes < <(bl iperf "$work/iperf.json")
	rec "$3" "$1" "" "$gbps"
	done_ "$(printf '%.2f' "$gbps") Gbit/s"
}
m_udp() {	# PATH [RATE]: iperf3 -u, unlimited rate (0) or RATE (such as
		# 500M); only direct and the netport rows carry UDP
	local mbps kpps loss rate=${2:-0}
	iperf "$1" -u -b "$rate" -l 1400 -t "$tput_secs"
	read -r mbps kpps loss < <(bl iperf-udp "$work/iperf.json" 1400)
	if [ "$rate" = 0 ]; then
		rec udp_mbps "$1" "" "$mbps"
		rec udp_kpps "$1" "" "$kpps"
		rec udp_loss "$1" "" "$loss"
	else
		rec udp500_mbps "$1" "" "$mbps"
		rec udp500_loss "$1" "" "$loss"
	fi
	done_ "$mbps Mbit/s, $kpps kpps, $loss% lost"
}
m_cpu() {
	local before after bytes
	procs "$1" iperf
	# The machine's busy time covers what no process is charged for: on
	# loopback, softirq work and the kernel threads that forward for
	# the relay's fast path.  Direct loopback gives its baseline.
	P+=("machine=machine")
	before=$(bl cpu "${P[@]}")
	iperf "$1" -n "$cpu_bytes"
	after=$(bl cpu "${P[@]}")
	read -r _ bytes < <(bl iperf "$work/iperf.json")
	perg=$(python3 -c 'import json, sys
a, b, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
print(json.dumps({k: round((b[k] - a[k]) / (n / 2**30), 4) for k in a}))' \
	    "$before" "$after" "$bytes")
	rec_json cpu_gib "$1" "$perg"
	done_ "$(python3 -c 'import json, sys
print(", ".join(f"{k} {v:.2f}" for k, v in json.loads(sys.argv[1]).items()), "CPU-s/GiB")' "$perg")"
}

say "measurements: $runs rounds, every path side by side in each"
for ((run = 1; run <= runs; run++)); do
	# Rotate the order so that no path always goes first.
	n=${#paths[@]}
	order=("${paths[@]:$(((run - 1) % n))}" "${paths[@]:0:$(((run - 1) % n))}")
	for path in "${order[@]}"; do
		step "round $run/$runs  round trip 64 B    $path"; m_rr "$path"
	done
	for path in "${order[@]}"; do
		step "round $run/$runs  new connection     $path"; m_ttfb "$path"
	done
	for path in "${order[@]}"; do
		step "round $run/$runs  short conns seq.   $path"
		m_cps "$path" 1 cps1
	done
	for path in "${order[@]}"; do
		step "round $run/$runs  short conns 8 par. $path"
		m_cps "$path" 8 cps8
	done
	for path in "${order[@]}"; do
		step "round $run/$runs  iperf3 1 stream    $path"
		m_tput "$path" 1 tput1
	done
	for path in "${order[@]}"; do
		step "round $run/$runs  iperf3 4 streams   $path"
		m_tput "$path" 4 tput4
	done
	for path in direct netport p2p quic; do
		step "round $run/$runs  UDP, unlimited rate $path"
		m_udp "$path"
	done
	# A fixed offered rate, the same for every row, so that loss can be
	# compared where no row is saturated by its generator alone.
	for path in direct netport p2p quic; do
		step "round $run/$runs  UDP, 500 Mbit/s    $path"
		m_udp "$path" 500M
	done
	for path in "${order[@]}"; do
		step "round $run/$runs  CPU per GiB ($cpu_bytes) $path"
		m_cpu "$path"
	done
done

# ---- idle again --------------------------------------------------------

run=1
for path in netport stunnel ssh; do
	settled "$path"
	procs "$path" echo
	rec_json rss_after "$path" "$(bl rss "${P[@]}")"
done

# ---- profiles (optional) -----------------------------------------------

if [ -n "$profile_dir" ]; then
	mkdir -p "$profile_dir"
	profile_dir=$(cd "$profile_dir" && pwd)
	say "profiles (perf record -g) into $profile_dir"
	# profile LABEL WHAT-TO-RUN NAME=PID[,PID...]|comm:NAME...: one
	# system-wide record while WHAT-TO-RUN runs (system-wide, because
	# stunnel creates a thread per connection after any per-process record
	# would attach), then LABEL-NAME.txt (libraries, top symbols) and
	# LABEL-NAME.callers.txt (call chains) for each NAME.
	profile() {
		local label=$1 cmd=$2 data
		shift 2
		data=$profile_dir/$label.data
		start perf perf record -a -g -F 999 -o "$data" -- \
		    sleep "$((tput_secs + 1))"
		wait_for "perf record to start" 10 perf \
		    test -s "$data"
		eval "$cmd"
		wait "${PID[perf]}" 2>/dev/null || true
		unset "PID[perf]"
		bl perf-split "$data" "$profile_dir/$label" "$@" ||
		    echo "bench: perf report failed for $label" >&2
	}
	sshd_kids=$(descendants "${PID[sshd]}" | paste -sd, -)
	step "netport 1 stream"
	# kworker threads: where the relay's fast path sends (sockmap).
	profile tput1-netport "iperf netport -t $tput_secs -P 1" \
	    client="${PID[alice]}" relay="${PID[relay]}" service="${PID[bob]}" \
	    kworkers='comm:kworker*'
	done_ "$(bl iperf "$work/iperf.json" | cut -d' ' -f1) Gbit/s"
	step "netport direct over QUIC 1 stream"
	profile tput1-quic "iperf quic -t $tput_secs -P 1" \
	    client="${PID[erin]}" service="${PID[frank]}"
	done_ "$(bl iperf "$work/iperf.json" | cut -d' ' -f1) Gbit/s"
	step "stunnel 1 stream"
	profile tput1-stunnel "iperf stunnel -t $tput_secs -P 1" \
	    client="${PID[st_client]}" socat=comm:socat server="${PID[st_server]}"
	done_ "$(bl iperf "$work/iperf.json" | cut -d' ' -f1) Gbit/s"
	step "ssh 1 stream"
	profile tput1-ssh "iperf ssh -t $tput_secs -P 1" \
	    client="${PID[ssh]}" sshd="$sshd_kids"
	done_ "$(bl iperf "$work/iperf.json" | cut -d' ' -f1) Gbit/s"
	step "netport 8 parallel short connections"
	profile cps8-netport \
	    "\"\$npbench\" cps \"\$np_echo\" \"\$tput_secs\" 8 >\"\$work/m.json\" || true" \
	    client="${PID[alice]}" relay="${PID[relay]}" service="${PID[bob]}"
	done_ "$(bl field "$work/m.json" cps) conn/s"
	step "ssh 8 parallel short connections"
	profile cps8-ssh \
	    "\"\$npbench\" cps \"\$ssh_echo\" \"\$tput_secs\" 8 >\"\$work/m.json\" || true" \
	    client="${PID[ssh]}" sshd="$sshd_kids"
	done_ "$(bl field "$work/m.json" cps) conn/s"
	settled netport
	settled ssh
fi

# ---- time to first byte of a stream that brings a tunnel up ------------

say "netport: first stream of a new tunnel ($cold_runs client-portal restarts)"
for ((run = 1; run <= cold_runs; run++)); do
	step "restart the client portal ($run/$cold_runs), first stream"
	n=$(log_count alice "listening on 127.0.0.1:$np_echo ")
	up=$(log_count alice 'up via relay')
	stop alice
	start alice "$np" portal -c alice.yaml
	wait_for "client portal listener" 15 alice \
	    log_more alice "listening on 127.0.0.1:$np_echo " "$n"
	"$npbench" ttfb "$np_echo" 1 >"$work/m.json" ||
	    fail "netport: first stream after a restart failed"
	log_more alice 'up via relay' "$up" ||
	    fail "netport: the first stream did not bring a new tunnel up"
	ms=$(python3 -c 'import json, sys
print(round(json.load(open(sys.argv[1]))["p50_us"] / 1000, 2))' "$work/m.json")
	rec ttfb_cold netport "" "$ms"
	done_ "$ms ms"
done

# ---- report ------------------------------------------------------------

python3 - "$work/meta.json" "$top" <<EOF
import json, os, platform, subprocess, sys

def out(cmd, match=""):
    """The first output line of cmd (stdout or stderr) containing match."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "?"
    for line in (r.stdout + r.stderr).splitlines():
        if match in line:
            return line.strip()
    return "?"

cpu = out(["cat", "/proc/cpuinfo"], "model name").split(":", 1)[-1].strip()
meta = {
    "mode": "$mode", "runs": $runs, "nproc": os.cpu_count(), "cpu": cpu,
    "kernel": platform.release(),
    "date": out(["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"]),
    "loadavg_end": open("/proc/loadavg").read().split()[:3],
    "netport": out(["git", "-C", sys.argv[2], "describe", "--always",
                    "--dirty"]),
    "openssl": out(["openssl", "version"]),
    "stunnel": out(["stunnel4", "-version"], "stunnel "),
    "ssh": out(["ssh", "-V"]),
    "iperf3": out(["iperf3", "--version"], "iperf"),
    "socat": out(["socat", "-V"], "socat version"),
    "relay_fast_path": "$relay_fast_path",
    "p2p_move_ms": "${p2p_move_ms:-}",
    "p2p_grant_ms": "${p2p_grant_ms:-}",
    "p2p_direct_at": "${p2p_direct_at:-}",
    "stall": {p: json.load(open(f"$work/stall-{p}.json"))
              for p in ("p2p", "netport", "direct")},
    "stall_secs": $stall_secs,
    "stall_switch": json.load(open("$work/stall-switch.json")),
    "switch_secs": $switch_secs,
    "switch_relay_at": "${switch_relay_at:-}",
    "switch_direct_at": "${switch_direct_at:-}",
    "params": {"tput_secs": $tput_secs, "cps_secs": $cps_secs,
               "rr_count": $rr_count, "ttfb_count": $ttfb_count,
               "cpu_bytes": "$cpu_bytes", "mem_runs": $mem_runs,
               "cold_runs": $cold_runs},
    "held_streams": $held,
    "elapsed_s": round(($(now_ms) - $t0_ms) / 1000),
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF
say "results"
echo
mkdir -p "$(dirname "$out")"
bl report "$raw" "$work/meta.json" "$out" | tee "${out%.json}.txt"
echo
echo "JSON: $out   (table: ${out%.json}.txt)   elapsed $(clock)" >&2
