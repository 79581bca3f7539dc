#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `netport server -c FILE -n` checks the policy file the configuration
# names, not only the configuration itself.  A good policy (groups,
# several rules, an expiry) gives "configuration OK" on stdout and exit 0.
# A policy with mistakes gives exit 1, nothing on stdout, and every
# mistake on stderr as FILE:LINE: key: what is wrong; expected ...: a bad
# group member, an unknown group, a port out of range, an unknown key, a
# bad rule name, an unsupported protocol, a bad date, missing keys, a rule
# whose client is its own service, duplicate rule names, two rules that
# would make one portal listen twice on one address, invalid YAML, and a
# policy file that does not exist.  The check opens no socket and reads no
# certificate: the configuration names files that do not exist.  Last, a
# server started (without -n) on a bad policy refuses to start the same way.
. "$(dirname "$0")/../lib.sh"

cd "$NP_TMP" || exit 1

# A server configuration whose certificate paths do not exist: -n must not
# read them.
server_conf() {
	np__conf "$NP_TMP/$1.yaml" tls.ca=/nonexistent/ca.crt \
	    tls.cert=/nonexistent/server.crt tls.key=/nonexistent/server.key \
	    listen=127.0.0.1:1 policy="$2"
}

# expect_ok POLICY: -n passes and says exactly "configuration OK".
expect_ok() {
	local st=0
	server_conf srv "$1"
	"$NETPORT" server -c srv.yaml -n >out.txt 2>err.txt || st=$?
	[ "$st" -eq 0 ] || np_fail "$1: exit $st, expected 0: $(cat err.txt)"
	[ "$(cat out.txt)" = "configuration OK" ] ||
	    np_fail "$1: stdout is '$(cat out.txt)', expected 'configuration OK'"
	[ ! -s err.txt ] || np_fail "$1: unexpected stderr: $(cat err.txt)"
}

# expect_bad POLICY < EXPECTED: -n fails (exit 1) with nothing on stdout
# and, on stderr, exactly the problems on stdin (in any order), each given
# as "FILE:LINE: key: what is wrong" and followed on stderr by
# "; expected ..." (whose wording is the parser's to refine).
expect_bad() {
	local st=0
	server_conf srv "$1"
	sort >want.txt
	"$NETPORT" server -c srv.yaml -n >out.txt 2>err.txt || st=$?
	[ "$st" -eq 1 ] || np_fail "$1: exit $st, expected 1: $(cat err.txt)"
	[ ! -s out.txt ] || np_fail "$1: unexpected stdout: $(cat out.txt)"
	if grep -v '; expected .' err.txt >&2; then
		np_fail "$1: a message without '; expected ...'"
	fi
	sed 's/; expected .*//' err.txt | sort >got.txt
	diff -u want.txt got.txt >&2 || np_fail "$1: wrong messages"
}

np_step "a good policy"
cat >good.yaml <<'EOF'
# Two rules, a group, an expiry far ahead.
groups:
  ops: [anna, bob]
rules:
  - name: cam-ssh
    client: ["@ops", laptop-x]
    listen: 127.0.0.1:2222
    service: cam-17
    target: 127.0.0.1:22
    description: SSH on the camera
  - name: web
    client: anna
    listen: "[::1]:8080"
    protocol: tcp
    service: web-1
    target: localhost:80
    expires: 2099-01-02T03:04:05Z
EOF
expect_ok good.yaml
# An empty rule list is a valid (if useless) policy.
printf 'rules: []\n' >empty.yaml
expect_ok empty.yaml

np_step "every mistake of a bad policy, each with its line"
cat >bad.yaml <<'EOF'
groups:
  ops: [anna, Bob]
rules:
  - name: web
    client: a
    listen: 127.0.0.1:23456
    service: b
    target: 127.0.0.1:8080
  - name: web2
    client: "@nosuch"
    listen: 127.0.0.1:70000
    service: b
    target: 127.0.0.1:8080
    colour: red
  - name: Bad_Name
    client: a
    listen: 127.0.0.1:23457
    service: a
    protocol: sctp
    expires: tomorrow
  - client: b
    listen: 127.0.0.1:2000
