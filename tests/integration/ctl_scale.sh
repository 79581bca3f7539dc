#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The server with many portals, through the scale benchmark's load
# generator (bench/npscale.c: real certificates, real mutual TLS, the
# portals' keepalives and reconnect schedule), at a size a test can
# afford: 400 portals, a policy of 200 pair rules and a group rule to all.
#   - every portal registers, none fails
#   - a policy change reaches every portal: parsed off the loop, fanned
#     out in slices, while the server keeps answering a probe's PINGs
#   - tunnel requests are all granted
#   - the server restarts: its portals heard in ERROR SHUTDOWN how wide to
#     spread their return (reconnect_rate 200/s: 2 s for 400), drew their
#     first attempts from that window (not from the plain jitter of at
#     most 1 s), and all came back at the first attempt
. "$(dirname "$0")/../lib.sh"

[ -x "${NPSCALE:-}" ] || np_fail "NPSCALE (the npscale binary) is not set"
n=400
pairs=200
np_ca
np_cert server hub
np_cert relay r1
policy() {
	python3 - "$n" "$pairs" "$1" <<'PY'
import sys
n, pairs, variant = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print("groups:\n  all: [" + ", ".join("p%d" % i for i in range(n)) + "]")
print("rules:")
print("  - name: all\n    client: \"@all\"\n    listen: 127.0.0.1:%d\n"
      "    service: hub\n    target: 127.0.0.1:22" % (9000 + variant))
for i in range(pairs):
    print("  - name: r%d\n    client: p%d\n    listen: 127.0.0.1:%d\n"
          "    service: p%d\n    target: 127.0.0.1:80" % (i, 2 * i, 10000 + i, 2 * i + 1))
PY
}
policy 0 | np_policy

np_step "server, relay, and the generator"
port=$(np_port)
# Keepalives every 2 s: 400 portals at the test timing of 200 ms would be
# 4,000 PINGs a second, which measures nothing here.
np_server_conf hub listen="127.0.0.1:$port" policy_poll=0s keepalive=2s \
    dead_timeout=6s handshake_timeout=10s reconnect_rate=200
np_start_server hub
np_relay_conf r1 capacity=100000
np_start_relay r1
np_wait_log hub 'peer=relay/r1 .*relay registered'
coproc GEN { exec "$NPSCALE" --server "127.0.0.1:$port" --ca-dir "$NP_CA" \
    --server-pid "${NP_PID[hub]}" --policy "$NP_TMP/policy.yaml" \
    --max "$n" --window 50 2>"$NP_TMP/npscale.err"; }
gen_pid=$GEN_PID
# The generator first, then lib.sh's own exit work (stopping the daemons,
# removing the scratch directory) with the script's status.
trap 'np_rc=$?; kill "$gen_pid" 2>/dev/null; (exit "$np_rc"); np__on_exit' EXIT
answer=
ask() {
	echo "$*" >&"${GEN[1]}"
	read -r -t 120 answer <&"${GEN[0]}" ||
	    np_fail "the generator did not answer '$*': $(tail -3 "$NP_TMP/npscale.err")"
	echo "$* -> $answer" >>"$NP_TMP/npscale.out"
}
field() {
	python3 -c 'import json, sys; v = json.loads(sys.argv[1]);
for k in sys.argv[2].split("."): v = v[k]
print(v)' "$answer" "$1"
}
read -r -t 60 answer <&"${GEN[0]}" || np_fail "the generator did not start"

np_step "$n portals register"
ask grow "$n"
[ "$(field up)" = "$n" ] || np_fail "only $(field up) of $n up: $answer"
[ "$(field failed.tls)" = 0 ] && [ "$(field failed.timeout)" = 0 ] &&
    [ "$(field failed.reset)" = 0 ] && [ "$(field failed.closed)" = 0 ] ||
    np_fail "registrations failed: $answer"
np_no_log hub 'evicted|at max_'

np_step "a policy change reaches every portal; the loop keeps answering"
policy 1 | np_policy "$NP_TMP/policy.next"
ask fanout "$NP_TMP/policy.next"
[ "$(field portals_updated)" = "$n" ] ||
    np_fail "$(field portals_updated) of $n portals got the new rules: $answer"
[ "$(field probe_pings)" -gt 0 ] || np_fail "the probe measured nothing: $answer"
np_wait_log hub 'policy reloaded from .*parsed in [0-9]+ ms'
# The probe is a portal too, with no rules.
np_wait_log hub "rule sets checked for $((n + 1)) portals in [0-9]+ ms: $n changed"

np_step "tunnel requests are granted"
ask grants 100 2 "$pairs"
sent=$(field sent)
[ "$sent" -ge 150 ] && [ "$(field granted)" = "$sent" ] ||
    np_fail "not every request granted: $answer"

np_step "the server restarts: all come back, spread over the window"
echo "storm 60" >&"${GEN[1]}"
read -r -t 30 answer <&"${GEN[0]}" || np_fail "storm not armed"
np_stop hub
np_start_server hub
echo "pid ${NP_PID[hub]}" >&"${GEN[1]}"
read -r -t 90 answer <&"${GEN[0]}" || np_fail "no storm result"
echo "storm -> $answer" >>"$NP_TMP/npscale.out"
[ "$(field back)" = "$n" ] || np_fail "$(field back) of $n came back: $answer"
[ "$(field portals_failed_first)" = 0 ] ||
    np_fail "portals failed their first attempt: $answer"
# Jitter alone draws at most reconnect.min (1 s); the spread adds up to 2 s.
[ "$(field first_delay_max_ms)" -gt 1500 ] ||
    np_fail "first attempts not spread: $answer"
echo quit >&"${GEN[1]}"
np_pass "$n portals: registered, fanned out, granted, back after a restart"
