#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# An OpenSSH session through a tunnel.  A real sshd (own configuration,
# host key and authorized key, all in the scratch directory) listens on a
# high loopback port behind the service portal pb; rule ssh makes the client
# portal pa listen on another port.  The real ssh client logs in through
# pa -> relay -> pb with public-key authentication and runs
# `echo ok; uname -s`; a second session pipes 2 MiB through `sha256sum` on
# the far side, so that bytes flow both ways in volume.  sshd logs the
# accepted key, the two sessions share one tunnel.  Then an interactive
# session answers a line, the relay is killed and restarted, and the same
# session answers the next line: the tunnel resumed on a new path and no
# stream was reset.  As root, the portals then restart with direct paths:
# a new interactive session's tunnel moves to a direct connection, which
# is blackholed (iptables DROP) between two lines; the session answers
# the next line over the relay path the tunnel falls back to.  sshd is
# stopped by its PID.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_data.sh"

for prog in /usr/sbin/sshd ssh ssh-keygen; do
	command -v "$prog" >/dev/null || np_fail "$prog is not installed (scripts/setup.sh)"
done
user=$(id -un)
np_dp_pki
ssh_port=$(np_port)
sshd_port=$(np_port)
{
	echo "rules:"
	np_dp_rule ssh pa "$ssh_port" pb "$sshd_port"
} | np_policy

np_step "sshd with its own configuration and keys"
sd=$NP_TMP/ssh
mkdir -m 700 "$sd"
ssh-keygen -q -t ed25519 -N '' -f "$sd/host_key" -C dp-host
ssh-keygen -q -t ed25519 -N '' -f "$sd/user_key" -C dp-user
cp "$sd/user_key.pub" "$sd/authorized_keys"
cat >"$sd/sshd_config" <<EOF
ListenAddress 127.0.0.1:$sshd_port
HostKey $sd/host_key
PidFile none
AuthorizedKeysFile $sd/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel VERBOSE
EOF
# sshd running as root needs its privilege separation directory.
if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
	mkdir -p -m 0755 /run/sshd
fi
/usr/sbin/sshd -t -f "$sd/sshd_config" 2>"$NP_TMP/sshd-t.out" ||
    np_fail "sshd -t: $(cat "$NP_TMP/sshd-t.out")"
np_start sshd /usr/sbin/sshd -D -e -f "$sd/sshd_config"
np_wait_log sshd "Server listening on 127\\.0\\.0\\.1 port $sshd_port"

np_step "server, relay and portals"
np_dp_server
np_dp_relay
np_dp_portal pa 1 0
np_dp_portal pb 0 1
np_wait_port "$ssh_port" open

ssh_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=5
	-o ServerAliveCountMax=3 -o LogLevel=ERROR -i "$sd/user_key"
	-p "$ssh_port")

np_step "ssh through the tunnel runs a command"
out=$(timeout 30 ssh "${ssh_opts[@]}" "$user@127.0.0.1" 'echo ok; uname -s' \
    </dev/null 2>"$NP_TMP/ssh1.err") || np_fail "ssh failed: $(cat "$NP_TMP/ssh1.err")"
