#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Four streams at full speed through one tunnel never stall.  iperf3 -P 4
# (a real client and server) sends through pa -> pb for 3 s, six times.
# The tunnels' keepalive is 5 s, so a tunnel that stops sending while its
# streams wait (frames left in its output buffer with nothing to flush
# them, every stream paused for room or credit) sits until the next tick;
# each transfer must finish within 30 s, and iperf3 must report no
# half-second interval without a byte (before the fix, the third transfer
# of a run stalled for good).  (iperf3 ends a test when its client has sent the
# last byte, not when the server has it, so the last streams may end in a
# reset; byte counts are dp_bulk's business.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

command -v iperf3 >/dev/null || np_fail "iperf3 is not installed"
np_dp_pki
lport=$(np_port)
tport=$(np_port)
{
	echo "rules:"
	np_dp_rule bulk pa "$lport" pb "$tport"
} | np_policy

np_step "server, relay, portals (keepalive 5 s), iperf3 server behind pb"
np_dp_server
np_dp_relay
np_dp_portal pa 1 0 tunnel.keepalive=5s tunnel.dead_timeout=30s
np_dp_portal pb 0 1 tunnel.keepalive=5s tunnel.dead_timeout=30s
np_wait_port "$lport" open
np_start iperfs iperf3 -s -B 127.0.0.1 -p "$tport"
np_wait_port "$tport" open

for i in 1 2 3 4 5 6; do
	np_step "transfer $i: 3 s in 4 streams"
	timeout 30 iperf3 -c 127.0.0.1 -p "$lport" -P 4 -t 3 -i 0.5 -J \
	    >"$NP_TMP/iperf$i.json" ||
	    np_fail "transfer $i did not finish within 30 s"
	python3 - "$NP_TMP/iperf$i.json" <<'EOF' || np_fail "transfer $i stalled"
import json, sys
d = json.load(open(sys.argv[1]))
rates = [iv["sum"]["bits_per_second"] for iv in d["intervals"]
         if iv["sum"]["seconds"] >= 0.25]
got = d["end"]["sum_received"]["bytes"]
print("  %d bytes; per interval (Gbit/s): %s" % (got, " ".join(
    "%.1f" % (r / 1e9) for r in rates)))
if any(r == 0 for r in rates):
    sys.exit(1)
EOF
done
np_stop iperfs 1	# iperf3 -s exits with 1 on SIGTERM
np_pass "6 x 3 s in 4 streams, no stall"
