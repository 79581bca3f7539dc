/* SPDX-License-Identifier: MIT */
/* Entry point of `netport relay`. */
#ifndef NETPORT_RELAY_H
#define NETPORT_RELAY_H

#include "core/daemon.h"

extern const struct daemon_spec relay_spec;

/* Runs the relay; returns the process exit status. */
int	relay_main(int argc, char **argv);

#endif
