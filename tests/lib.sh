# SPDX-License-Identifier: MIT
#
# Shared code of the integration tests (tests/integration/*.sh), which run
# the real netport binary on loopback with real TLS.  Source it first:
#
#	. "$(dirname "$0")/../lib.sh"
#
# It turns on `set -euo pipefail`, makes a scratch directory $NP_TMP, and
# installs an EXIT trap that stops every process the script started (by the
# PID it recorded: SIGTERM, up to 5 s, then SIGKILL), checks that each
# exited cleanly (status 0 and no sanitizer report), prints the tail of every
# process log when the script failed, and removes $NP_TMP.
#
# Nothing here sleeps for a fixed time to let something happen: tests wait
# for a log line, a socket or a process, and every wait has a deadline.
#
# $NETPORT is the binary (ctest sets it); by default build/debug/netport of
# this tree, so that a script can be run by hand.  NP_KEEP=1 keeps the
# scratch directory, logs included, for a look after the run.

set -euo pipefail

NP_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NP_TOP=$(cd "$NP_TESTS/.." && pwd)
: "${NETPORT:=$NP_TOP/build/debug/netport}"
[ -x "$NETPORT" ] || { echo "FAIL: no netport binary at $NETPORT" >&2; exit 1; }
NP_SCRIPT=$(basename "$0" .sh)
NP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/np-$NP_SCRIPT.XXXXXX")
NP_CA=$NP_TMP/ca
NP_SERVER_ADDR=
export NETPORT NP_TMP NP_CA NP_TESTS NP_SERVER_ADDR

# Sanitizer builds: report to the process log and fail the process.  No
# leak is suppressed: every one fails its test.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

declare -A NP_PID=()		# name -> pid, while running
declare -A NP_ADDR=()		# name -> host:port it listens on
NP_NAMES=()			# every name ever started, in order
NP_STOP_TIMEOUT=5

np_fail() {
	echo "FAIL: $NP_SCRIPT: $*" >&2
	exit 1
}

np_pass() {
	echo "PASS: $NP_SCRIPT: $*"
}

# np_sanitized: true when $NETPORT is an AddressSanitizer build.  (Not
# "ldd | grep -q": under pipefail, grep quitting at the first match can fail
# the pipeline with the writer's SIGPIPE.)
np_sanitized() {
	case $(ldd "$NETPORT" 2>/dev/null) in
	*libasan*) return 0 ;;
	esac
	return 1
}

# Prints a step of the scenario (kept short: ctest shows it on failure).
np_step() {
	echo "--- $*"
}

np__now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# np_is_running NAME: true while the process lives (a zombie is dead).
np_is_running() {
	local pid=${NP_PID[$1]:-} state
	[ -n "$pid" ] || return 1
	state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# np_start NAME CMD...: runs CMD in the background, output to
# $NP_TMP/NAME.log (appended, so a restarted process keeps one log).
np_start() {
	local name=$1
	shift
	[ -z "${NP_PID[$name]:-}" ] || np_fail "np_start: $name is already running"
	"$@" </dev/null >>"$NP_TMP/$name.log" 2>&1 &
	NP_PID[$name]=$!
	case " ${NP_NAMES[*]} " in
	*" $name "*) ;;
	*) NP_NAMES+=("$name") ;;
	esac
}

# Waits up to $2 ms for the process of NAME to exit; true when it did.
np__wait_exit() {
	local name=$1 deadline=$(($(np__now_ms) + $2))
	while np_is_running "$name"; do
		[ "$(np__now_ms)" -lt "$deadline" ] || return 1
		sleep 0.02
	done
}

# Reaps NAME (which has exited); its exit status goes to NP_STATUS.
np__reap() {
	local pid=${NP_PID[$1]}
	NP_STATUS=0
	wait "$pid" 2>/dev/null || NP_STATUS=$?
	unset "NP_PID[$1]"
}

# Fails when the log of NAME holds a sanitizer report.
np__check_sanitizer() {
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer' \
	    "$NP_TMP/$1.log" 2>/dev/null; then
		echo "FAIL: $NP_SCRIPT: sanitizer report in $1.log" >&2
		return 1
	fi
}

