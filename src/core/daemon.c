/* SPDX-License-Identifier: MIT */
/* Shared command line and config loading of the daemons; see daemon.h. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sys/capability.h>
#include <systemd/sd-daemon.h>

#include "core/daemon.h"
#include "core/err.h"

enum {
	OPT_LOG_LEVEL = 256,
	OPT_LOG_FORMAT,
};

static const struct option daemon_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "check", no_argument, NULL, 'n' },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void
daemon_usage(const struct daemon_spec *spec, FILE *fp)
{
	fprintf(fp,
	    "usage: netport %s [-n] [-c FILE] [--log-level LEVEL] "
	    "[--log-format text|json]\n"
	    "\n%s\n\n"
	    "options:\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "  -n, --check           check the configuration, print "
	    "\"configuration OK\"\n"
	    "                        or every error, and exit 0 or 1\n"
	    "      --log-level L     debug, info, warn or error "
	    "(overrides log.level)\n"
	    "      --log-format F    text or json (overrides log.format)\n"
	    "  -h, --help            show this help\n"
	    "\nconfiguration keys (docs/CONFIG.md has the details):\n",
	    spec->role, spec->summary, spec->default_config);
	for (size_t i = 0; i < spec->schema->nkeys; i++) {
		const struct conf_key *k = &spec->schema->keys[i];

		fprintf(fp, "  %-22s %s%s\n", k->name, k->help,
		    k->def == NULL ? " (required)" : "");
	}
}

enum daemon_parse_result
daemon_parse_args(const struct daemon_spec *spec, int argc, char **argv,
    struct daemon_opts *out)
{
	enum log_level level;
	enum log_format format;
	int c;

	memset(out, 0, sizeof(*out));
	out->config = spec->default_config;
	out->log_level = -1;
	out->log_format = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:nh", daemon_options,
	    NULL)) != -1) {
		switch (c) {
		case 'c':
			out->config = optarg;
			break;
		case 'n':
			out->check_only = 1;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &level) != 0) {
				fprintf(stderr, "netport %s: --log-level: "
				    "unknown level '%s'; expected debug, info, "
				    "warn or error\n", spec->role, optarg);
				return DAEMON_EXIT_USAGE;
			}
			out->log_level = (int)level;
			break;
		case OPT_LOG_FORMAT:
			if (log_format_parse(optarg, &format) != 0) {
				fprintf(stderr, "netport %s: --log-format: "
				    "unknown format '%s'; expected text or "
				    "json\n", spec->role, optarg);
				return DAEMON_EXIT_USAGE;
			}
			out->log_format = (int)format;
			break;
		case 'h':
			daemon_usage(spec, stdout);
			return DAEMON_EXIT_OK;
		default:
			fprintf(stderr, "try 'netport %s --help'\n", spec->role);
			return DAEMON_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netport %s: unexpected argument '%s'; try "
		    "'netport %s --help'\n", spec->role, argv[optind],
		    spec->role);
		return DAEMON_EXIT_USAGE;
	}
	return DAEMON_RUN;
}

/*
 * The common keys sit at the same place in every role's struct (the lists
 * start with CONF_COMMON_KEYS), but the offsets are read from the schema so
 * that nothing here depends on that.
 */
static int
daemon_conf_enum(const struct conf_schema *schema, const void *conf,
    const char *name)
{
	for (size_t i = 0; i < schema->nkeys; i++)
		if (strcmp(schema->keys[i].name, name) == 0)
			return *(const int *)(const void *)
			    ((const char *)conf + schema->keys[i].offset);
	return -1;
}

int
daemon_load_config(const struct daemon_spec *spec,
    const struct daemon_opts *opts, void *conf)
{
	struct conf_errors errs = { 0, NULL };
	int level, format;
	int r;

	r = conf_load_file(spec->schema, opts->config, conf, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	conf_errors_free(&errs);
	if (r != 0)
		return r;

	level = opts->log_level >= 0 ? opts->log_level :
	    daemon_conf_enum(spec->schema, conf, "log.level");
	format = opts->log_format >= 0 ? opts->log_format :
	    daemon_conf_enum(spec->schema, conf, "log.format");
	if (level >= 0)
		log_set_level((enum log_level)level);
	if (format >= 0)
		log_set_format((enum log_format)format);
	return 0;
}

/*
 * A daemon's descriptors are its connections: the soft open-file limit
 * (often 1,024) goes up to the hard one, which the administrator set.
 */
static void
daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn(NULL, "cannot raise the open-file limit to %llu: %s",
		    (unsigned long long)rl.rlim_max, strerror(errno));
}

int
daemon_begin(const struct daemon_spec *spec, int argc, char **argv,
    struct daemon_opts *opts, void *conf)
{
	log_set_role(spec->role);
	switch (daemon_parse_args(spec, argc, argv, opts)) {
	case DAEMON_EXIT_OK:
		return 0;
	case DAEMON_EXIT_USAGE:
		return 2;
	case DAEMON_RUN:
		break;
	}
	if (daemon_load_config(spec, opts, conf) != 0)
		return 1;
	if (!opts->check_only)
		daemon_raise_nofile();
	return -1;
}

void
daemon_notify_ready(const char *status)
{
	(void)sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void
daemon_notify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1");
}

/* Keeps exactly the capabilities listed, permitted and effective. */
static int
daemon_keep_caps(const int *keep, size_t n)
{
	cap_t caps = cap_init();
	int r = -1;

	if (caps == NULL)
		return -1;
	if (n == 0 || (cap_set_flag(caps, CAP_PERMITTED, (int)n,
	    (const cap_value_t *)keep, CAP_SET) == 0 &&
	    cap_set_flag(caps, CAP_EFFECTIVE, (int)n,
	    (const cap_value_t *)keep, CAP_SET) == 0))
		r = cap_set_proc(caps);
	cap_free(caps);
	return r;
}

int
daemon_drop_privileges(const char *user, const int *keep_caps, size_t nkeep)
{
	struct passwd *pw;

	if (user == NULL || user[0] == '\0')
		return 0;
	if (geteuid() != 0) {
		log_info(NULL, "user %s: not root; running on as uid %u", user,
		    (unsigned)geteuid());
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_error(NULL, "user %s: %s", user, errno ? strerror(errno) :
		    "no such user");
		return -1;
	}
	/* Capabilities survive setuid only with KEEPCAPS; then all but the
	 * listed ones go. */
	if ((nkeep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) ||
	    initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
	    (nkeep && (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0 ||
	    daemon_keep_caps(keep_caps, nkeep) != 0))) {
		log_error(NULL, "cannot run as user %s: %s", user,
		    strerror(errno));
		return -1;
	}
	/* Never back: setuid(0) must fail now. */
	if (setuid(0) == 0) {
		log_error(NULL, "user %s: could become root again", user);
		return -1;
	}
	log_info(NULL, "running as user %s (uid %u, gid %u)%s", user,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_gid, nkeep ?
	    ", keeping the capabilities capture needs" : "");
	return 0;
}
