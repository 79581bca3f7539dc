/* SPDX-License-Identifier: MIT */
/* Entry point of `netport portal`. */
#ifndef NETPORT_PORTAL_H
#define NETPORT_PORTAL_H

#include "core/daemon.h"

extern const struct daemon_spec portal_spec;

/* Runs the portal; returns the process exit status. */
int	portal_main(int argc, char **argv);

#endif
