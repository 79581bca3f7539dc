#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Direct paths on loopback (direct.mode auto, candidates 127.0.0.1).
#   1. A tunnel comes up on the relay as always ("up via relay"), and the
#      portals move it at once to a direct connection ("now direct");
#      netport status shows the direct path.  The relay is then killed:
#      the tunnel does not notice, and a new stream works without it.
#   2. With both portals' direct listeners blackholed (iptables DROP on
#      loopback, root only), a new tunnel stays on the relay: the direct
#      attempts get no answer, status says so attempt by attempt, and
#      tries again every direct.retry.  An upload of NP_DIRECT_MIB MiB
#      (1024), paced at 48 MiB/s, starts on the relay; the blackhole is
#      lifted at a quarter of it; the next retry moves the tunnel to a
#      direct path mid-transfer.
#   3. Blackholed again mid-transfer: the direct path goes silent, is
#      given up after tunnel.dead_timeout, and the tunnel resumes on a
#      relay path; the transfer completes, whole (equal SHA-256).
#   4. The tunnel is direct again (the next retry); the policy gains
#      direct: off on one rule between the two portals: the tunnel leaves
#      its direct path for a relay path, status says why, and an echo
#      still works.  With direct: off gone again, the tunnel goes back to a
#      direct path at once.
#   5. Rule up, under which the tunnel was made, is removed, and the relay
#      restarted under an open echo stream: the tunnel asks for its new
#      path under rule echo, and the stream carries on.
#   No stream is ever reset.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v iptables >/dev/null; then
	echo "SKIP: needs root and iptables (blackholing loopback ports)"
	exit 77
fi
mib=${NP_DIRECT_MIB:-1024}
bytes=$((mib * 1024 * 1024))
secs=$((mib / 48 + 60))
np_dp_pki
port_up=$(np_port)
port_echo=$(np_port)
sink_port=$(np_port)
echo_port=$(np_port)
pa_direct=$(np_port)
pb_direct=$(np_port)
{
	echo "rules:"
	np_dp_rule up pa "$port_up" pb "$sink_port"
	np_dp_rule echo pa "$port_echo" pb "$echo_port"
} | np_policy

# The iptables rules this test adds, removed again on exit.
blackhole() {
	np_dp_blackhole "$pa_direct" "$pb_direct"
}
unblackhole() {
	np_dp_unblackhole
}
NP_EXIT_HOOK=np_dp_unblackhole

echo_once() {
	np_dp_echo_once "$port_echo" "$1"
}

np_step "server, relay, portals with direct paths; a sink and an echo server"
np_dp_server
np_dp_relay
timing=(tunnel.keepalive=500ms tunnel.dead_timeout=3s tunnel.setup_timeout=3s
	direct.retry=2s)
NP_DIRECT=auto np_dp_portal pa 2 0 "${timing[@]}" \
    "direct.listen=127.0.0.1:$pa_direct"
NP_DIRECT=auto np_dp_portal pb 0 2 "${timing[@]}" \
    "direct.listen=127.0.0.1:$pb_direct"
np_wait_log pa "listening for direct paths on 127\\.0\\.0\\.1:$pa_direct"
np_wait_port "$port_up" open
np_dp_app sink sink "$sink_port"
np_dp_app echo echo "$echo_port"

np_step "a tunnel comes up on the relay and moves to a direct path"
echo_once "first "
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb up via relay '
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb now direct: 127\.0\.0\.1:[0-9]+ '
np_wait_log pb 'tunnel [0-9a-f]{32} to portal/pa now direct: 127\.0\.0\.1:[0-9]+ '
"$NETPORT" status -c "$NP_TMP/pa.yaml" | tee "$NP_TMP/st1.txt"
grep -Eq ' pb +client +echo +open .* direct (public|loopback|accepted) at 127\.0\.0\.1:' "$NP_TMP/st1.txt" ||
    np_fail "status does not show the direct path"

np_step "the relay dies: the direct tunnel carries on, new streams too"
np_kill9 r1
np_wait_log hub 'peer=relay/r1 .*closed'
echo_once "without a relay " || np_fail "a new stream failed without the relay"
np_no_log pa 'lost its path'
np_dp_relay r1

np_step "direct listeners blackholed: a new tunnel stays on the relay"
np_stop pa
np_stop pb
blackhole
NP_DIRECT=auto np_dp_portal pa 2 0 "${timing[@]}" \
    "direct.listen=127.0.0.1:$pa_direct"
NP_DIRECT=auto np_dp_portal pb 0 2 "${timing[@]}" \
    "direct.listen=127.0.0.1:$pb_direct"
np_wait_port "$port_up" open
n_up=$(np_log_count pa 'up via relay')
n_direct=$(np_log_count pa 'now direct')
np_dp_client up "$secs" put "$port_up" "$bytes" --progress $((bytes / 4)) \
    --rate 48
np_wait_log_more pa 'up via relay' "$n_up"
np_wait_log pa 'stays on relay .*: no direct path' 15
"$NETPORT" status -c "$NP_TMP/pa.yaml" | tee "$NP_TMP/st2.txt"
grep -q 'not direct: no direct attempt succeeded' "$NP_TMP/st2.txt" ||
    np_fail "status does not say why the tunnel is not direct"
