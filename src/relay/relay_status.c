/* SPDX-License-Identifier: MIT */
/*
 * What `netport status` shows of a relay: its session with the server,
 * where portals dial it, how it forwards, and its load.
 */
#include <stdlib.h>

#include <jansson.h>

#include "core/ctl_client.h"
#include "core/loop.h"
#include "relay/relay_impl.h"

char *
relay_status_json(void *arg)
{
	struct relay *r = arg;
	json_t *root, *dial = json_array();
	char server[PROTO_ADDR_MAX + 8], *text;
	size_t i;

	snprintf(server, sizeof(server), "%s:%u", r->conf->server.host,
	    r->conf->server.port);
	for (i = 0; dial != NULL && i < r->nadvertise; i++)
		json_array_append_new(dial, json_string(r->advertise[i]));
	root = json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:s, s:b}, s:o, s:s, "
	    "s:I, s:I, s:I, s:I, s:b}",
	    "role", "relay", "name", r->self.name, "version", NETPORT_VERSION,
	    "uptime_ms", (json_int_t)(loop_now_ms() - r->started_ms),
	    "server", "address", server, "session",
	    ctl_client_is_up(r->ctl) ? "up" : "down", "registered",
	    r->have_key,
	    "dial", dial ? dial : json_null(),
	    "forwarding", r->sockmap ? "sockmap" : "splice",
	    "tunnels", (json_int_t)r->tunnels,
	    "pending", (json_int_t)r->npending,
	    "capacity", (json_int_t)r->conf->capacity,
	    "bytes", (json_int_t)r->bytes, "stopping", r->stopping);
	if (root == NULL)
		return NULL;
	json_object_set_new(root, "udp", relay_udp_status(r));
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}