# np_stop NAME [STATUS]: SIGTERM, wait up to 5 s, and check the exit status
# (default 0: a daemon stops cleanly on SIGTERM, and in sanitizer builds a
# leak or an error makes it exit non-zero).
np_stop() {
	local name=$1 want=${2:-0} st
	np_is_running "$name" || np_fail "np_stop: $name is not running"
	kill -TERM "${NP_PID[$name]}" 2>/dev/null || true
	if ! np__wait_exit "$name" $((NP_STOP_TIMEOUT * 1000)); then
		kill -KILL "${NP_PID[$name]}" 2>/dev/null || true
		np__reap "$name"
		np_fail "$name did not stop within ${NP_STOP_TIMEOUT} s of SIGTERM"
	fi
	np__reap "$name"
	st=$NP_STATUS
	[ "$st" -eq "$want" ] || np_fail "$name exited with status $st, expected $want"
	np__check_sanitizer "$name" || exit 1
}

# np_kill9 NAME: SIGKILL, and reap.
np_kill9() {
	local name=$1
	np_is_running "$name" || np_fail "np_kill9: $name is not running"
	kill -KILL "${NP_PID[$name]}"
	np__wait_exit "$name" 5000 || np_fail "$name survived SIGKILL"
	np__reap "$name"
}

# np_signal NAME SIG: sends a signal (e.g. HUP) to a running process.
np_signal() {
	np_is_running "$1" || np_fail "np_signal: $1 is not running"
	kill -"$2" "${NP_PID[$1]}"
}

# np_wait_exit NAME STATUS [SECONDS]: waits for NAME to exit by itself with
# STATUS.
np_wait_exit() {
	local name=$1 want=$2 secs=${3:-10} st
	np__wait_exit "$name" $((secs * 1000)) ||
	    np_fail "$name still running after $secs s"
	np__reap "$name"
	st=$NP_STATUS
	[ "$st" -eq "$want" ] || np_fail "$name exited with status $st, expected $want"
}

np_log() {
	echo "$NP_TMP/$1.log"
}

# np_log_count NAME REGEX: lines of NAME's log matching REGEX (grep -E).
np_log_count() {
	local n
	n=$(grep -Ec -- "$2" "$NP_TMP/$1.log" 2>/dev/null) || true
	echo "${n:-0}"
}

# np_wait_log_count NAME REGEX N [SECONDS]: waits until at least N lines
# of NAME's log match REGEX (default 10 s).  Fails early when NAME exits.
np_wait_log_count() {
	local name=$1 re=$2 want=$3 secs=${4:-10} deadline n
	deadline=$(($(np__now_ms) + secs * 1000))
	while :; do
		n=$(np_log_count "$name" "$re")
		[ "$n" -lt "$want" ] || return 0
		if [ -n "${NP_PID[$name]:-}" ] && ! np_is_running "$name"; then
			n=$(np_log_count "$name" "$re")
			[ "$n" -lt "$want" ] || return 0
			np_fail "$name exited while waiting for $want line(s) matching /$re/ (have $n)"
		fi
		[ "$(np__now_ms)" -lt "$deadline" ] ||
		    np_fail "$name: $n line(s) matching /$re/ after $secs s, expected $want"
		sleep 0.05
	done
}

# np_wait_log NAME REGEX [SECONDS]: waits for a line matching REGEX.
np_wait_log() {
	np_wait_log_count "$1" "$2" 1 "${3:-10}"
}

# np_wait_log_more NAME REGEX BEFORE [SECONDS]: waits for a new matching
# line, given the count BEFORE taken with np_log_count.
np_wait_log_more() {
	np_wait_log_count "$1" "$2" $(($3 + 1)) "${4:-10}"
}

# np_no_log NAME REGEX: fails if NAME's log has a matching line.
np_no_log() {
	if grep -Eq -- "$2" "$NP_TMP/$1.log" 2>/dev/null; then
		np_fail "$1: unexpected line matching /$2/: $(grep -E -- "$2" "$NP_TMP/$1.log" | head -1)"
	fi
}

# np_log_line NAME REGEX: prints the last matching line.
np_log_line() {
	grep -E -- "$2" "$NP_TMP/$1.log" | tail -1
}

