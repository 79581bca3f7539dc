/* SPDX-License-Identifier: MIT */
/* The relay's configuration schema, generated from RELAY_CONF_KEYS. */
#include <stddef.h>

#include "relay/relay_conf.h"

#define RELAY_CONF_ROW(...)	CONF_ROW_(struct relay_conf, __VA_ARGS__)

static const struct conf_key relay_conf_keys[] = {
	RELAY_CONF_KEYS(RELAY_CONF_ROW)
};

const struct conf_schema relay_conf_schema = {
	.role = "relay",
	.keys = relay_conf_keys,
	.nkeys = sizeof(relay_conf_keys) / sizeof(relay_conf_keys[0]),
	.size = sizeof(struct relay_conf),
	.lines_offset = offsetof(struct relay_conf, conf_lines),
};
