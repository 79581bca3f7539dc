#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Configuration checking from the command line: `netport ROLE -c FILE -n`
# prints "configuration OK" and exits 0 for a valid file, and prints every
# problem as FILE:LINE: KEY: why; expected and exits 1 for a broken one, for
# the server, the relay and the portal.  Certificate paths are only checked
# for their syntax, so no certificate files are needed (the server's -n does
# load its policy file).  Last, the key
# tables in docs/CONFIG.md must be exactly what `netport config-doc` prints.
set -euo pipefail

: "${NETPORT:?set NETPORT to the netport binary}"
: "${NETPORT_SRC:?set NETPORT_SRC to the source directory}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# expect_ok ROLE FILE: the check passes and says so.
expect_ok() {
	local out status=0

	out=$("$NETPORT" "$1" -c "$2" -n 2>err.txt) || status=$?
	if [ "$status" -ne 0 ] || [ "$out" != "configuration OK" ]; then
		echo "--- stdout:"; echo "$out"
		echo "--- stderr:"; cat err.txt
		fail "netport $1 -c $2 -n: exit $status, expected 0 and" \
		    "'configuration OK'"
	fi
}

# expect_bad ROLE FILE: the check fails with exactly the lines on stdin.
expect_bad() {
	local status=0

	cat >want.txt
	"$NETPORT" "$1" -c "$2" -n >out.txt 2>err.txt || status=$?
	[ "$status" -eq 1 ] || {
		cat out.txt err.txt
		fail "netport $1 -c $2 -n: exit $status, expected 1"
	}
	[ ! -s out.txt ] || { cat out.txt; fail "$1 $2: output on stdout"; }
	diff -u want.txt err.txt || fail "netport $1 -c $2 -n: wrong messages"
}

cat >tls.yaml <<'EOF'
tls:
  ca: /etc/netport/ca.pem
  cert: /etc/netport/cert.pem
  key: /etc/netport/key.pem
EOF

# --- server (-n also loads the policy it names)
cat >policy.yaml <<'EOF'
rules:
  - name: cam-ssh
    client: laptop
    listen: 127.0.0.1:2222
    service: cam-17
    target: 127.0.0.1:22
EOF
{ cat tls.yaml; echo "policy: policy.yaml"; } >server-good.yaml
expect_ok server server-good.yaml

cat >server-full.yaml <<'EOF'
# Every key of the server, nested and dotted.
tls:
  ca: ca.pem
  cert: cert.pem
  key: key.pem
  crl: crl.pem
log.level: debug
log:
  format: json
listen: "[::]:8443"
policy: policy.yaml
EOF
expect_ok server server-full.yaml

cat >server-bad.yaml <<'EOF'
tls:
  ca: ca.pem
  cert: cert.pem
  certt: typo.pem
  key: key.pem
listen: 0.0.0.0:70000
log:
  level: loud
tls.ca: again.pem
EOF
expect_bad server server-bad.yaml <<'EOF'
server-bad.yaml:4: tls.certt: unknown key; expected one of tls.ca, tls.cert, tls.key, tls.crl
server-bad.yaml:6: listen: port 70000 out of range; expected host:port with port 0..65535
server-bad.yaml:8: log.level: unknown value 'loud'; expected one of debug, info, warn, error
server-bad.yaml:9: tls.ca: duplicate key, first at line 2; expected each key once
server-bad.yaml:1: policy: missing; expected a path (required)
EOF

printf 'policy: a\npolicy: b\nlisten: &l x\n' >server-yaml.yaml
expect_bad server server-yaml.yaml <<'EOF'
server-yaml.yaml:2: policy: duplicate key, first at line 1; expected each key once
server-yaml.yaml:3: anchor '&l' not allowed; expected each value written out, without anchors or aliases
EOF

expect_bad server missing.yaml <<'EOF'
missing.yaml: cannot read: No such file or directory
EOF