# np_port: prints a free loopback TCP port.  Ports are drawn below the
# kernel's ephemeral range, so an outgoing connection never takes one in
# the meantime, and each is reserved (a directory in $NP_PORTS, shared by
# the scripts that run at the same time, removed at exit) so that two
# scripts never pick the same one.
NP_PORTS=${TMPDIR:-/tmp}/np-ports
np_port() {
	python3 - "$NP_PORTS" "$NP_TMP/ports" <<'EOF'
import os, random, socket, sys, time
shared, mine = sys.argv[1], sys.argv[2]
os.makedirs(shared, exist_ok=True)
for _ in range(500):
    port = random.randrange(20000, 32000)
    path = os.path.join(shared, str(port))
    try:
        os.mkdir(path)
    except FileExistsError:
        try:
            # A reservation left by a script that was killed.
            if time.time() - os.stat(path).st_mtime < 900:
                continue
            os.utime(path)
        except OSError:
            continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        os.rmdir(path)
        continue
    finally:
        s.close()
    with open(mine, "a") as f:
        f.write("%d\n" % port)
    print(port)
    sys.exit(0)
sys.exit("np_port: no free port found")
EOF
}

# np_port_open PORT: true when 127.0.0.1:PORT accepts a TCP connection.
np_port_open() {
	python3 - "$1" <<'EOF'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
except OSError:
    sys.exit(1)
EOF
}

# np_port_listening PORT: true when a socket listens on 127.0.0.1:PORT,
# seen with ss(8), without connecting (a connection to a portal's listener
# would ask for a tunnel).
np_port_listening() {
	[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null | awk '$4 == "127.0.0.1:'"$1"'"')" ]
}

# np_wait_port PORT open|closed [SECONDS]: waits until something listens
# on 127.0.0.1:PORT (open), or until nothing does and a connection is
# refused (closed).
np_wait_port() {
	local port=$1 want=$2 secs=${3:-10} deadline
	deadline=$(($(np__now_ms) + secs * 1000))
	while :; do
		if [ "$want" = open ]; then
			np_port_listening "$port" && return 0
		elif ! np_port_listening "$port" && ! np_port_open "$port"; then
			return 0
		fi
		[ "$(np__now_ms)" -lt "$deadline" ] ||
		    np_fail "127.0.0.1:$port is not $want after $secs s"
		sleep 0.05
	done
}

# np_echo_server NAME PORT: starts a TCP echo server on 127.0.0.1:PORT
# (one thread per connection) and waits until it listens.
np_echo_server() {
	np_start "$1" python3 -c '
import socket, sys, threading
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(64)
print("echo server listening", flush=True)
def echo(c):
    with c:
        while True:
            data = c.recv(65536)
            if not data:
                return
            c.sendall(data)
while True:
    c, _ = ls.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
' "$2"
	np_wait_log "$1" 'echo server listening'
}

# np_ca: creates the test CA in $NP_CA.
np_ca() {
	"$NETPORT" ca init --dir "$NP_CA" --name "netport test CA" \
	    >"$NP_TMP/ca-init.out" 2>&1 ||
	    np_fail "netport ca init: $(cat "$NP_TMP/ca-init.out")"
}

# np_cert ROLE NAME [ARGS...]: issues $NP_CA/certs/ROLE-NAME.{crt,key}.
np_cert() {
	local role=$1 name=$2
	shift 2
	"$NETPORT" ca issue --dir "$NP_CA" --role "$role" --name "$name" "$@" \
	    >"$NP_TMP/ca-issue.out" 2>&1 ||
	    np_fail "netport ca issue $role $name: $(cat "$NP_TMP/ca-issue.out")"
}

# np_revoke NAME [ARGS...]: revokes NAME's certificates, new CRL.
np_revoke() {
	"$NETPORT" ca revoke --dir "$NP_CA" "$@" >"$NP_TMP/ca-revoke.out" 2>&1 ||
	    np_fail "netport ca revoke $*: $(cat "$NP_TMP/ca-revoke.out")"
}

