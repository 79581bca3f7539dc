#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A reader that stops reading stalls only its own stream.  Two rules from
# the client portal pa to two sources behind the service portal pb share
# one tunnel, and both streams flow service -> client.  First stream B
# alone: a client downloads 200 MiB (NP_SLOW_MIB) and the rate is noted.
# Then stream A: its client reads the first 64 KiB of a 64 MiB download and
# stops reading, so A's bytes pile up (its socket buffers, at most its
# credit of 256 KiB in the portals) and A's source blocks.  While A is
# stalled, B downloads its 200 MiB again and must reach at least half the
# rate it had alone (best of up to three tries, against the noise of a busy
# machine); meanwhile A's source must not have finished (A really was
# stalled).  Finally A's client reads the rest: all 64 MiB arrive, equal
# to what the source sent (SHA-256), with a clean EOF.  One tunnel carries
# everything and no stream is reset.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

mib=${NP_SLOW_MIB:-200}
bytes_b=$((mib * 1024 * 1024))
bytes_a=$((64 * 1024 * 1024))
np_dp_pki
port_a=$(np_port)
port_b=$(np_port)
src_a=$(np_port)
src_b=$(np_port)
{
	echo "rules:"
	np_dp_rule slow pa "$port_a" pb "$src_a"
	np_dp_rule fast pa "$port_b" pb "$src_b"
} | np_policy

np_step "server, relay, portals; two sources behind pb"
np_dp_server
np_dp_relay
np_dp_portal pa 2 0
np_dp_portal pb 0 2
np_wait_port "$port_a" open
np_wait_port "$port_b" open
np_dp_app srca source "$src_a" "$bytes_a"
np_dp_app srcb source "$src_b" "$bytes_b"

np_step "stream B alone: $mib MiB"
np_dp_client b1 60 get "$port_b"
np_dp_done b1 60
np_wait_log srcb '^source 1: sent '
alone=$(np_dp_same_data b1 '^get: received ' srcb '^source 1: sent ' "$bytes_b")
rate1=$(np_dp_field "$alone" rate)
echo "B alone: $rate1 MiB/s"

np_step "stream A: reads 64 KiB, then stops reading"
cat >"$NP_TMP/slow.py" <<'EOF'
# Reads 64 KiB, reports, stops reading until the file argv[2] appears, then
# reads to EOF and reports count and digest.
import fcntl, hashlib, os, socket, struct, sys, termios, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
h = hashlib.sha256()
got = 0
while got < 65536:
    data = s.recv(65536 - got)
    if not data:
        sys.exit("EOF after %d bytes" % got)
    h.update(data)
    got += len(data)
print("A: read %d bytes; not reading now" % got, flush=True)
deadline = time.monotonic() + 120
while not os.path.exists(sys.argv[2]):
    if time.monotonic() > deadline:
        sys.exit("no go file within 120 s")
    time.sleep(0.05)
queued = struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0" * 4))[0]
print("A: %d bytes wait in the socket; reading again" % queued, flush=True)
t0 = time.monotonic()
while True:
    data = s.recv(1 << 20)
    if not data:
        break
    h.update(data)
    got += len(data)
secs = time.monotonic() - t0
print("A: received %d bytes sha256 %s in %.3f s (%.1f MiB/s)" %
      (got, h.hexdigest(), secs, got / 1048576 / secs), flush=True)
EOF
np_start slowa python3 "$NP_TMP/slow.py" "$port_a" "$NP_TMP/go-a"
np_wait_log slowa '^A: read 65536 bytes; not reading now'

np_step "stream B again, beside the stalled stream A"
# Up to three tries: a machine busy with other work may slow one run down,
# but a stalled stream that holds B back does so every time.
for try in 1 2 3; do
	np_dp_client "b$((try + 1))" 60 get "$port_b"
	np_dp_done "b$((try + 1))" 60
	np_wait_log srcb "^source $((try + 1)): sent "
	beside=$(np_dp_same_data "b$((try + 1))" '^get: received ' srcb \
	    "^source $((try + 1)): sent " "$bytes_b")
	rate2=$(np_dp_field "$beside" rate)
	echo "B beside a stalled stream: $rate2 MiB/s (alone: $rate1 MiB/s)"
	if python3 -c 'import sys; sys.exit(float(sys.argv[2]) < 0.5 * float(sys.argv[1]))' \
	    "$rate1" "$rate2"; then
		break
	fi
	[ "$try" -lt 3 ] ||
	    np_fail "B slowed down beside the stalled stream: $rate2 MiB/s, alone $rate1 MiB/s"
done
[ "$(np_log_count srca '^source 1: sent ')" -eq 0 ] ||
    np_fail "stream A's source finished while its reader was stalled: $(np_log_line srca 'source 1')"

np_step "A reads again: all of it arrives"
touch "$NP_TMP/go-a"
np_wait_exit slowa 0 60
np_wait_log srca '^source 1: sent '
np_dp_same_data slowa '^A: received ' srca '^source 1: sent ' "$bytes_a" >/dev/null
np_log_line slowa 'wait in the socket'

np_step "one tunnel, no resets"
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted, expected 1"
for d in hub r1 pa pb; do
	np_no_log "$d" ' (warn|error) | reset'
done
np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop srca
np_stop srcb

np_pass "B alone $rate1 MiB/s, beside a stalled stream $rate2 MiB/s; A intact"