# --- relay
{ cat tls.yaml; printf 'server: np.example.com:443\nadvertise:\n'
  printf '  - relay.example.com:8443\n'; } >relay-good.yaml
expect_ok relay relay-good.yaml

{ cat tls.yaml; printf 'server: np.example.com\nlisten:\n  - 8443\n'; } \
    >relay-bad.yaml
expect_bad relay relay-bad.yaml <<'EOF'
relay-bad.yaml:5: server: 'np.example.com' has no port; expected host:port with port 1..65535
relay-bad.yaml:6: listen: is a sequence; expected host:port with port 0..65535
EOF

# --- portal
{ cat tls.yaml; printf 'server: "[2001:db8::1]:443"\nreconnect:\n'
  printf '  min: 250ms\n  max: 5m\n'; } >portal-good.yaml
expect_ok portal portal-good.yaml

cat >portal-bad.yaml <<'EOF'
tls: /etc/netport
server: np.example.com:0
reconnect:
  min: 10ms
  max: soon
EOF
expect_bad portal portal-bad.yaml <<'EOF'
portal-bad.yaml:1: tls: is a scalar; expected a mapping with keys tls.ca, tls.cert, tls.key, tls.crl
portal-bad.yaml:2: server: port 0 out of range; expected host:port with port 1..65535
portal-bad.yaml:4: reconnect.min: 10ms out of range; expected a duration 100ms..1h (units ms, s, m, h, d)
portal-bad.yaml:5: reconnect.max: 'soon' is not a duration; expected a duration 1s..1d (units ms, s, m, h, d)
portal-bad.yaml:1: tls.ca: missing; expected a path (required)
portal-bad.yaml:1: tls.cert: missing; expected a path (required)
portal-bad.yaml:1: tls.key: missing; expected a path (required)
EOF

printf 'server: [np.example.com:443\n' >portal-syntax.yaml
expect_bad portal portal-syntax.yaml <<'EOF'
portal-syntax.yaml:2: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence
EOF

# udp.flow_idle_new (the idle time of a flow of one exchange) may not be
# longer than udp.flow_idle; left at its default it follows a short
# udp.flow_idle down.
{ cat tls.yaml; printf 'server: np.example.com:443\nudp:\n'
  printf '  flow_idle: 10s\n  flow_idle_new: 20s\n'; } >portal-udp.yaml
expect_bad portal portal-udp.yaml <<'EOF'
portal-udp.yaml:8: udp.flow_idle_new: 20000 ms is longer than udp.flow_idle (10000 ms); expected at most udp.flow_idle
EOF
{ cat tls.yaml; printf 'server: np.example.com:443\nudp:\n'
  printf '  flow_idle: 10s\n'; } >portal-udp-short.yaml
expect_ok portal portal-udp-short.yaml

{ cat tls.yaml; printf 'server: np.example.com:443\nreconnect:\n'
  printf '  refused: never\n  refused_delay: 2h\n'; } >portal-refused.yaml
expect_bad portal portal-refused.yaml <<'EOF'
portal-refused.yaml:7: reconnect.refused: unknown value 'never'; expected one of retry, exit
EOF

# --- docs/CONFIG.md holds exactly what config-doc prints
"$NETPORT" config-doc >generated.md
doc="$NETPORT_SRC/docs/CONFIG.md"
[ -f "$doc" ] || fail "$doc is missing"
grep -qx '<!-- BEGIN GENERATED -->' "$doc" || fail "$doc: no BEGIN marker"
grep -qx '<!-- END GENERATED -->' "$doc" || fail "$doc: no END marker"
sed -n '/^<!-- BEGIN GENERATED -->$/,/^<!-- END GENERATED -->$/p' "$doc" |
    sed '1d;$d' >documented.md
diff -u documented.md generated.md ||
    fail "$doc is out of date: paste the output of 'netport config-doc'" \
    "between its GENERATED markers"

echo "config_check: all passed"