# np__conf FILE KEY=VALUE...: writes a YAML config of dotted keys; later
# pairs override earlier ones, and VALUE "-" leaves the key out.
np__conf() {
	local file=$1 kv key val
	local -A keys=()
	local -a order=()
	shift
	for kv in "$@"; do
		key=${kv%%=*}
		val=${kv#*=}
		[ -n "${keys[$key]+x}" ] || order+=("$key")
		keys[$key]=$val
	done
	: >"$file"
	for key in "${order[@]}"; do
		val=${keys[$key]}
		[ "$val" = - ] && continue
		# "[v6]:port" is quoted (YAML would read a list); a flow
		# sequence such as ["a", "b"] is written as it is.
		case $val in
		\[*\"*) ;;	# a flow sequence of quoted strings
		\[*\]:*) val="\"$val\"" ;;
		esac
		printf '%s: %s\n' "$key" "$val" >>"$file"
	done
}

# np__tls ROLE NAME: the tls.* keys of a daemon with cert ROLE-NAME, and
# its control socket in the test's directory (tests run side by side, and
# their daemons share names).
np__tls() {
	echo "tls.ca=$NP_CA/ca.crt" "tls.cert=$NP_CA/certs/$1-$2.crt" \
	    "tls.key=$NP_CA/certs/$1-$2.key" "tls.crl=$NP_CA/crl.pem" \
	    "control.socket=$NP_TMP/$1-$2.sock"
}

# np_server_conf NAME [KEY=VALUE...]: $NP_TMP/NAME.yaml for the server
# whose certificate is server-NAME, with test timings.  The listen port
# defaults to 0 (np_start_server learns the real one); the policy to
# $NP_TMP/policy.yaml.
np_server_conf() {
	local name=$1
	shift
	# shellcheck disable=SC2046
	np__conf "$NP_TMP/$name.yaml" $(np__tls server "$name") \
	    listen=127.0.0.1:0 policy="$NP_TMP/policy.yaml" policy_poll=100ms \
	    keepalive=200ms dead_timeout=1s handshake_timeout=2s \
	    stun.listen=127.0.0.1:0 "$@"
}

# np_relay_conf NAME [KEY=VALUE...]: relay-NAME, dialling $NP_SERVER_ADDR.
np_relay_conf() {
	local name=$1
	shift
	# shellcheck disable=SC2046
	np__conf "$NP_TMP/$name.yaml" $(np__tls relay "$name") \
	    server="$NP_SERVER_ADDR" listen=127.0.0.1:0 load_interval=200ms \
	    reconnect.min=100ms reconnect.max=1s \
	    fast_path="${NP_RELAY_FAST_PATH:-splice}" "$@"
}

# np_portal_conf NAME [KEY=VALUE...]: portal-NAME, dialling $NP_SERVER_ADDR.
# Direct paths are off unless NP_DIRECT=auto (or direct.mode=auto is
# given): most tests are about the relay path, which a direct path on
# loopback would replace.  Port mappings are off unless given
# (direct.portmap=...): a test asks no router but one it made.
np_portal_conf() {
	local name=$1
	shift
	# shellcheck disable=SC2046
	np__conf "$NP_TMP/$name.yaml" $(np__tls portal "$name") \
	    server="$NP_SERVER_ADDR" reconnect.min=100ms reconnect.max=1s \
	    direct.mode="${NP_DIRECT:-off}" direct.portmap=off "$@"
	# Direct candidates on loopback only: tests dial nothing else.
	case " $* " in
	*" direct.addresses="*) ;;
	*) echo 'direct.addresses: ["127.0.0.1"]' >>"$NP_TMP/$name.yaml" ;;
	esac
}

