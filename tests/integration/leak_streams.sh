#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# 10,000 streams opened and closed through one tunnel leave the portals and
# the relay where they started: the same number of open file descriptors,
# and (outside sanitizer builds, whose allocator keeps freed memory in
# quarantine) a resident set within a small margin.  Each stream sends a
# short message to an echo service and checks the answer, so every stream
# really crosses the tunnel both ways.  NP_STREAMS overrides the count.
. "$(dirname "$0")/../lib.sh"

streams=${NP_STREAMS:-10000}

np_ca
np_cert server srv
np_cert relay relay-1
np_cert portal alice
np_cert portal bob
echo_port=$(np_port)
rule_port=$(np_port)
np_policy <<EOF
rules:
  - name: echo
    client: alice
    listen: 127.0.0.1:$rule_port
    service: bob
    target: 127.0.0.1:$echo_port
EOF
np_echo_server echo "$echo_port"
np_server_conf srv
np_start_server srv
np_relay_conf relay-1
np_start_relay relay-1
np_portal_conf alice
np_portal_conf bob
np_start_portal alice
np_start_portal bob
np_wait_log relay-1 'registered'
np_wait_port "$rule_port" open
np_wait_log bob 'rule set .* applied'

# Runs N streams, 32 at a time; each echoes 64 bytes and checks them.
run_streams() {
	python3 - "$rule_port" "$1" <<'PY'
import socket, sys, threading
port, total = int(sys.argv[1]), int(sys.argv[2])
lock = threading.Lock()
state = {"next": 0, "bad": 0}
def worker():
    while True:
        with lock:
            i = state["next"]
            if i >= total:
                return
            state["next"] += 1
        msg = (b"stream %08d " % i) * 4
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                s.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    chunk = s.recv(len(msg) - len(got))
                    if not chunk:
                        break
                    got += chunk
                if got != msg:
                    raise ValueError("stream %d: bad echo" % i)
        except Exception as e:
            with lock:
                state["bad"] += 1
                if state["bad"] <= 5:
                    print("FAIL:", e, flush=True)
threads = [threading.Thread(target=worker) for _ in range(32)]
for t in threads: t.start()
for t in threads: t.join()
if state["bad"]:
    sys.exit("FAIL: %d of %d streams failed" % (state["bad"], total))
PY
}

fds() { ls "/proc/${NP_PID[$1]}/fd" | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/${NP_PID[$1]}/status"; }

# Waits until NAME's descriptor count is back to WANT (streams close
# asynchronously after the clients see their echo).
wait_fds() {
	local name=$1 want=$2 deadline=$(($(np__now_ms) + 20000)) n
	while :; do
		n=$(fds "$name")
		[ "$n" -eq "$want" ] && return 0
		[ "$(np__now_ms)" -lt "$deadline" ] ||
		    np_fail "$name holds $n descriptors, started with $want"
		sleep 0.1
	done
}

np_step "warm-up: 500 streams (the tunnel comes up, allocators settle)"
run_streams 500 || np_fail "warm-up streams failed"
declare -A fd0 rss0
sleep_until_quiet() {
	# The last streams of the warm-up close asynchronously: wait until
	# each process's descriptor count holds still for half a second.
	local p=$1 a b deadline=$(($(np__now_ms) + 20000))
	a=$(fds "$p")
	while :; do
		sleep 0.5
		b=$(fds "$p")
		[ "$a" -eq "$b" ] && return 0
		a=$b
		[ "$(np__now_ms)" -lt "$deadline" ] ||
		    np_fail "$p descriptors keep changing"
	done
}
for p in alice bob relay-1; do
	sleep_until_quiet "$p"
	fd0[$p]=$(fds "$p")
	rss0[$p]=$(rss_kib "$p")
done
[ "$(np_log_count srv 'tunnel granted')" -eq 1 ] ||
    np_fail "expected one tunnel for all streams"

np_step "$streams streams"
start=$(np__now_ms)
run_streams "$streams" || np_fail "streams failed"
elapsed=$(($(np__now_ms) - start))
[ "$(np_log_count srv 'tunnel granted')" -eq 1 ] ||
    np_fail "the streams did not all reuse the one tunnel"

sanitized=0
np_sanitized && sanitized=1
for p in alice bob relay-1; do
	wait_fds "$p" "${fd0[$p]}"
	rss=$(rss_kib "$p")
	grow=$((rss - rss0[$p]))
	echo "$p: ${fd0[$p]} descriptors before and after; RSS ${rss0[$p]} -> $rss KiB"
	# 4 MiB: allocator fragmentation, not a per-stream leak (which
	# would be 10,000 x its size).
	if [ "$sanitized" -eq 0 ] && [ "$grow" -gt 4096 ]; then
		np_fail "$p grew by $grow KiB over $streams streams"
	fi
done
np_stop echo 143
np_pass "$streams streams in $elapsed ms ($((streams * 1000 / (elapsed + 1))) per second); descriptors unchanged"
