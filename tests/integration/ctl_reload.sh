#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Policy and CRL reloads on a running server, seen by real portals.  With
# the file watch on (policy_poll 100ms): a policy edit that removes a rule
# closes the client portal's listener for it (the port refuses
# connections), a new rule opens one, an unchanged rule's listener stays
# as it was, and a portal whose rules did not change is sent nothing; a
# rule that expires while the server runs is withdrawn the same way; an
# invalid edit is reported as FILE:LINE and the previous policy stays in
# force (a request under it is still granted); `netport ca revoke` of a
# connected portal rewrites the CRL, and the server closes that portal's
# session at once and refuses its reconnections.  Then with the watch off
# (policy_poll 0s, server restarted on the same port), only SIGHUP reloads:
# a rule removed and another added take effect after the signal, and a
# revocation after `netport ca revoke` plus SIGHUP closes the session.
. "$(dirname "$0")/../lib.sh"

np_ca
np_cert server hub
np_cert relay r1
for p in pa pb pc pd; do np_cert portal "$p"; done
P1=$(np_port); P2=$(np_port); P3=$(np_port); P4=$(np_port)
P5=$(np_port); P6=$(np_port); P7=$(np_port); TARGET=$(np_port)

# rule NAME CLIENT PORT [EXPIRES]: one rule of the policy, service pb.
rule() {
	cat <<EOF
  - name: $1
    client: $2
    listen: 127.0.0.1:$3
    service: pb
    target: 127.0.0.1:$TARGET
EOF
	[ -z "${4:-}" ] || echo "    expires: $4"
}

{
	echo "rules:"
	rule one pa "$P1"
	rule two pa "$P2"
	rule cee pc "$P5"
	rule dee pd "$P7"
} | np_policy

np_echo_server target "$TARGET"
np_server_conf hub
np_start_server hub
np_relay_conf r1
np_start_relay r1
for p in pa pb pc pd; do
	np_portal_conf "$p"
	np_start_portal "$p"
done
np_wait_log pa "listening on 127\\.0\\.0\\.1:$P1 for rule one"
np_wait_log pa "listening on 127\\.0\\.0\\.1:$P2 for rule two"
np_wait_log pc "listening on 127\\.0\\.0\\.1:$P5 for rule cee"
np_wait_log pd "listening on 127\\.0\\.0\\.1:$P7 for rule dee"
np_wait_log pb 'rule set 0 applied: 0 client-side, 4 service-side'
for port in "$P1" "$P2" "$P5" "$P7"; do np_wait_port "$port" open; done

np_step "file change: rule two removed, rule three added, one that expires"
# Rule brief expires three seconds from now.
BRIEF=$(date -u -d "@$(($(date +%s) + 3))" +%Y-%m-%dT%H:%M:%SZ)
{
	echo "rules:"
	rule one pa "$P1"
	rule three pa "$P3"
	rule cee pc "$P5"
	rule dee pd "$P7"
	rule brief pa "$P6" "$BRIEF"
} | np_policy
np_wait_log hub 'policy file .*/policy\.yaml changed'
np_wait_log hub 'policy reloaded from .*/policy\.yaml: 5 rules \(generation 1,'
np_wait_log pa "closed listener 127\\.0\\.0\\.1:$P2 of rule two: rule removed"
np_wait_log pa "listening on 127\\.0\\.0\\.1:$P3 for rule three \\(to portal/pb\\)"
np_wait_log pa "listening on 127\\.0\\.0\\.1:$P6 for rule brief"
np_wait_log pa 'rule set 1 applied: 3 client-side, 0 service-side'
np_wait_log pb 'rule set 1 applied: 0 client-side, 5 service-side'
np_wait_port "$P2" closed
np_wait_port "$P3" open
np_port_listening "$P1" || np_fail "rule one's listener closed by an unrelated change"
[ "$(np_log_count pa "listening on 127\\.0\\.0\\.1:$P1 ")" -eq 1 ] ||
    np_fail "rule one's listener was reopened"
# pc's and pd's rules did not change: the server sent them nothing new.
np_no_log hub 'peer=portal/p[cd] .*sent [0-9]+ rules? \(policy generation 1\)'
[ "$(np_log_count pc 'rule set [0-9]+ applied')" -eq 1 ] || np_fail "pc got a second rule set"

