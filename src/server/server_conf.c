/* SPDX-License-Identifier: MIT */
/* The server's configuration schema, generated from SERVER_CONF_KEYS. */
#include <errno.h>
#include <stddef.h>

#include "core/err.h"

#include "server/server_conf.h"

#define SERVER_CONF_ROW(...)	CONF_ROW_(struct server_conf, __VA_ARGS__)

static const struct conf_key server_conf_keys[] = {
	SERVER_CONF_KEYS(SERVER_CONF_ROW)
};

/*
 * What the key types cannot say: a session is declared dead only after
 * several keepalives were missed.
 */
static int
server_conf_check(const struct conf_check *c)
{
	const struct server_conf *conf = c->conf;
	int r, worst;

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
