# SPDX-License-Identifier: MIT
#
# Shared code of the data-plane tests (tests/integration/dp_*.sh).  Source
# it after lib.sh:
#
#	. "$(dirname "$0")/../lib.sh"
#	. "$(dirname "$0")/../lib_data.sh"
#
# The usual cast is server hub, relay r1, client portal pa and service
# portal pb; the applications at both ends are tests/dpio.py (echo, source,
# sink and HTTP servers behind pb; clients in front of pa), whose result
# lines carry byte counts and SHA-256 digests.  Hand-made portals and
# relays, for the scenarios real ones never produce, are Python programs
# using tests/dptun.py (relay handshake, tunnel TLS, frames) with
# tests/npctl.py (control sessions).  Like lib.sh, nothing here
# sleeps for a fixed time: every wait is on a log line, a socket or a
# process, with a deadline.

NP_DPIO=$NP_TESTS/dpio.py

# np_dp_pki [PORTAL...]: the CA, and certificates for server hub, relay r1,
# portals pa and pb and every PORTAL named.
np_dp_pki() {
	local p
	np_ca
	np_cert server hub
	np_cert relay r1
	for p in pa pb "$@"; do
		np_cert portal "$p"
	done
}

# np_dp_rule NAME CLIENT LISTEN_PORT SERVICE TARGET_PORT: one policy rule
# (YAML, to be piped into np_policy after a "rules:" line).
np_dp_rule() {
	cat <<EOF
  - name: $1
    client: $2
    listen: 127.0.0.1:$3
    service: $4
    target: 127.0.0.1:$5
EOF
}

# np_dp_server [KEY=VALUE...]: configures and starts server hub.
np_dp_server() {
	np_server_conf hub "$@"
	np_start_server hub
}

# np_dp_relay [NAME [KEY=VALUE...]]: starts relay NAME (default r1) and
# waits until the server has registered it (again, after a restart).
np_dp_relay() {
	local name=${1:-r1} n
	[ $# -eq 0 ] || shift
	n=$(np_log_count hub "peer=relay/$name .*relay registered")
	np_relay_conf "$name" "$@"
	np_start_relay "$name"
	np_wait_log_more hub "peer=relay/$name .*relay registered" "$n"
}

# np_dp_portal NAME CLIENT_RULES SERVICE_RULES [KEY=VALUE...]: starts
# portal NAME with test timings and waits until it has applied a rule set
# with that many client-side and service-side rules.
np_dp_portal() {
	local name=$1 c=$2 s=$3 re n
	shift 3
	re="rule set [0-9]+ applied: $c client-side, $s service-side"
	n=$(np_log_count "$name" "$re")
	np_portal_conf "$name" tunnel.keepalive=1s tunnel.dead_timeout=5s \
	    tunnel.setup_timeout=10s connect_timeout=2s drain_timeout=2s "$@"
	np_start_portal "$name"
	np_wait_log_more "$name" "$re" "$n"
}

# np_dp_app NAME KIND PORT [ARGS...]: starts a dpio.py server (echo,
# source, sink, http) on 127.0.0.1:PORT and waits until it listens.
np_dp_app() {
	local name=$1 kind=$2 port=$3
	shift 3
	np_start "$name" python3 "$NP_DPIO" "$kind" "$port" "$@"
	np_wait_log "$name" "^$kind listening on 127\\.0\\.0\\.1:$port\$"
}

# np_dp_client NAME SECONDS ARGS...: runs a dpio.py client (put, get, many)
# in the background with a deadline of SECONDS; wait with np_dp_done.
np_dp_client() {
	local name=$1 secs=$2
	shift 2
	np_start "$name" python3 "$NP_DPIO" --timeout "$secs" "$@"
}

# np_dp_done NAME SECONDS: waits for client NAME, started with a deadline
# of SECONDS, to finish successfully (a few seconds of grace, so that a
# client past its deadline reports it itself).
np_dp_done() {
	np_wait_exit "$1" 0 $(($2 + 5))
}

# np_dp_field LINE FIELD: "bytes" or "sha256" or "rate" of a result line.
np_dp_field() {
	case $2 in
	bytes) sed -E 's/.* ([0-9]+) bytes sha256 .*/\1/' <<<"$1" ;;
	sha256) sed -E 's/.* sha256 ([0-9a-f]{64}) .*/\1/' <<<"$1" ;;
	rate) sed -E 's/.*\(([0-9.]+) MiB\/s.*/\1/' <<<"$1" ;;
	secs) sed -E 's/.* in ([0-9.]+) s .*/\1/' <<<"$1" ;;
	*) np_fail "np_dp_field: no field $2" ;;
	esac
}

# np_dp_same_data NAME_A REGEX_A NAME_B REGEX_B BYTES: the last result line
# matching REGEX_A in NAME_A's log and the one in NAME_B's carry BYTES
# bytes and the same SHA-256; prints the first line.
np_dp_same_data() {
	local a b
	a=$(np_log_line "$1" "$2")
	b=$(np_log_line "$3" "$4")
	[ -n "$a" ] || np_fail "$1: no line matching /$2/"
	[ -n "$b" ] || np_fail "$3: no line matching /$4/"
	[ "$(np_dp_field "$a" bytes)" = "$5" ] ||
	    np_fail "$1 moved $(np_dp_field "$a" bytes) bytes, expected $5: $a"
	[ "$(np_dp_field "$b" bytes)" = "$5" ] ||
	    np_fail "$3 moved $(np_dp_field "$b" bytes) bytes, expected $5: $b"
	[ "$(np_dp_field "$a" sha256)" = "$(np_dp_field "$b" sha256)" ] ||
	    np_fail "digests differ: $1: $a; $3: $b"
	echo "$a"
}

# np_dp_granted: how many tunnels the server has granted so far.
np_dp_granted() {
	np_log_count hub 'tunnel granted: '
}

# np_dp_echo_once PORT WORD: WORD 1000 times through an echo server behind
# 127.0.0.1:PORT, the sending side then shut; fails (status 1, the reason
# on stderr) unless exactly that comes back.
np_dp_echo_once() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
msg = sys.argv[2].encode() * 1000
s.sendall(msg)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    got += d
sys.exit(0 if got == msg else "echo returned %d of %d bytes" % (len(got), len(msg)))
EOF
}

# np_dp_blackhole PORT...: drops every loopback TCP packet to or from the
# ports (iptables, root only), as a path whose packets vanish; undone by
# np_dp_unblackhole, which the caller also runs on exit (NP_EXIT_HOOK).
NP_DP_BLACKHOLED=()
np_dp_blackhole() {
	local p
	for p in "$@"; do
		iptables -w -I INPUT -i lo -p tcp --dport "$p" -j DROP
		iptables -w -I INPUT -i lo -p tcp --sport "$p" -j DROP
		NP_DP_BLACKHOLED+=("$p")
	done
}
np_dp_unblackhole() {
	local p
	for p in "${NP_DP_BLACKHOLED[@]}"; do
		iptables -w -D INPUT -i lo -p tcp --dport "$p" -j DROP || true
		iptables -w -D INPUT -i lo -p tcp --sport "$p" -j DROP || true
	done
	NP_DP_BLACKHOLED=()
}
