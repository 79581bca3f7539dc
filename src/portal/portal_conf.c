/* SPDX-License-Identifier: MIT */
/* The portal's configuration schema, generated from PORTAL_CONF_KEYS. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>

#include "core/allowlist.h"
#include "core/err.h"
#include "portal/portal_conf.h"

#define PORTAL_CONF_ROW(...)	CONF_ROW_(struct portal_conf, __VA_ARGS__)

static const struct conf_key portal_conf_keys[] = {
	PORTAL_CONF_KEYS(PORTAL_CONF_ROW)
};

/*
 * What the key types cannot say: every allow entry is a target pattern,
 * and a tunnel is declared dead only after several keepalives were missed.
 */
static int
portal_conf_check(const struct conf_check *c)
{
	const struct portal_conf *conf = c->conf;
	struct allowlist allow;
	int r, worst;

	if ((worst = conf_common_check(c)) == -ENOMEM)
		return worst;
	if (conf_check_usable(c, "allow")) {
		r = allowlist_parse(&conf->allow, c->name, &allow, c->errs);
		allowlist_free(&allow);
		if (r == -ENOMEM)
			return r;
		if (r != 0)
			worst = NP_ECONFIG;
	}
	if (conf_check_usable(c, "tunnel.dead_timeout") &&
	    conf_check_usable(c, "tunnel.keepalive") &&
	    conf->tunnel_dead_timeout <= conf->tunnel_keepalive) {
		r = conf_check_fail(c, "tunnel.dead_timeout", "%lld ms is not "
		    "longer than tunnel.keepalive (%lld ms); expected at least "
		    "twice the keepalive", conf->tunnel_dead_timeout,
		    conf->tunnel_keepalive);
		if (r == -ENOMEM)
			return r;
		worst = NP_ECONFIG;
	}
	/* Set by hand, a short timeout beyond the long one is a mistake. */
	if (conf_check_usable(c, "udp.flow_idle_new") &&
	    conf_check_usable(c, "udp.flow_idle") &&
	    conf_check_line(c, "udp.flow_idle_new") != 0 &&
	    conf->udp_flow_idle_new > conf->udp_flow_idle) {
		r = conf_check_fail(c, "udp.flow_idle_new", "%lld ms is longer "
		    "than udp.flow_idle (%lld ms); expected at most "
		    "udp.flow_idle", conf->udp_flow_idle_new,
		    conf->udp_flow_idle);
		if (r == -ENOMEM)
			return r;
		worst = NP_ECONFIG;
	}
	/* Announced addresses are addresses: a name could not be dialled
	 * the same way from everywhere. */
	if (conf_check_usable(c, "direct.addresses")) {
		struct in6_addr a6;
		struct in_addr a4;
		size_t i;

		for (i = 0; i < conf->direct_addresses.n; i++) {
			const char *a = conf->direct_addresses.v[i];

			if (inet_pton(AF_INET, a, &a4) == 1 ||
			    inet_pton(AF_INET6, a, &a6) == 1)
				continue;
			r = conf_errorf(c->errs, c->name,
			    conf->direct_addresses.lines[i], "direct.addresses[%zu]: "
			    "'%s' is not an IP address; expected an IPv4 or "
			    "IPv6 address of this host", i, a);
			if (r == -ENOMEM)
				return r;
			worst = NP_ECONFIG;
		}
	}
	return worst;
}

const struct conf_schema portal_conf_schema = {
	.role = "portal",
	.keys = portal_conf_keys,
	.nkeys = sizeof(portal_conf_keys) / sizeof(portal_conf_keys[0]),
	.size = sizeof(struct portal_conf),
	.lines_offset = offsetof(struct portal_conf, conf_lines),
	.check = portal_conf_check,
};
