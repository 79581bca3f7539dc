#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Configuration checking from the command line: `netport ROLE -c FILE -n`
# prints "configuration OK" and exits 0 for a valid file, and prints every
# problem as FILE:LINE: KEY: why; expected and exits 1 for a broken one, for
# the server, the relay and the portal: bad entries of lists (allow,
# advertise), checks across keys and a tls.key file open to group or others
# in the same run as bad scalars.  No certificate or key is read, so none
# is needed; only the mode of a tls.key file that exists is looked at (the
# server's -n does load its policy file).  Last, the key tables in
# docs/CONFIG.md must be exactly what `netport config-doc` prints.
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
server-bad.yaml:4: tls.certt: unknown key; expected one of tls.ca, tls.cert, tls.key, tls.key_permissions, tls.crl
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

# The policy's limits are server keys (policy_limits.*), which -n applies
# too; each refusal names the key that raises it.
cat >policy-big.yaml <<'EOF'
groups:
  ops: [anna, bob, carl]
rules:
  - {name: r1, client: anna, listen: 127.0.0.1:1, service: s, target: 127.0.0.1:1}
  - {name: r2, client: bob, listen: 127.0.0.1:1, service: s, target: 127.0.0.1:1}
  - {name: r3, client: carl, listen: 127.0.0.1:1, service: s, target: 127.0.0.1:1}
EOF
{ cat tls.yaml; printf 'policy: policy-big.yaml\n'; } >server-limits.yaml
expect_ok server server-limits.yaml
printf 'policy_limits:\n  max_rules: 2\n  max_group_members: 2\n' \
    >>server-limits.yaml
expect_bad server server-limits.yaml <<'EOF'
policy-big.yaml:2: groups.ops: 3 members; expected at most 2 (policy_limits.max_group_members)
policy-big.yaml:4: rules: 3 rules; expected at most 2 (policy_limits.max_rules)
EOF
{ cat tls.yaml; printf 'policy: policy-big.yaml\n'
  printf 'policy_limits.max_yaml_nodes: 20\n'; } >server-nodes.yaml
expect_bad server server-nodes.yaml <<'EOF'
policy-big.yaml:4: more than 20 nodes; expected a smaller document (policy_limits.max_yaml_nodes)
EOF
{ cat policy-big.yaml; printf '# %01000d\n' 0; } >policy-long.yaml
size=$(wc -c <policy-long.yaml)
{ cat tls.yaml; printf 'policy: policy-long.yaml\n'
  printf 'policy_limits.max_file_size: 1K\n'; } >server-size.yaml
expect_bad server server-size.yaml <<EOF
policy-long.yaml: $size bytes; expected at most 1024 (policy_limits.max_file_size)
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

{ cat tls.yaml; printf 'server: np.example.com:443\ncapacity: 0\n'
  printf 'advertise: ["host:99999", "relay.example.com:8443", "r2"]\n'; } \
    >relay-lists.yaml
expect_bad relay relay-lists.yaml <<'EOF'
relay-lists.yaml:6: capacity: 0 out of range; expected an integer 1..1000000
relay-lists.yaml:7: advertise[0]: port 99999 out of range; expected host:port with port 1..65535
relay-lists.yaml:7: advertise[2]: 'r2' has no port; expected host:port with port 1..65535
EOF

{ cat tls.yaml; printf 'server: np.example.com:443\nlisten: "[::]:8443"\n'
  printf 'capacity: many\n'; } >relay-wildcard.yaml
expect_bad relay relay-wildcard.yaml <<'EOF'
relay-wildcard.yaml:7: capacity: 'many' is not an integer; expected an integer 1..1000000
relay-wildcard.yaml:6: advertise: missing while listen is the wildcard address ::; expected the public host:port that portals dial
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
portal-bad.yaml:1: tls: is a scalar; expected a mapping with keys tls.ca, tls.cert, tls.key, tls.key_permissions, tls.crl
portal-bad.yaml:2: server: port 0 out of range; expected host:port with port 1..65535
portal-bad.yaml:4: reconnect.min: 10ms out of range; expected a duration 100ms..1h (units ms, s, m, h, d)
portal-bad.yaml:5: reconnect.max: 'soon' is not a duration; expected a duration 1s..1d (units ms, s, m, h, d)
portal-bad.yaml:1: tls.ca: missing; expected a path (required)
portal-bad.yaml:1: tls.cert: missing; expected a path (required)
portal-bad.yaml:1: tls.key: missing; expected a path (required)
EOF