np_step "an invalid edit is reported with its line; the old policy stays"
{
	echo "rules:"
	rule one pa "$P1"
	echo "  - name: broken"
	echo "    client: pa"
	echo "    listen: 127.0.0.1:99999"
	echo "    service: pb"
	echo "    target: 127.0.0.1:$TARGET"
} | np_policy
np_wait_log hub 'error server .*policy\.yaml:9: rules\[1\]\.listen: port 99999 out of range; expected '
np_wait_log hub 'policy .*/policy\.yaml not reloaded; keeping the previous one \(5 rules\)'
np_no_log hub 'generation 2'
np_port_listening "$P3" || np_fail "rule three's listener closed by a failed reload"
np_port_listening "$P2" && np_fail "rule two came back with a failed reload"
# A request under the policy in force (rule three) is granted.
np_start app python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"still granted\n")
s.settimeout(10)
print("echo: %r" % s.recv(100), flush=True)
' "$P3"
np_wait_log hub 'tunnel granted: rule three, portal/pa -> portal/pb via relay/r1'
np_wait_log app "echo: b'still granted"
np_wait_exit app 0

np_step "the rule that expires is withdrawn when it does"
np_wait_log hub 'rule brief expired' 10
np_wait_log pa "closed listener 127\\.0\\.0\\.1:$P6 of rule brief: rule removed, expired or changed"
np_wait_port "$P6" closed
np_port_listening "$P1" || np_fail "rule one's listener closed by an expiry"

np_step "revoking a connected portal: the CRL file change closes its session"
np_revoke pc
np_wait_log hub 'CRL file .*/crl\.pem changed'
np_wait_log hub 'CRL reloaded from .*/crl\.pem'
np_wait_log hub 'warn server conn=[0-9]+ peer=portal/pc .*closed: certificate revoked'
np_wait_log pc 'reconnecting to server'
np_wait_log hub 'closed: TLS handshake with .* failed: peer certificate: certificate revoked'
np_no_log hub 'peer=portal/p[abd] .*closed'
np_stop pc

np_step "watch off: the server restarts with policy_poll 0s"
np_stop hub
{
	echo "rules:"
	rule one pa "$P1"
	rule three pa "$P3"
	rule dee pd "$P7"
} | np_policy
np_server_conf hub policy_poll=0s "listen=${NP_ADDR[hub]}"
n_pa=$(np_log_count pa 'rule set [0-9]+ applied')
np_start_server hub
np_wait_log_more pa 'rule set [0-9]+ applied' "$n_pa"
np_wait_log hub 'peer=portal/pd .*portal registered'
np_wait_log hub 'peer=relay/r1 .*relay registered'
np_port_listening "$P1" || np_fail "rule one's listener lost over the restart"
n_poll=$(np_log_count hub '(policy|CRL) file .* changed')

np_step "SIGHUP: rule one removed, rule four added"
{
	echo "rules:"
	rule three pa "$P3"
	rule four pa "$P4"
	rule dee pd "$P7"
} | np_policy
np_signal hub HUP
np_wait_log hub 'SIGHUP: reloading policy and CRL'
np_wait_log hub 'policy reloaded from .*/policy\.yaml: 3 rules \(generation 1,'
np_wait_log pa "closed listener 127\\.0\\.0\\.1:$P1 of rule one: rule removed"
np_wait_log pa "listening on 127\\.0\\.0\\.1:$P4 for rule four"
np_wait_port "$P1" closed
np_wait_port "$P4" open

np_step "SIGHUP after a revocation closes the revoked portal's session"
np_revoke pd
np_signal hub HUP
np_wait_log_count hub 'SIGHUP: reloading policy and CRL' 2
np_wait_log_count hub 'CRL reloaded from .*/crl\.pem' 2
np_wait_log hub 'warn server conn=[0-9]+ peer=portal/pd .*closed: certificate revoked'
[ "$(np_log_count hub '(policy|CRL) file .* changed')" -eq "$n_poll" ] ||
    np_fail "the server watched the files with policy_poll 0s"
np_no_log hub 'peer=portal/p[ab] .*closed: certificate revoked'
np_stop pd

np_step "everyone stops cleanly"
np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop target 143

np_pass "policy and CRL reloads, by file change and by SIGHUP"
