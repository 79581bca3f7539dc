/* SPDX-License-Identifier: MIT */
/*
 * What the three daemons (portal, server, relay) share on the command line:
 * -c FILE, -n (check the configuration and exit), --log-level,
 * --log-format and -h, and loading their config with every error printed.
 */
#ifndef NETPORT_CORE_DAEMON_H
#define NETPORT_CORE_DAEMON_H

#include "core/conf.h"
#include "core/log.h"

struct daemon_opts {
	const char	*config;	/* borrowed from argv */
	int		 check_only;	/* -n */
	int		 log_level;	/* -1: from the config */
	int		 log_format;	/* -1: from the config */
};

struct daemon_spec {
	const char		*role;		/* "server" */
	const char		*summary;	/* one line for --help */
	const char		*default_config;/* "/etc/netport/server.yaml" */
	const struct conf_schema *schema;
};

/*
 * Exit status of a portal or relay that gave up because the server refused
 * its certificate (reconnect.refused: exit); 1 and 2 are taken by start-up
 * and usage errors.  docs/OPERATIONS.md lists them all.
 */
#define DAEMON_EXIT_REFUSED	3

/* What daemon_parse_args() tells its caller to do. */
enum daemon_parse_result {
	DAEMON_RUN,
	DAEMON_EXIT_OK,		/* --help was printed */
	DAEMON_EXIT_USAGE,	/* a usage error was printed */
};

enum daemon_parse_result daemon_parse_args(const struct daemon_spec *spec,
	    int argc, char **argv, struct daemon_opts *out);

/*
 * Loads the config named by opts into conf (spec->schema->size bytes),
 * prints every error to stderr, applies the log settings (command line over
 * file).  The role prints "configuration OK" for -n once its own checks
 * (policy, cross-key rules) have passed too.  Returns 0 or NP_ECONFIG
 * (or -errno when the file cannot be read).
 */
int	daemon_load_config(const struct daemon_spec *spec,
	    const struct daemon_opts *opts, void *conf)
	    __attribute__((warn_unused_result));

/*
 * The common start of every daemon's main: sets the log role, parses the
 * command line and loads the configuration.  Returns -1 when the daemon
 * should go on, or the exit status to return now (0 after --help, 2 for a
 * usage error, 1 for a configuration error, already reported).
 */
int	daemon_begin(const struct daemon_spec *spec, int argc, char **argv,
	    struct daemon_opts *opts, void *conf);

/* Prints the --help text of a daemon, with its config keys. */
void	daemon_usage(const struct daemon_spec *spec, FILE *fp);

/*
 * Tells the service manager (systemd, Type=notify; nothing when
 * NOTIFY_SOCKET is unset) that the daemon is up, with a status line, or
 * that it is stopping.
 */
void	daemon_notify_ready(const char *status);
void	daemon_notify_stopping(void);

/*
 * After its sockets are bound: runs on as `user` (its group and
 * supplementary groups too) when one is configured and the process is
 * root, keeping only the capabilities listed (Linux CAP_* numbers; e.g. a
 * capturing portal keeps CAP_NET_ADMIN to change its rules).  Returns 0,
 * or -1 when the drop failed (logged): the daemon must not run on as root.
 */
int	daemon_drop_privileges(const char *user, const int *keep_caps,
	    size_t nkeep);

#endif
