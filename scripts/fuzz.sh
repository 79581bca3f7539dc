#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs every libFuzzer harness of the fuzz build (cmake --preset fuzz) for a
# bounded time, starting from its seed corpus in fuzz/corpus/NAME.  New
# inputs go to a scratch copy, so the checked-in corpus only changes by hand.
# A crash, leak or timeout fails the harness; its input is kept under
# build/fuzz/artifacts/ to be added to the corpus as a regression case.
#
#   scripts/fuzz.sh [SECONDS_PER_HARNESS]     (default 20)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
bindir=$top/build/fuzz/fuzz
artifacts=$top/build/fuzz/artifacts
mkdir -p "$artifacts"

shopt -s nullglob
harnesses=("$bindir"/fuzz_*)
if [ "${#harnesses[@]}" -eq 0 ]; then
	echo "fuzz FAIL (none) no harness built in $bindir"
	exit 1
fi

status=0
for bin in "${harnesses[@]}"; do
	[ -x "$bin" ] || continue
	name=${bin##*/fuzz_}
	corpus=$top/fuzz/corpus/$name
	work=$(mktemp -d)
	[ -d "$corpus" ] && cp -r "$corpus/." "$work/"
	opts=()
	[ -f "$top/fuzz/$name.dict" ] && opts+=(-dict="$top/fuzz/$name.dict")
	if [ -f "$top/fuzz/$name.options" ]; then
		ml=$(sed -n 's/^max_len *= *//p' "$top/fuzz/$name.options")
		[ -n "$ml" ] && opts+=(-max_len="$ml")
	fi
	log=$(mktemp)
	if "$bin" "${opts[@]}" -max_total_time="$seconds" -timeout=10 \
	    -rss_limit_mb=2048 -artifact_prefix="$artifacts/$name-" \
	    -print_final_stats=1 "$work" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "fuzz ok $name ${runs:-?} runs in ${seconds}s"
	else
		tail -40 "$log"
		echo "fuzz FAIL $name (input kept in $artifacts)"
		status=1
	fi
	rm -rf "$work" "$log"
done
exit $status
