#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `netport ca` end to end, judged by the openssl command line tool rather
# than by our own code: a CA is created, certificates are issued for each
# role and must pass `openssl verify -CAfile`, carry the netport identity as
# their URI SAN and have 0600 keys; issue must refuse to overwrite without
# --force and refuse bad names; a revoked certificate must fail
# `openssl verify -crl_check` against the regenerated CRL while the others
# pass, and `list` must show it revoked; a corrupt index must be reported
# with its line number.  The output of every command is kept in a log that
# is printed only when a check fails.
set -euo pipefail

: "${NETPORT:?NETPORT must name the netport binary}"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/netport-ca-tls.XXXXXX")
log=$scratch/log
: >"$log"
on_exit() {
	local rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "--- log of ca_tls.sh ---" >&2
		cat "$log" >&2
	fi
	rm -rf "$scratch"
	exit "$rc"
}
trap on_exit EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Runs a command, logging its output; the test fails if it fails.
run() {
	echo "+ $*" >>"$log"
	"$@" >>"$log" 2>&1 || fail "exit status $? from: $*"
}

# expect STATUS CMD...: runs CMD and checks its exit status.  Its output
# is left in $out for the caller to inspect.
expect() {
	local want=$1 rc=0
	shift
	echo "+ (expect $want) $*" >>"$log"
	out=$("$@" 2>&1) || rc=$?
	printf '%s\n' "$out" >>"$log"
	[ "$rc" -eq "$want" ] || fail "expected exit $want, got $rc: $*"
}

contains() {
	case $1 in
	*"$2"*) ;;
	*) fail "expected '$2' in: $1" ;;
	esac
}

mode() {
	stat -c %a "$1"
}

ca=$scratch/ca
c=$ca/certs

# init: the CA's files, with the right modes.
expect 0 "$NETPORT" ca init --dir "$ca" --name "Test CA"
for f in ca.key ca.crt index crl.pem; do
	[ -f "$ca/$f" ] || fail "init did not create $f"
	contains "$out" "$ca/$f"
done
[ -d "$c" ] || fail "init did not create certs/"
[ "$(mode "$ca/ca.key")" = 600 ] || fail "ca.key has mode $(mode "$ca/ca.key")"
[ -s "$ca/index" ] && fail "index is not empty after init"
run openssl verify -CAfile "$ca/ca.crt" "$ca/ca.crt"
run openssl crl -in "$ca/crl.pem" -CAfile "$ca/ca.crt" -noout
expect 0 openssl x509 -in "$ca/ca.crt" -noout -ext basicConstraints,keyUsage
contains "$out" "CA:TRUE, pathlen:0"
contains "$out" "Certificate Sign, CRL Sign"

# init refuses to replace a CA without --force.
expect 1 "$NETPORT" ca init --dir "$ca"
contains "$out" "netport ca: "
contains "$out" "--force"

# issue: one certificate per role, verified by openssl.
expect 0 "$NETPORT" ca issue --dir "$ca" --role server --name hub \
    --dns hub.example --ip 192.0.2.1
contains "$out" "$c/server-hub.key"
contains "$out" "$c/server-hub.crt"
run "$NETPORT" ca issue --dir "$ca" --role portal --name cam-17
run "$NETPORT" ca issue --dir "$ca" --role portal --name cam-18 --days 30
run "$NETPORT" ca issue --dir "$ca" --role relay --name r1
for id in server-hub portal-cam-17 portal-cam-18 relay-r1; do
	expect 0 openssl verify -CAfile "$ca/ca.crt" "$c/$id.crt"
	contains "$out" "$c/$id.crt: OK"
	expect 0 openssl verify -crl_check -CAfile "$ca/ca.crt" \
	    -CRLfile "$ca/crl.pem" "$c/$id.crt"
	[ "$(mode "$c/$id.key")" = 600 ] ||
	    fail "$id.key has mode $(mode "$c/$id.key")"
	expect 0 openssl pkey -in "$c/$id.key" -pubout
	run openssl x509 -in "$c/$id.crt" -noout -checkend 86400
done
expect 0 openssl x509 -in "$c/server-hub.crt" -noout \
    -ext subjectAltName,basicConstraints,extendedKeyUsage -subject
contains "$out" "URI:netport://server/hub"
contains "$out" "DNS:hub.example"
contains "$out" "IP Address:192.0.2.1"
contains "$out" "CA:FALSE"
contains "$out" "TLS Web Server Authentication, TLS Web Client Authentication"
contains "$out" "CN = hub"
expect 0 openssl x509 -in "$c/portal-cam-17.crt" -noout -ext subjectAltName
contains "$out" "URI:netport://portal/cam-17"
[ "$(wc -l <"$ca/index")" -eq 4 ] || fail "index should have 4 lines"

# issue never overwrites without --force, and leaves the files untouched.
pair_sum() {
	cat "$c/portal-cam-17.key" "$c/portal-cam-17.crt" | sha256sum
}
sum=$(pair_sum)
expect 1 "$NETPORT" ca issue --dir "$ca" --role portal --name cam-17
contains "$out" "exists; use --force"
[ "$(pair_sum)" = "$sum" ] || fail "a refused issue changed the files"
[ "$(wc -l <"$ca/index")" -eq 4 ] || fail "a refused issue changed the index"
run "$NETPORT" ca issue --dir "$ca" --role portal --name cam-17 --force
[ "$(pair_sum)" != "$sum" ] || fail "issue --force did not replace the files"
[ "$(mode "$c/portal-cam-17.key")" = 600 ] || fail "replaced key is not 0600"
run openssl verify -CAfile "$ca/ca.crt" "$c/portal-cam-17.crt"