# Bad list entries are reported in the same run as bad scalars, and a
# check across keys with them.
cat >portal-lists.yaml <<'EOF'
tls:
  ca: ca.pem
  cert: cert.pem
  key: key.pem
server: np.example.com
tunnel:
  max_streams: 0
  keepalive: 20s
  dead_timeout: 10s
allow:
  - 127.0.0.1:22
  - 10.0.0.0/33:80
  - "[::1]:*"
  - db.internal:99999
EOF
expect_bad portal portal-lists.yaml <<'EOF'
portal-lists.yaml:5: server: 'np.example.com' has no port; expected host:port with port 1..65535
portal-lists.yaml:7: tunnel.max_streams: 0 out of range; expected an integer 1..1000000
portal-lists.yaml:12: allow[1]: '10.0.0.0/33:80' is not a target pattern; expected HOST:PORT, HOST:LOW-HIGH or HOST:* with HOST an address, a prefix like 10.0.0.0/8, a name, or *; or unix:/path
portal-lists.yaml:14: allow[3]: 'db.internal:99999' is not a target pattern; expected HOST:PORT, HOST:LOW-HIGH or HOST:* with HOST an address, a prefix like 10.0.0.0/8, a name, or *; or unix:/path
portal-lists.yaml:9: tunnel.dead_timeout: 10000 ms is not longer than tunnel.keepalive (20000 ms); expected at least twice the keepalive
EOF

printf 'server: [np.example.com:443\n' >portal-syntax.yaml
expect_bad portal portal-syntax.yaml <<'EOF'
portal-syntax.yaml:2: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence
EOF

# --- tls.key: a key file that group or others can reach is refused, with
# the other problems of the file; tls.key_permissions: ignore accepts it.
# (The file is not read by -n, only looked at.)
echo "not a key, only its mode counts" >key.pem
{ printf 'tls:\n  ca: ca.pem\n  cert: cert.pem\n  key: %s/key.pem\n' "$PWD"
  printf 'server: np.example.com:443\ncapacity: 0\n'
  printf 'advertise: [relay.example.com:8443]\n'; } >relay-key.yaml
chmod 644 key.pem
expect_bad relay relay-key.yaml <<EOF
relay-key.yaml:6: capacity: 0 out of range; expected an integer 1..1000000
relay-key.yaml:4: tls.key: '$PWD/key.pem' is open to group or others (mode 0644); expected mode 0600 or 0400 (chmod 600 $PWD/key.pem), or tls.key_permissions: ignore where a platform mounts keys with modes of its own
EOF
sed -i '/^capacity:/d' relay-key.yaml
chmod 620 key.pem
expect_bad relay relay-key.yaml <<EOF
relay-key.yaml:4: tls.key: '$PWD/key.pem' is open to group or others (mode 0620); expected mode 0600 or 0400 (chmod 600 $PWD/key.pem), or tls.key_permissions: ignore where a platform mounts keys with modes of its own
EOF
chmod 600 key.pem
expect_ok relay relay-key.yaml
chmod 400 key.pem
expect_ok relay relay-key.yaml
chmod 644 key.pem
{ cat relay-key.yaml; echo "tls.key_permissions: ignore"; } >relay-key-ignore.yaml
expect_ok relay relay-key-ignore.yaml
# The same check for every daemon.
{ printf 'tls: {ca: ca.pem, cert: cert.pem, key: key.pem}\n'
  printf 'server: np.example.com:443\n'; } >portal-key.yaml
expect_bad portal portal-key.yaml <<'EOF'
portal-key.yaml:1: tls.key: 'key.pem' is open to group or others (mode 0644); expected mode 0600 or 0400 (chmod 600 key.pem), or tls.key_permissions: ignore where a platform mounts keys with modes of its own
EOF
{ printf 'tls: {ca: ca.pem, cert: cert.pem, key: key.pem}\n'
  printf 'policy: policy.yaml\n'; } >server-key.yaml
expect_bad server server-key.yaml <<'EOF'
server-key.yaml:1: tls.key: 'key.pem' is open to group or others (mode 0644); expected mode 0600 or 0400 (chmod 600 key.pem), or tls.key_permissions: ignore where a platform mounts keys with modes of its own
EOF
chmod 600 key.pem

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
