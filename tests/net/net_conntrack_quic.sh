#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# net_conntrack.sh on a punched QUIC path (direct.quic: on): both NATs
# forget every connection under a transfer; the QUIC path's UDP flow is
# tracked anew or the path is replaced, and the data arrives whole.
export NP_CT_QUIC=on
. "$(dirname "$0")/net_conntrack.sh"