# Bad names and bad command lines are refused before anything is written.
for bad in Cam-17 -cam cam- "cam 17" "a/b" "" \
    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; do
	expect 2 "$NETPORT" ca issue --dir "$ca" --role portal --name "$bad"
	contains "$out" "netport ca: issue: invalid name"
	contains "$out" "a-z, 0-9"
done
expect 2 "$NETPORT" ca issue --dir "$ca" --role admin --name x
contains "$out" "expected portal, server or relay"
expect 2 "$NETPORT" ca issue --dir "$ca" --name x
expect 2 "$NETPORT" ca issue --dir "$ca" --role portal --name x --days 0
expect 2 "$NETPORT" ca issue --dir "$ca" --role portal --name x --dns 'a..b'
expect 2 "$NETPORT" ca issue --dir "$ca" --role portal --name x --bogus
expect 2 "$NETPORT" ca frobnicate
expect 1 "$NETPORT" ca issue --dir "$ca" --role portal --name x --days 36500
contains "$out" "outlive the CA"
[ ! -e "$c/portal-x.key" ] || fail "a refused issue left a key behind"

# revoke: the CRL lists the certificate, and openssl refuses it.
expect 1 "$NETPORT" ca revoke --dir "$ca" nosuch
contains "$out" "no certificate named 'nosuch'"
run "$NETPORT" ca issue --dir "$ca" --role relay --name cam-18
expect 1 "$NETPORT" ca revoke --dir "$ca" cam-18
contains "$out" "portal, relay"
contains "$out" "--role"
run "$NETPORT" ca revoke --dir "$ca" cam-18 --role portal
expect 2 openssl verify -crl_check -CAfile "$ca/ca.crt" \
    -CRLfile "$ca/crl.pem" "$c/portal-cam-18.crt"
contains "$out" "certificate revoked"
for id in server-hub portal-cam-17 relay-r1 relay-cam-18; do
	run openssl verify -crl_check -CAfile "$ca/ca.crt" \
	    -CRLfile "$ca/crl.pem" "$c/$id.crt"
done
# Without the CRL the chain alone is still fine: revocation is the CRL.
run openssl verify -CAfile "$ca/ca.crt" "$c/portal-cam-18.crt"

# list shows each certificate with its state.
expect 0 "$NETPORT" ca list --dir "$ca"
contains "$out" "SERIAL"
contains "$out" "STATUS"
grep -Eq '^[0-9A-F]+ +portal +cam-18 +[0-9]{4}-[0-9]{2}-[0-9]{2} +revoked$' \
    <<<"$out" || fail "list does not show portal cam-18 revoked"
grep -Eq '^[0-9A-F]+ +relay +cam-18 +[0-9-]+ +valid$' <<<"$out" ||
    fail "list does not show relay cam-18 valid"
[ "$(grep -c ' valid$' <<<"$out")" -eq 5 ] || fail "list: expected 5 valid"

# crl: a fresh CRL with a higher number and the requested lifetime.
n1=$(openssl crl -in "$ca/crl.pem" -noout -crlnumber | sed 's/.*=//')
expect 0 "$NETPORT" ca crl --dir "$ca" --days 7
contains "$out" "$ca/crl.pem"
n2=$(openssl crl -in "$ca/crl.pem" -noout -crlnumber | sed 's/.*=//')
# openssl prints the number in hex, "0x03".
[ $((n2)) -gt $((n1)) ] || fail "CRL number did not grow ($n1, $n2)"
next=$(date -d "$(openssl crl -in "$ca/crl.pem" -noout -nextupdate |
    sed 's/^nextUpdate=//')" +%s)
now=$(date +%s)
left=$((next - now))
[ "$left" -gt $((6 * 86400)) ] && [ "$left" -le $((7 * 86400)) ] ||
    fail "nextUpdate is not 7 days ahead"
expect 2 openssl verify -crl_check -CAfile "$ca/ca.crt" \
    -CRLfile "$ca/crl.pem" "$c/portal-cam-18.crt"

# A certificate of another CA fails verification against this one.
run "$NETPORT" ca init --dir "$scratch/other"
run "$NETPORT" ca issue --dir "$scratch/other" --role portal --name cam-17
expect 2 openssl verify -CAfile "$ca/ca.crt" \
    "$scratch/other/certs/portal-cam-17.crt"

# NETPORT_CA_DIR is the default directory.
NETPORT_CA_DIR=$ca expect 0 "$NETPORT" ca list
contains "$out" "cam-17"

# A corrupt index is reported with its line, and nothing is changed.
cp "$ca/index" "$scratch/index.good"
printf 'ZZ\tportal\tx\t1\t2\tV\t-\n' >>"$ca/index"
line=$(wc -l <"$ca/index")
expect 1 "$NETPORT" ca list --dir "$ca"
contains "$out" "netport ca: $ca/index:$line: serial"
expect 1 "$NETPORT" ca issue --dir "$ca" --role portal --name y
contains "$out" "$ca/index:$line:"
[ ! -e "$c/portal-y.key" ] || fail "issue wrote a key despite a corrupt index"
cp "$scratch/index.good" "$ca/index"

# Every subcommand has --help.
for sub in init issue revoke crl list; do
	expect 0 "$NETPORT" ca "$sub" --help
	contains "$out" "usage: netport ca $sub"
done
expect 0 "$NETPORT" ca --help
contains "$out" "revoke"

echo "ca_tls: ok"
