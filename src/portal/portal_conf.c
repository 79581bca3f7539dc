/* SPDX-License-Identifier: MIT */
/* The portal's configuration schema, generated from PORTAL_CONF_KEYS. */
#include <stddef.h>

#include "portal/portal_conf.h"

#define PORTAL_CONF_ROW(...)	CONF_ROW_(struct portal_conf, __VA_ARGS__)

static const struct conf_key portal_conf_keys[] = {
	PORTAL_CONF_KEYS(PORTAL_CONF_ROW)
};

const struct conf_schema portal_conf_schema = {
	.role = "portal",
	.keys = portal_conf_keys,
	.nkeys = sizeof(portal_conf_keys) / sizeof(portal_conf_keys[0]),
	.size = sizeof(struct portal_conf),
	.lines_offset = offsetof(struct portal_conf, conf_lines),
};
