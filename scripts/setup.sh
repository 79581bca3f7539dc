#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Installs every Debian package that building, running and testing netport
# need.  Idempotent: packages already present are not touched, and when all
# are present nothing is downloaded at all.  Needs root (or sudo).
#
#   scripts/setup.sh            build + run + test dependencies
#   scripts/setup.sh --runtime  only what the netport binary needs to run
#   scripts/setup.sh --bench    build + run dependencies and the tools of
#                               bench/run.sh (iperf3, stunnel, ssh, socat)
set -euo pipefail

runtime=(libssl3 libevent-2.1-7 libevent-openssl-2.1-7 libevent-extra-2.1-7
	libyaml-0-2 libbpf1 libjansson4 libminiupnpc17 libnatpmp1 libngtcp2-9
	libngtcp2-crypto-gnutls2 libgnutls30 libnftables1 libnl-3-200
	libnl-route-3-200 libsystemd0 libcap2 libseccomp2 openssl
	ca-certificates)
# clang and libbpf build the relay's eBPF fast path (src/bpf/).
build=(build-essential cmake ninja-build pkg-config libssl-dev libevent-dev
	libyaml-dev libbpf-dev libjansson-dev libminiupnpc-dev libnatpmp-dev
	libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev
	libnftables-dev libnl-route-3-dev libsystemd-dev libcap-dev
	libseccomp-dev scdoc
	clang)
# Tests use real clients and servers: curl and python3 for HTTP, OpenSSH
# (sshd and ssh) for a session through a tunnel, clang and its runtime for
# libFuzzer harnesses, iproute2 for network namespaces; for the network
# test bed (tests/net/): iptables and conntrack for the NAT routers, ping,
# libnetfilter_queue for the delay line that stands in for netem, and a
# home router's port mapping: miniupnpd (UPnP-IGD and NAT-PMP) with its
# nftables chains, and the reference clients upnpc and natpmpc; a real
# Prometheus (and promtool) scrapes the daemons' /metrics.
test=(clang libclang-rt-14-dev curl python3 openssh-server openssh-client
	iproute2 procps psmisc valgrind
	dnsmasq-base dnsutils iperf3
	iptables conntrack iputils-ping libnetfilter-queue-dev
	nftables miniupnpd miniupnpc natpmpc prometheus man-db)
# The benchmark (bench/run.sh) compares netport with these on loopback.
bench=(iperf3 stunnel4 openssh-server openssh-client socat python3 iproute2
	procps)

want=("${runtime[@]}")
case "${1:-}" in
--runtime) ;;
--bench) want+=("${build[@]}" "${bench[@]}") ;;
*) want+=("${build[@]}" "${test[@]}") ;;
esac

missing=()
for pkg in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing+=("$pkg")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "setup: all ${#want[@]} packages present"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		sudo=(sudo)
	else
		echo "setup: need root to install: ${missing[*]}" >&2
		exit 1
	fi
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The servers among these packages (sshd, prometheus, miniupnpd) are tools
# the tests start on their own ports; their packages must not start them
# as services.  A policy-rc.d that refuses every start does that, for the
# time of this install only (an existing one is left as it is).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
