/* SPDX-License-Identifier: MIT */
/* The server's configuration schema, generated from SERVER_CONF_KEYS. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/err.h"

#include "server/server_conf.h"

#define SERVER_CONF_ROW(...)	CONF_ROW_(struct server_conf, __VA_ARGS__)

static const struct conf_key server_conf_keys[] = {
	SERVER_CONF_KEYS(SERVER_CONF_ROW)
};

/* Zero fields: the policy loader's defaults, which are the keys' too. */
static struct policy_limits server_policy_limits;

const struct policy_limits *
server_conf_policy_limits(void)
{
	return &server_policy_limits;
}

/* Keeps the policy limits of a load for server_conf_policy_limits(). */
static void
server_conf_keep_limits(const struct conf_check *c)
{
	const struct server_conf *conf = c->conf;
	struct policy_limits *lim = &server_policy_limits;

	memset(lim, 0, sizeof(*lim));
	if (conf_check_usable(c, POLICY_KEY_MAX_RULES))
		lim->max_rules = (size_t)conf->policy_limits_max_rules;
	if (conf_check_usable(c, POLICY_KEY_MAX_MEMBERS))
		lim->max_members =
		    (size_t)conf->policy_limits_max_group_members;
	if (conf_check_usable(c, POLICY_KEY_MAX_NODES))
		lim->max_nodes = (size_t)conf->policy_limits_max_yaml_nodes;
	if (conf_check_usable(c, POLICY_KEY_MAX_FILE))
		lim->max_file = (size_t)conf->policy_limits_max_file_size;
	if (conf_check_usable(c, POLICY_KEY_MAX_GROUPS))
		lim->max_groups = (size_t)conf->policy_limits_max_groups;
	if (conf_check_usable(c, POLICY_KEY_MAX_BINDINGS))
		lim->max_bindings = (size_t)conf->policy_limits_max_bindings;
}

/*
 * What the key types cannot say: a session is declared dead only after
 * several keepalives were missed.  Also keeps the policy limits.
 */
static int
server_conf_check(const struct conf_check *c)
{
	const struct server_conf *conf = c->conf;
	int r, worst;

	server_conf_keep_limits(c);
	if ((worst = conf_common_check(c)) == -ENOMEM)
		return worst;
	if (conf_check_usable(c, "dead_timeout") &&
	    conf_check_usable(c, "keepalive") &&
	    conf->dead_timeout <= conf->keepalive) {
		r = conf_check_fail(c, "dead_timeout", "%lld ms is not longer "
		    "than keepalive (%lld ms); expected at least twice "
		    "keepalive", conf->dead_timeout, conf->keepalive);
		if (r == -ENOMEM)
			return r;
		worst = NP_ECONFIG;
	}
	return worst;
}

const struct conf_schema server_conf_schema = {
	.role = "server",
	.keys = server_conf_keys,
	.nkeys = sizeof(server_conf_keys) / sizeof(server_conf_keys[0]),
	.size = sizeof(struct server_conf),
	.lines_offset = offsetof(struct server_conf, conf_lines),
	.check = server_conf_check,
};
