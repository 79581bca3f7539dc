#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the key tables of docs/CONFIG.md from the binary
# (`netport config-doc`), between the GENERATED markers.  Run it after
# adding or changing a configuration key; tests/integration/config_check.sh
# fails while the doc and the code disagree.
#
#   scripts/gen-config-doc.sh [path/to/netport]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
np=${1:-$top/build/release/netport}
doc=$top/docs/CONFIG.md
"$np" config-doc | python3 -c '
import sys
path, tables = sys.argv[1], sys.stdin.read()
text = open(path).read()
begin, end = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
i, j = text.index(begin) + len(begin), text.index(end)
open(path, "w").write(text[:i] + "\n" + tables + text[j:])
' "$doc"
