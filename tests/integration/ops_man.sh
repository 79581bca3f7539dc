#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The man pages the build makes from docs/man (scdoc): every page renders
# with no groff warning; every command that `netport --help` lists has its
# page (netport-COMMAND(1), but for version and help); netport.yaml(5)
# names every configuration key of every role (it is generated from the
# same schema as --help); each daemon's page names the options its --help
# shows.
. "$(dirname "$0")/../lib.sh"

man_dir=$(dirname "$(readlink -f "$NETPORT")")/man
[ -d "$man_dir" ] || { echo "SKIP: no man pages built (scdoc missing)"; exit 77; }
command -v man >/dev/null || { echo "SKIP: no man(1) here"; exit 77; }

np_step "every page renders without a warning"
n=0
for page in "$man_dir"/*.[15]; do
	w=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	[ -z "$w" ] || np_fail "$(basename "$page"): $w"
	n=$((n + 1))
done
echo "    $n pages"

np_step "a page for every command"
for cmd in $("$NETPORT" --help | awk '/^commands:/ { on = 1; next }
    on && /^  [a-z]/ { print $1 }'); do
	case $cmd in version | help) continue ;; esac
	[ -s "$man_dir/netport-$cmd.1" ] || np_fail "no page netport-$cmd(1)"
done
[ -s "$man_dir/netport.1" ] || np_fail "no page netport(1)"
[ -s "$man_dir/netport-policy.5" ] || np_fail "no page netport-policy(5)"

np_step "netport.yaml(5) names every key; daemon pages their options"
text=$(MANWIDTH=200 man -l "$man_dir/netport.yaml.5" 2>/dev/null)
for role in server relay portal; do
	for key in $("$NETPORT" "$role" --help | awk '/^configuration keys/ { on = 1; next }
	    on && /^  [a-z]/ { print $1 }'); do
		grep -qF "$key (" <<<"$text" || np_fail "netport.yaml(5) lacks $role key $key"
	done
	page=$(MANWIDTH=200 man -l "$man_dir/netport-$role.1" 2>/dev/null)
	for opt in --config --check --log-level --log-format --help; do
		grep -qF -- "$opt" <<<"$page" || np_fail "netport-$role(1) lacks $opt"
	done
done
np_pass "$n man pages: no warnings, every command and key documented"
