/* SPDX-License-Identifier: MIT */
/* Entry point of `netport server`. */
#ifndef NETPORT_SERVER_H
#define NETPORT_SERVER_H

#include "core/daemon.h"

extern const struct daemon_spec server_spec;

/* Runs the server; returns the process exit status. */
int	server_main(int argc, char **argv);

#endif
