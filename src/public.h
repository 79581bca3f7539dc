/* SPDX-License-Identifier: MIT */
/* Entry point of `netport public`: server and relay on one host. */
#ifndef NETPORT_PUBLIC_H
#define NETPORT_PUBLIC_H

/* Runs `netport public ...`; returns the process exit status. */
int	public_main(int argc, char **argv);

#endif
