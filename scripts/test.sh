#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Sets up everything and runs every test: installs the packages
# (scripts/setup.sh), builds the release flavour (hardened, -Werror) and the
# ASan+UBSan flavour, runs the whole ctest suite on each, builds as a
# packager would (CMake's Release type, -O3), runs the README's first
# command (scripts/demo.sh), then runs every libFuzzer harness briefly from
# its seed corpus.  Ends with one line
# "tests: N passed, N failed"; exits non-zero when anything failed.
#
#   scripts/test.sh                 everything
#   NETPORT_FLAVOURS="asan" scripts/test.sh     only some flavours
#   NETPORT_FUZZ_SECONDS=300 scripts/test.sh    longer fuzz runs (default 20)
#   NETPORT_TEST_FILTER=conf scripts/test.sh    only ctest names matching
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/setup.sh || exit 1

flavours=${NETPORT_FLAVOURS:-"release asan"}
fuzz_seconds=${NETPORT_FUZZ_SECONDS:-20}
passed=0
failed=0
skipped=0
failures=()

# Adds the counts of one ctest run, read from its summary line
# ("100% tests passed, 0 tests failed out of 12") and its list of tests
# that did not run (skipped: they count neither as passed nor failed).
count_ctest() {
	local flavour=$1 log=$2 line total bad skip
	line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
	if [ -z "$line" ]; then
		failed=$((failed + 1))
		failures+=("$flavour: ctest printed no summary")
		return
	fi
	total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
	bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
	skip=$(grep -Ec '^[[:space:]]*[0-9]+ - .*\(Skipped\)' "$log" || true)
	passed=$((passed + total - bad - skip))
	failed=$((failed + bad))
	skipped=$((skipped + skip))
	if [ "$bad" -ne 0 ]; then
		while read -r name; do
			failures+=("$flavour: $name")
		done < <(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Failed)/\1/p' "$log")
	fi
}

for flavour in $flavours; do
	echo "=== $flavour: configure and build"
	log=$(mktemp)
	if ! { cmake --preset "$flavour" >/dev/null &&
	    cmake --build --preset "$flavour"; } >"$log" 2>&1; then
		cat "$log"
		failed=$((failed + 1))
		failures+=("$flavour: build failed")
		rm -f "$log"
		continue
	fi
	echo "=== $flavour: ctest"
	args=(--preset "$flavour" -j 2)
	[ -n "${NETPORT_TEST_FILTER:-}" ] && args+=(-R "$NETPORT_TEST_FILTER")
	ctest "${args[@]}" 2>&1 | tee "$log"
	count_ctest "$flavour" "$log"
	rm -f "$log"
done

# A packager's build: CMake's own Release type (-O3), no preset.  Warnings
# are errors here, as in the presets, so that an optimisation level nobody
# develops with cannot break a user's build unnoticed.
echo "=== packager: cmake -DCMAKE_BUILD_TYPE=Release, -O3, warnings as errors"
log=$(mktemp)
if { cmake -S . -B build/packager -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DNETPORT_WERROR=ON -DBUILD_TESTING=OFF >/dev/null &&
    cmake --build build/packager; } >"$log" 2>&1; then
	echo "packager build ok"
	passed=$((passed + 1))
else
	cat "$log"
	failed=$((failed + 1))
	failures+=("packager: Release build failed")
fi
rm -f "$log"

# The README's first command, exactly as a new user runs it: it must exit 0
# and print the page it fetched through the tunnel.
echo "=== demo: bash scripts/demo.sh"
log=$(mktemp)
bash scripts/demo.sh >"$log" 2>&1
demo_status=$?
if [ "$demo_status" -eq 0 ] &&
    grep -q "^hello from bob's web service, through netport$" "$log"; then
	echo "demo ok"
	passed=$((passed + 1))
else
	cat "$log"
	echo "demo: exit status $demo_status"
	failed=$((failed + 1))
	failures+=("demo: scripts/demo.sh (exit $demo_status)")
fi
rm -f "$log"

if [ "$fuzz_seconds" -gt 0 ]; then
	echo "=== fuzz: configure and build"
	log=$(mktemp)
	if { cmake --preset fuzz >/dev/null && cmake --build --preset fuzz; } \
	    >"$log" 2>&1; then
		fuzzlog=$(mktemp)
		bash scripts/fuzz.sh "$fuzz_seconds" 2>&1 | tee "$fuzzlog"
		p=$(grep -c '^fuzz ok ' "$fuzzlog")
		f=$(grep -c '^fuzz FAIL ' "$fuzzlog")
		passed=$((passed + p))
		failed=$((failed + f))
		while read -r _ _ name _; do
			failures+=("fuzz: $name")
		done < <(grep '^fuzz FAIL ' "$fuzzlog")
		rm -f "$fuzzlog"
	else
		cat "$log"
		failed=$((failed + 1))
		failures+=("fuzz: build failed")
	fi
	rm -f "$log"
fi

echo
for f in "${failures[@]}"; do
	echo "FAILED: $f"
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