[ "$out" = "ok
$(uname -s)" ] || np_fail "ssh printed: $out"
np_wait_log sshd "Accepted publickey for $user from 127\\.0\\.0\\.1 port [0-9]+ ssh2: ED25519"
np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb up via relay '

np_step "a second session moves 2 MiB up and gets its digest back"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$NP_TMP/up.bin"
want=$(sha256sum <"$NP_TMP/up.bin" | cut -d' ' -f1)
out=$(timeout 30 ssh "${ssh_opts[@]}" "$user@127.0.0.1" 'sha256sum' \
    <"$NP_TMP/up.bin" 2>"$NP_TMP/ssh2.err") || np_fail "ssh failed: $(cat "$NP_TMP/ssh2.err")"
[ "${out%% *}" = "$want" ] || np_fail "remote sha256sum printed '$out', expected $want"
np_wait_log_count sshd "Accepted publickey for $user" 2
[ "$(np_dp_granted)" -eq 1 ] || np_fail "$(np_dp_granted) tunnels granted for two sessions, expected 1"
for d in hub r1 pa pb; do
	np_no_log "$d" ' (warn|error) '
done

np_step "an interactive session survives a relay restart"
# The session reads lines from a FIFO and answers each.  A feeder process
# holds the FIFO's writing end (so that no daemon started meanwhile
# inherits it) and passes on the lines the test appends to a file.
cat >"$NP_TMP/feeder.py" <<'EOF'
import sys, time
fifo, feed = sys.argv[1], sys.argv[2]
out = open(fifo, "w")
pos, deadline = 0, time.monotonic() + 120
while time.monotonic() < deadline:
    with open(feed) as f:
        f.seek(pos)
        data = f.read()
    pos += len(data)
    for line in data.splitlines():
        if line == "EOF":
            out.close()
            sys.exit(0)
        out.write(line + "\n")
        out.flush()
    time.sleep(0.05)
sys.exit(1)
EOF

# interactive NAME CMD...: an interactive session NAME answers line one,
# then CMD runs (it breaks the tunnel's path and waits until the tunnel
# has a new one), then the same session answers line two.
interactive() {
	local name=$1 fifo=$NP_TMP/$1.in feed=$NP_TMP/$1.feed
	shift
	mkfifo "$fifo"
	: >"$feed"
	np_start "$name" bash -c 'exec timeout 60 ssh "$@" <"$0"' "$fifo" \
	    "${ssh_opts[@]}" "$user@127.0.0.1" \
	    'while read -r line; do echo "got $line"; done'
	np_start "$name-feeder" python3 "$NP_TMP/feeder.py" "$fifo" "$feed"
	echo one >>"$feed"
	np_wait_log "$name" '^got one$' 20
	"$@"
	echo two >>"$feed"
	np_wait_log "$name" '^got two$' 20
	echo EOF >>"$feed"
	np_wait_exit "$name-feeder" 0 10
	np_wait_exit "$name" 0 20
	np_no_log pa 'stream [0-9]+ \(rule ssh\) reset'
}

restart_relay() {
	np_kill9 r1
	np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb lost its path'
	np_dp_relay r1
	np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb resumed via relay '
}
interactive session restart_relay
echo "    $(np_log_line pa 'resumed via relay' | sed 's/.*tunnel_on_resume: //')"

if [ "$(id -u)" -eq 0 ] && command -v iptables >/dev/null; then
	np_step "an interactive session on a direct path survives its blackhole"
	pa_direct=$(np_port)
	pb_direct=$(np_port)
	NP_EXIT_HOOK=np_dp_unblackhole
	np_stop pa
	np_stop pb
	timing=(tunnel.keepalive=500ms tunnel.dead_timeout=3s
		tunnel.setup_timeout=3s direct.retry=60s)
	NP_DIRECT=auto np_dp_portal pa 1 0 "${timing[@]}" \
	    "direct.listen=127.0.0.1:$pa_direct"
	NP_DIRECT=auto np_dp_portal pb 0 1 "${timing[@]}" \
	    "direct.listen=127.0.0.1:$pb_direct"
	np_wait_port "$ssh_port" open
	blackhole_direct() {
		np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb now direct: ' 15
		np_dp_blackhole "$pa_direct" "$pb_direct"
		np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb lost its path \(direct ' 15
		np_wait_log pa 'tunnel [0-9a-f]{32} to portal/pb resumed via relay ' 20
		np_dp_unblackhole
	}
	interactive direct_session blackhole_direct
	echo "    $(np_log_line pa 'resumed via relay' | sed 's/.*tunnel_on_resume: //')"
fi

np_step "everyone stops; sshd by its PID"
np_stop pa
np_stop pb
np_stop r1
np_stop hub
np_stop sshd
np_wait_log sshd 'Received signal 15; terminating' 

np_pass "ssh sessions through the tunnel"
