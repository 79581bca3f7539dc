#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The long runs that do not belong in every CI run: each fuzz harness for
# longer (NETPORT_FUZZ_SECONDS, default 600 each), then the data-plane
# tests at soak sizes on the ASan build: 8 GiB each way (NP_BULK_MIB),
# 100,000 streams opened and closed (NP_STREAMS), 512 MiB through the lossy
# NAT path (NP_NET_LOSSY_MIB), 256 MiB over a punched QUIC path and over
# the relay at 50 ms RTT and 1 % loss (NP_NET_QUIC_MIB), 20 tries of
# birthday probing (NP_BIRTHDAY_TRIES).  Ends with the same summary line as
# scripts/test.sh.
#
#   bash scripts/soak.sh
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/setup.sh || exit 1

export NP_BULK_MIB=${NP_BULK_MIB:-8192}
export NP_STREAMS=${NP_STREAMS:-100000}
export NP_NET_LOSSY_MIB=${NP_NET_LOSSY_MIB:-512}
export NP_NET_QUIC_MIB=${NP_NET_QUIC_MIB:-256}
export NP_BIRTHDAY_TRIES=${NP_BIRTHDAY_TRIES:-20}
NETPORT_FLAVOURS=asan NETPORT_TEST_FILTER='dp_bulk|leak_streams|net_lossy|net_quic|net_birthday' \
    NETPORT_FUZZ_SECONDS=${NETPORT_FUZZ_SECONDS:-600} bash scripts/test.sh
