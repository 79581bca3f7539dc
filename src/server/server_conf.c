/* SPDX-License-Identifier: MIT */
/* The server's configuration schema, generated from SERVER_CONF_KEYS. */
#include <stddef.h>

#include "server/server_conf.h"

#define SERVER_CONF_ROW(...)	CONF_ROW_(struct server_conf, __VA_ARGS__)

static const struct conf_key server_conf_keys[] = {
	SERVER_CONF_KEYS(SERVER_CONF_ROW)
};

const struct conf_schema server_conf_schema = {
	.role = "server",
	.keys = server_conf_keys,
	.nkeys = sizeof(server_conf_keys) / sizeof(server_conf_keys[0]),
	.size = sizeof(struct server_conf),
	.lines_offset = offsetof(struct server_conf, conf_lines),
};