EOF
expect_bad bad.yaml <<'EOF'
bad.yaml:2: groups.ops: 'Bob' is not a portal name
bad.yaml:10: rules[1].client: unknown group 'nosuch'
bad.yaml:11: rules[1].listen: port 70000 out of range
bad.yaml:14: rules[1].colour: unknown key
bad.yaml:15: rules[2].name: 'Bad_Name' is not a valid rule name
bad.yaml:19: rules[2].protocol: 'sctp' is not supported
bad.yaml:20: rules[2].expires: 'tomorrow' is not a date
bad.yaml:15: rules[2].target: missing
bad.yaml:15: rules[2].client: portal a is also the service
bad.yaml:21: rules[3].name: missing
bad.yaml:21: rules[3].service: missing
bad.yaml:21: rules[3].target: missing
EOF

np_step "mistakes between rules: duplicate names, one address twice"
cat >clash.yaml <<'EOF'
rules:
  - name: web
    client: a
    listen: 127.0.0.1:8080
    service: b
    target: 127.0.0.1:80
  - name: web
    client: c
    listen: 127.0.0.1:8081
    service: b
    target: 127.0.0.1:81
  - name: other
    client: a
    listen: 127.0.0.1:8080
    service: c
    target: 127.0.0.1:82
EOF
st=0
server_conf srv clash.yaml
"$NETPORT" server -c srv.yaml -n >out.txt 2>err.txt || st=$?
[ "$st" -eq 1 ] || np_fail "clash.yaml: exit $st, expected 1"
[ ! -s out.txt ] || np_fail "clash.yaml: unexpected stdout: $(cat out.txt)"
grep -Eq '^clash\.yaml:7: rules: duplicate rule name .*web.*line 2' err.txt ||
    np_fail "clash.yaml: no duplicate-name error at line 7: $(cat err.txt)"
grep -Eq '^clash\.yaml:12: rules: portal a would .*127\.0\.0\.1.*8080' err.txt ||
    np_fail "clash.yaml: no listen-conflict error for portal a: $(cat err.txt)"
[ "$(wc -l <err.txt)" -eq 2 ] || np_fail "clash.yaml: expected 2 errors: $(cat err.txt)"

np_step "invalid YAML, a missing file"
printf 'rules:\n  - name: x\n    client: [a,\n' >yaml.yaml
st=0
server_conf srv yaml.yaml
"$NETPORT" server -c srv.yaml -n >out.txt 2>err.txt || st=$?
[ "$st" -eq 1 ] || np_fail "yaml.yaml: exit $st, expected 1"
grep -Eq '^yaml\.yaml:[0-9]+: invalid YAML: ' err.txt ||
    np_fail "yaml.yaml: no 'FILE:LINE: invalid YAML' error: $(cat err.txt)"
st=0
server_conf srv "$NP_TMP/nosuch.yaml"
"$NETPORT" server -c srv.yaml -n >out.txt 2>err.txt || st=$?
[ "$st" -eq 1 ] || np_fail "missing policy: exit $st, expected 1"
[ ! -s out.txt ] || np_fail "missing policy: unexpected stdout: $(cat out.txt)"
grep -Fq "$NP_TMP/nosuch.yaml: cannot read: No such file" err.txt ||
    np_fail "missing policy: error does not name the file: $(cat err.txt)"

np_step "the daemon refuses to start on a bad policy"
np_ca
np_cert server hub
np_server_conf hub policy="$NP_TMP/bad.yaml"
np_start hub "$NETPORT" server -c "$NP_TMP/hub.yaml"
np_wait_exit hub 1
grep -Fq 'bad.yaml:10: rules[1].client: unknown group' "$(np_log hub)" ||
    np_fail "the daemon did not report the policy errors"
np_no_log hub 'listening on'
# And starts on the good one.
np_server_conf hub policy="$NP_TMP/good.yaml"
np_start_server hub
np_wait_log hub 'server server/hub up: 2 rules'
np_stop hub

np_pass "policy checked by -n and at start"
