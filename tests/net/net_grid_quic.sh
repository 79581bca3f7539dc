#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The NAT grid of net_grid.sh with QUIC paths on every portal
# (direct.quic: on): the same pairs direct and relayed, and the pairs
# punched through NATs or firewalls on both sides end up on QUIC.
export NP_GRID_QUIC=on
. "$(dirname "$0")/net_grid.sh"
