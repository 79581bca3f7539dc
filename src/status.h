/* SPDX-License-Identifier: MIT */
/* Entry point of `netport status`: what running daemons are doing. */
#ifndef NETPORT_STATUS_H
#define NETPORT_STATUS_H

/* Runs `netport status ...`; returns the process exit status. */
int	status_main(int argc, char **argv);

#endif