grep -q 'no answer within tunnel.setup_timeout' "$NP_TMP/st2.txt" ||
    np_fail "status does not show the failed attempts"

np_step "the blackhole is lifted mid-transfer: the tunnel moves to direct"
np_wait_log up '^progress: ' 60
unblackhole
np_wait_log_more pa 'now direct: ' "$n_direct" 30
np_is_running up || np_fail "the upload ended before the move to direct"
echo "    $(np_log_line pa 'now direct: ' | sed 's/.*tunnel_on_resume: //')"

np_step "blackholed again mid-transfer: back to the relay, no byte lost"
blackhole
np_wait_log_more pa 'lost its path \(direct ' 0 15
np_is_running up || np_fail "the upload ended before the fallback to the relay"
np_wait_log pa 'resumed via relay ' 20
unblackhole
np_dp_done up "$secs"
np_wait_log sink '^sink 1: received '
d=$(np_dp_same_data up '^put: sent ' sink '^sink 1: received ' "$bytes")
echo "upload: $d"
echo "    $(np_log_line pa 'resumed via relay ' | sed 's/.*tunnel_on_resume: //')"

np_step "the policy says direct: off for rule echo: the tunnel leaves direct"
np_wait_log_more pa 'now direct: ' "$((n_direct + 1))" 30
{
	echo "rules:"
	np_dp_rule up pa "$port_up" pb "$sink_port"
	np_dp_rule echo pa "$port_echo" pb "$echo_port"
	echo "    direct: \"off\""
} | np_policy
# Whichever portal applies the new rule set first leaves the direct path
# for that reason; the other may first see the path close under it.
np_wait_log pa 'lost its path \(direct ' 15
policy_re='lost its path \(direct .*: a rule with this peer now says direct: off'
for _ in $(seq 100); do
	[ $(($(np_log_count pa "$policy_re") + $(np_log_count pb "$policy_re"))) -gt 0 ] &&
	    break
	sleep 0.1
done
[ $(($(np_log_count pa "$policy_re") + $(np_log_count pb "$policy_re"))) -gt 0 ] ||
    np_fail "neither portal says the policy took the direct path away"
np_wait_log_more pa 'resumed via relay ' 1 20
echo_once "back on the relay " || np_fail "echo failed after the policy change"
"$NETPORT" status -c "$NP_TMP/pa.yaml" | tee "$NP_TMP/st3.txt"
grep -q 'not direct: the policy keeps tunnels between these portals on relays' \
    "$NP_TMP/st3.txt" || np_fail "status does not say the policy keeps the tunnel relayed"
np_wait_log hub 'tunnel granted: rule up, .*resuming [0-9a-f]{32} \(direct: off by policy\)'

np_step "direct: off removed: the tunnel goes back to a direct path"
n_direct=$(np_log_count pa 'now direct: ')
{
	echo "rules:"
	np_dp_rule up pa "$port_up" pb "$sink_port"
	np_dp_rule echo pa "$port_echo" pb "$echo_port"
} | np_policy
np_wait_log pa 'direct paths are allowed again; trying them' 15
np_wait_log_more pa 'now direct: ' "$n_direct" 15
echo_once "direct again " || np_fail "echo failed back on a direct path"

np_step "rule up removed, relay restarted: the tunnel resumes under rule echo"
{
	echo "rules:"
	np_dp_rule echo pa "$port_echo" pb "$echo_port"
	echo "    direct: \"off\""
} | np_policy
np_wait_log pa 'its rule up is gone; new paths are asked for under rule echo' 15
n_res=$(np_log_count pa 'resumed via relay ')
cat >"$NP_TMP/held.py" <<'EOF'
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
for word in (b"before", b"after"):
    if word == b"after":
        deadline = time.monotonic() + 30
        while not os.path.exists(sys.argv[2]):
            if time.monotonic() > deadline:
                sys.exit("no go within 30 s")
            time.sleep(0.05)
    s.sendall(word)
    got = b""
    while len(got) < len(word):
        d = s.recv(64)
        if not d:
            sys.exit("closed after %r" % got)
        got += d
    if got != word:
        sys.exit("echo %r" % got)
    print("echoed " + word.decode(), flush=True)
EOF
np_start held python3 "$NP_TMP/held.py" "$port_echo" "$NP_TMP/held.go"
np_wait_log held '^echoed before$'
np_kill9 r1
np_wait_log pa 'to portal/pb lost its path' 15
np_dp_relay r1
np_wait_log_more pa 'resumed via relay ' "$n_res" 20
touch "$NP_TMP/held.go"
np_wait_exit held 0 20
np_wait_log hub 'tunnel granted: rule echo, .*resuming [0-9a-f]{32}'
for p in pa pb; do
	np_no_log "$p" 'stream [0-9]+ \(rule [a-z]+\) reset'
done

np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop sink
np_stop echo
np_pass "relay -> direct at once; relay killed under a direct tunnel; blackholed: stays relayed, moves to direct mid-transfer, falls back to the relay; $mib MiB intact; direct: off in the policy moves the tunnel back to the relay"
