/* SPDX-License-Identifier: MIT */
/*
 * netport: one binary for every role.  `netport ROLE ARGS...` runs the role;
 * the table below is the whole list.
 */
#include <stdio.h>
#include <string.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "portal/portal.h"
#include "public.h"
#include "punch/punch.h"
#include "relay/relay.h"
#include "server/server.h"
#include "status.h"

static int	main_version(int argc, char **argv);
static int	main_help(int argc, char **argv);
static int	main_config_doc(int argc, char **argv);

struct command {
	const char	*name;
	int		(*main)(int argc, char **argv);
	const char	*summary;	/* NULL: not listed in --help */
};

static const struct command commands[] = {
	{ "portal", portal_main,
	    "agent on an end device: listens for and connects to rule ports" },
	{ "server", server_main,
	    "control plane: authentication, policy, tunnel brokering" },
	{ "relay", relay_main,
	    "data plane: pairs tunnel halves and forwards ciphertext" },
	{ "public", public_main,
	    "server and relay together, for a small deployment's public host" },
	{ "ca", ca_main,
	    "certificate authority: init, issue, revoke, crl, list" },
	{ "status", status_main,
	    "what running daemons are doing: tunnels, paths, sessions, load" },
	{ "punch", punch_main,
	    "UDP hole punching for other VPNs (netpunch-compatible)" },
	{ "version", main_version, "print the version" },
	{ "help", main_help, "show this help" },
	{ "config-doc", main_config_doc, NULL },
};

static void
main_usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: netport COMMAND [ARGS...]\n\n"
	    "netport gives devices behind NAT and firewalls controlled, "
	    "end-to-end encrypted\naccess to each other's TCP ports.\n\n"
	    "commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].summary)
			fprintf(fp, "  %-9s %s\n", commands[i].name,
			    commands[i].summary);
	fprintf(fp, "\n'netport COMMAND --help' describes each command.\n");
}

static int
main_version(int argc, char **argv)
{
	printf("netport %s\n", NETPORT_VERSION);
	return 0;
}

static int
main_help(int argc, char **argv)
{
	main_usage(stdout);
	return 0;
}

/* Prints the key tables of docs/CONFIG.md; a test keeps the doc in step. */
static int
main_config_doc(int argc, char **argv)
{
	const struct daemon_spec *specs[] = {
		&server_spec, &relay_spec, &portal_spec,
	};
	size_t i;
	int scdoc = argc > 1 && strcmp(argv[1], "--scdoc") == 0;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		if (scdoc) {
			printf("## %s KEYS\n\n*netport %s -c %s*\n\n",
			    specs[i]->role, specs[i]->role,
			    specs[i]->default_config);
			conf_write_scdoc(specs[i]->schema, stdout);
			continue;
		}
		printf("## %s\n\n`netport %s -c %s`\n\n", specs[i]->role,
		    specs[i]->role, specs[i]->default_config);
		conf_write_markdown(specs[i]->schema, stdout);
		printf("\n");
	}
	return 0;
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		return main_help(argc, argv);
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
		return main_version(argc, argv);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "netport: unknown command '%s'\n\n", argv[1]);
	main_usage(stderr);
	return 2;
}
