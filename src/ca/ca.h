/* SPDX-License-Identifier: MIT */
/* Entry point of `netport ca`: the certificate authority tooling. */
#ifndef NETPORT_CA_H
#define NETPORT_CA_H

/* Runs `netport ca SUBCOMMAND ...`; returns the process exit status. */
int	ca_main(int argc, char **argv);

#endif