# np_start_server NAME [ARGS...]: starts the server with NAME.yaml, waits
# until it is up, and sets NP_ADDR[NAME] and NP_SERVER_ADDR to its address.
np_start_server() {
	local name=$1 n line
	shift
	n=$(np_log_count "$name" 'server_setup.*server server/[^ ]+ up')
	np_start "$name" "$NETPORT" server -c "$NP_TMP/$name.yaml" "$@"
	np_wait_log_more "$name" 'server_setup.*server server/[^ ]+ up' "$n"
	line=$(np_log_line "$name" 'listening on ')
	NP_ADDR[$name]=${line##* }
	NP_ADDR[$name]=${NP_ADDR[$name]%\"\}}
	NP_SERVER_ADDR=${NP_ADDR[$name]}
	export NP_SERVER_ADDR
}

# np_start_relay NAME [ARGS...]: starts the relay with NAME.yaml and waits
# until it is up (not until it has registered).
np_start_relay() {
	local name=$1 n
	shift
	n=$(np_log_count "$name" 'relay_setup.*relay relay/[^ ]+ up')
	np_start "$name" "$NETPORT" relay -c "$NP_TMP/$name.yaml" "$@"
	np_wait_log_more "$name" 'relay_setup.*relay relay/[^ ]+ up' "$n"
}

# np_start_portal NAME [ARGS...]: starts the portal with NAME.yaml.
np_start_portal() {
	local name=$1
	shift
	np_start "$name" "$NETPORT" portal -c "$NP_TMP/$name.yaml" "$@"
}

# np_policy [FILE] < YAML: writes the policy (default $NP_TMP/policy.yaml)
# atomically, by rename, so that a server polling it never reads half a
# file.
np_policy() {
	local file=${1:-$NP_TMP/policy.yaml}
	cat >"$file.tmp"
	mv -f "$file.tmp" "$file"
}

# np_py [ARGS...] <<'EOF' ... EOF: runs a Python test body with npctl
# importable.  Its output goes to $NP_TMP/py.log, printed on failure.
np_py() {
	echo "=== np_py $*" >>"$NP_TMP/py.log"
	PYTHONPATH=$NP_TESTS${PYTHONPATH:+:$PYTHONPATH} \
	    PYTHONDONTWRITEBYTECODE=1 python3 - "$@" >>"$NP_TMP/py.log" 2>&1 ||
	    np_fail "python step failed: $(grep -E '^FAIL|Error' "$NP_TMP/py.log" | tail -3)"
}

np__on_exit() {
	local rc=$? name pid st deadline port
	local -a running=()

	trap - EXIT
	set +e
	for name in "${NP_NAMES[@]}"; do
		if np_is_running "$name"; then
			running+=("$name")
			kill -TERM "${NP_PID[$name]}" 2>/dev/null
		fi
	done
	deadline=$(($(np__now_ms) + NP_STOP_TIMEOUT * 1000))
	for name in "${running[@]}"; do
		pid=${NP_PID[$name]}
		while np_is_running "$name" && [ "$(np__now_ms)" -lt "$deadline" ]; do
			sleep 0.02
		done
		if np_is_running "$name"; then
			kill -KILL "$pid" 2>/dev/null
			echo "FAIL: $NP_SCRIPT: $name did not stop within" \
			    "$NP_STOP_TIMEOUT s of SIGTERM" >&2
			[ "$rc" -ne 0 ] || rc=1
		fi
		np__reap "$name"
		st=$NP_STATUS
		if [ "$st" -ne 0 ] && [ "$rc" -eq 0 ]; then
			echo "FAIL: $NP_SCRIPT: $name exited with status $st" \
			    "on SIGTERM" >&2
			rc=1
		fi
	done
	# A harness built on this one (tests/net/netlib.sh) tears down what
	# it made once its processes are gone: NP_EXIT_HOOK names a function,
	# called with the status so far.
	[ -z "${NP_EXIT_HOOK:-}" ] || "$NP_EXIT_HOOK" "$rc"
	for name in "${NP_NAMES[@]}"; do
		np__check_sanitizer "$name" || { [ "$rc" -ne 0 ] || rc=1; }
	done
	if [ "$rc" -ne 0 ]; then
		for name in "${NP_NAMES[@]}" py; do
			[ -s "$NP_TMP/$name.log" ] || continue
			echo "--- last 40 lines of $name.log ---" >&2
			tail -n 40 "$NP_TMP/$name.log" >&2
		done
	fi
	if [ -f "$NP_TMP/ports" ]; then
		while read -r port; do
			rmdir "$NP_PORTS/$port" 2>/dev/null
		done <"$NP_TMP/ports"
	fi
	if [ -n "${NP_KEEP:-}" ]; then
		echo "kept $NP_TMP" >&2
	else
		rm -rf "$NP_TMP"
	fi
	exit "$rc"
}
trap np__on_exit EXIT
# Interrupted (ctest's timeout, ^C): still stop everything and clean up.
trap 'np_fail "interrupted by a signal"' INT TERM HUP
