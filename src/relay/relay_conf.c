/* SPDX-License-Identifier: MIT */
/* The relay's configuration schema, generated from RELAY_CONF_KEYS. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/err.h"
#include "relay/relay_conf.h"

#define RELAY_CONF_ROW(...)	CONF_ROW_(struct relay_conf, __VA_ARGS__)

static const struct conf_key relay_conf_keys[] = {
	RELAY_CONF_KEYS(RELAY_CONF_ROW)
};

static int
relay_conf_is_wildcard(const char *host)
{
	return host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "::") == 0 || strcmp(host, "*") == 0;
}

/*
 * What the key types cannot say: every advertise entry is a host:port that
 * portals can dial, and without one the listen address is what they dial,
 * which only works when it names one address.
 */
static int
relay_conf_check(const struct conf_check *c)
{
	const struct relay_conf *conf = c->conf;
	const struct conf_strlist *adv = &conf->advertise;
	struct conf_endpoint ep;
	unsigned long line;
	char why[160];
	size_t i;
	int worst;

	if ((worst = conf_common_check(c)) == -ENOMEM)
		return worst;
	if (!conf_check_usable(c, "advertise"))
		return worst;
	for (i = 0; i < adv->n; i++) {
		if (conf_endpoint_parse(adv->v[i], 1, 65535, &ep, why,
		    sizeof(why)) == 0)
			continue;
		if (conf_errorf(c->errs, c->name, adv->lines ? adv->lines[i] :
		    1, "advertise[%zu]: %s; expected host:port with port "
		    "1..65535", i, why) != 0)
			return -ENOMEM;
		worst = NP_ECONFIG;
	}
	if (adv->n == 0 && conf_check_usable(c, "listen") &&
	    relay_conf_is_wildcard(conf->listen.host)) {
		line = conf_check_line(c, "listen");
		if (conf_errorf(c->errs, c->name, line ? line : 1,
		    "advertise: missing while listen is the wildcard address "
		    "%s; expected the public host:port that portals dial",
		    conf->listen.host) != 0)
			return -ENOMEM;
		worst = NP_ECONFIG;
	}
	return worst;
}

const struct conf_schema relay_conf_schema = {
	.role = "relay",
	.keys = relay_conf_keys,
	.nkeys = sizeof(relay_conf_keys) / sizeof(relay_conf_keys[0]),
	.size = sizeof(struct relay_conf),
	.lines_offset = offsetof(struct relay_conf, conf_lines),
	.check = relay_conf_check,
};
