#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# netport's main job, end to end on loopback: sets up the packages, builds
# netport, creates a CA and certificates in a scratch directory, starts a
# server, a relay and two portals, puts a small HTTP service behind portal
# "bob", fetches it through portal "alice" with curl, prints what happened
# and how to do the same by hand, and stops everything cleanly.
#
#   bash scripts/demo.sh            (keeps nothing; KEEP=1 keeps the dir)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "setting up packages and building (release)"
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
np=$top/build/release/netport

work=$(mktemp -d /tmp/netport-demo.XXXXXX)
pids=()
cleanup() {
	local status=$?
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ "$status" -ne 0 ]; then
		for f in "$work"/*.log; do
			[ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
		done
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
cd "$work"

# Free loopback ports for the server, the relay, the rule and the service.
read -r p_server p_relay p_rule p_web < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
')

say "creating a CA and certificates in $work/ca"
export NETPORT_CA_DIR=$work/ca
"$np" ca init --name "demo CA" >/dev/null
"$np" ca issue --role server --name srv >/dev/null
"$np" ca issue --role relay --name relay-1 >/dev/null
"$np" ca issue --role portal --name alice >/dev/null
"$np" ca issue --role portal --name bob >/dev/null
"$np" ca list

# The TLS keys of a daemon with certificate $1, and its control socket in
# the scratch directory (where `netport status` finds it).
tls() {
	printf 'tls:\n  ca: %s/ca/ca.crt\n  cert: %s/ca/certs/%s.crt\n' \
	    "$work" "$work" "$1"
	printf '  key: %s/ca/certs/%s.key\n  crl: %s/ca/crl.pem\n' \
	    "$work" "$1" "$work"
	printf 'control:\n  socket: %s/%s.sock\n' "$work" "$1"
}
cat >policy.yaml <<POLICY
# alice may reach bob's web service on alice's 127.0.0.1:$p_rule
rules:
  - name: web
    client: alice
    listen: 127.0.0.1:$p_rule
    service: bob
    target: 127.0.0.1:$p_web
POLICY
# STUN on loopback too (by default the server answers it on UDP 3478).
{ tls server-srv; printf 'listen: 127.0.0.1:%s\npolicy: %s/policy.yaml\n' \
    "$p_server" "$work"; printf 'stun:\n  listen: 127.0.0.1:0\n'; } >server.yaml
{ tls relay-relay-1; printf 'server: 127.0.0.1:%s\nlisten: 127.0.0.1:%s\n' \
    "$p_server" "$p_relay"; } >relay.yaml
# Direct paths are tried on loopback only (by default a portal tells its
# peers every interface address it has, and asks the home router for a
# port mapping).
{ tls portal-alice; printf 'server: 127.0.0.1:%s\n' "$p_server"
  printf 'direct:\n  addresses: ["127.0.0.1"]\n  portmap: off\n'
} >alice.yaml
{ tls portal-bob; printf 'server: 127.0.0.1:%s\nallow: ["127.0.0.1:%s"]\n' \
    "$p_server" "$p_web"
  printf 'direct:\n  addresses: ["127.0.0.1"]\n  portmap: off\n'
} >bob.yaml
for role in server relay; do
	printf '%-7s ' "$role:"; "$np" "$role" -c "$role.yaml" -n
done
for who in alice bob; do
	printf '%-7s ' "$who:"; "$np" portal -c "$who.yaml" -n
done

# Readiness is a log line or a listening socket, never a fixed sleep: on a
# cold machine a Python interpreter alone takes about half a second to
# listen.  Each wait gives up early when the process it waits for has died.
#
# wait_log PID FILE PATTERN: FILE has a line matching PATTERN (30 s at most).
wait_log() {
	local pid=$1 file=$2 pattern=$3
	for _ in $(seq 300); do
		grep -q "$pattern" "$file" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$file: process $pid exited before '$pattern'" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "timed out waiting for '$pattern' in $file" >&2
	return 1
}
# wait_port PID PORT: something accepts TCP on 127.0.0.1:PORT (30 s at most).
wait_port() {
	local pid=$1 port=$2
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "process $pid exited before listening on $port" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "timed out waiting for a listener on 127.0.0.1:$port" >&2
	return 1
}
last_pid=
start() {
	local name=$1
	shift
	"$@" >"$name.log" 2>&1 &
	last_pid=$!
	pids+=("$last_pid")
}

say "starting server, relay, portals and a web service behind bob"
mkdir www
echo "hello from bob's web service, through netport" >www/index.html
start web python3 -m http.server "$p_web" --bind 127.0.0.1 --directory www
web_pid=$last_pid
start server "$np" server -c server.yaml
wait_log "$last_pid" server.log "listening on"
start relay "$np" relay -c relay.yaml
relay_pid=$last_pid
start alice "$np" portal -c alice.yaml
alice_pid=$last_pid
start bob "$np" portal -c bob.yaml
bob_pid=$last_pid
wait_log "$relay_pid" relay.log "registered"
wait_log "$alice_pid" alice.log "listening on 127.0.0.1:$p_rule"
wait_log "$bob_pid" bob.log "rule set .* applied"
wait_port "$web_pid" "$p_web"

say "curl http://127.0.0.1:$p_rule/ (alice's side of rule 'web')"
curl -sS --max-time 10 "http://127.0.0.1:$p_rule/"
wait_log "$alice_pid" alice.log "tunnel .* up via relay"

say "what happened"
grep -h "tunnel granted" server.log
grep -h "paired" relay.log
grep -h "up via relay" alice.log bob.log
echo
echo "The relay forwarded only ciphertext: TLS 1.3 ran between alice and bob."
wait_log "$alice_pid" alice.log "tunnel .* now direct"
grep -h "now direct" alice.log bob.log
echo
echo "Then alice and bob, who can reach each other, moved the tunnel to a"
echo "direct connection with the same TLS checks; the relay left the path."

say "netport status -c alice.yaml (and the server's view)"
"$np" status -c alice.yaml
"$np" status -c server.yaml

say "stopping everything"
# In the reverse order of the start: portals first, the server last, so
# nobody logs the loss of a peer that is being stopped on purpose.
for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
	kill -TERM "${pids[$i]}"
	wait "${pids[$i]}" 2>/dev/null || true
done
pids=()
grep -h "stopped" server.log relay.log alice.log bob.log

cat <<HOWTO

To do the same by hand (see docs/QUICKSTART.md for a real deployment):
  netport ca init; netport ca issue --role server --name srv   # and relay, portals
  netport server -c server.yaml     # policy.yaml names the rules
  netport relay -c relay.yaml
  netport portal -c bob.yaml        # the service side
  netport portal -c alice.yaml      # the client side: connect to its rule port
The configurations used here were:
HOWTO
for f in policy.yaml server.yaml relay.yaml alice.yaml bob.yaml; do
	echo "--- $f"; cat "$f"
done
