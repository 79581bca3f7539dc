/* SPDX-License-Identifier: MIT */
/*
 * What `netport status` shows of a relay: its session with the server,
 * where portals dial it, how it forwards, and its load.
 */
#include <stdlib.h>

#include <jansson.h>

#include "core/ctl_client.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/relay_hs.h"
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

void
relay_metrics_refused(const char *transport, unsigned status)
{
	metric_inc2(metrics_family(METRIC_COUNTER,
	    "netport_relay_refused_total", "portal handshakes refused, by "
	    "transport and reason (the status answered)", "transport,reason",
	    NULL, 0), transport, relay_status_text(status));
}

void
relay_metrics_paired(const char *transport)
{
	metric_inc1(metrics_family(METRIC_COUNTER,
	    "netport_relay_pairings_total", "tunnels paired, by transport",
	    "transport", NULL, 0), transport);
}

void
relay_metrics_scrape(void *arg)
{
	struct relay *r = arg;
	struct metric_family *f;
	size_t tcp = relay_fwd_count(r), udp;
	uint64_t udp_bytes;

	relay_udp_counts(r, &udp, &udp_bytes);
	f = metrics_family(METRIC_GAUGE, "netport_relay_tunnels",
	    "tunnels being forwarded, by transport", "transport", NULL, 0);
	metric_set(f, (const char *[]){ "tcp" }, (double)tcp);
	metric_set(f, (const char *[]){ "udp" }, (double)udp);
	metric_set(metrics_family(METRIC_GAUGE, "netport_relay_waiting",
	    "portal connections waiting for the other half of their tunnel",
	    NULL, NULL, 0), NULL, (double)r->npending);
	/* Counted where the bytes move; a counter set from the total. */
	f = metrics_family(METRIC_COUNTER, "netport_relay_forwarded_bytes_total",
	    "bytes forwarded between paired portals (spliced or redirected in "
	    "the kernel over tcp, datagrams over udp)", "transport", NULL, 0);
	metric_set(f, (const char *[]){ "tcp" }, (double)r->bytes);
	metric_set(f, (const char *[]){ "udp" }, (double)udp_bytes);
	metric_set(metrics_family(METRIC_GAUGE, "netport_relay_capacity",
	    "tunnels this relay takes (capacity)", NULL, NULL, 0), NULL,
	    (double)r->conf->capacity);
}
