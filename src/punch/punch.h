/* SPDX-License-Identifier: MIT */
/*
 * `netport punch`: UDP hole punching for other VPNs, a drop-in for
 * netpunch (same flags, wire format and result line).  punch_main.c holds
 * the command line and both modes; core/netpunch.c the wire format.
 */
#ifndef NETPORT_PUNCH_PUNCH_H
#define NETPORT_PUNCH_PUNCH_H

int	punch_main(int argc, char **argv);

#endif
