/* SPDX-License-Identifier: MIT */
/*
 * What `netport status` shows of a server: the portals and relays with a
 * session, each relay's load, the handshakes under way, the policy.
 */
#include <stdlib.h>

#include <jansson.h>

#include "core/ctl_conn.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "server/server_impl.h"

static json_t *
server_status_relay(const struct server_peer *r)
{
	json_t *dial = json_array();
	size_t i;

	for (i = 0; dial != NULL && i < r->nadvertise; i++)
		json_array_append_new(dial, json_string(r->advertise[i]));
	return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I}",
	    "name", ctl_conn_peer(r->conn)->name,
	    "from", ctl_conn_remote(r->conn), "dial", dial ? dial : json_null(),
	    "tunnels", (json_int_t)r->tunnels,
	    "capacity", (json_int_t)r->capacity,
	    "bytes", (json_int_t)r->bytes);
}

char *
server_status_json(void *arg)
{
	struct server *srv = arg;
	const struct server_peer *p;
	json_t *root, *portals, *relays;
	size_t handshaking = 0;
	char *text;

	portals = json_array();
	relays = json_array();
	TAILQ_FOREACH(p, &srv->handshaking, entry)
		handshaking++;
	root = json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:I, s:I}, s:I, s:b}",
	    "role", "server", "name", srv->self.name,
	    "version", NETPORT_VERSION,
	    "uptime_ms", (json_int_t)(loop_now_ms() - srv->started_ms),
	    "policy", "file", srv->conf->policy,
	    "rules", (json_int_t)srv->policy->nrules,
	    "generation", (json_int_t)srv->generation,
	    "handshaking", (json_int_t)handshaking, "stopping", srv->stopping);
	if (root == NULL || portals == NULL || relays == NULL) {
		json_decref(root);
		json_decref(portals);
		json_decref(relays);
		return NULL;
	}
	TAILQ_FOREACH(p, &srv->portals, entry)
		if (p->conn != NULL)
			json_array_append_new(portals, json_pack("{s:s, s:s}",
			    "name", ctl_conn_peer(p->conn)->name, "from",
			    ctl_conn_remote(p->conn)));
	TAILQ_FOREACH(p, &srv->relays, entry)
		if (p->conn != NULL)
			json_array_append_new(relays, server_status_relay(p));
	json_object_set_new(root, "portals", portals);
	json_object_set_new(root, "relays", relays);
	if (srv->stun != NULL) {
		struct stun_server_stats st;

		stun_server_stats(srv->stun, &st);
		json_object_set_new(root, "stun", json_pack("{s:i, s:I, s:I, "
		    "s:I}", "port", (int)stun_server_port(srv->stun),
		    "answered", (json_int_t)st.answered,
		    "dropped", (json_int_t)st.dropped,
		    "limited", (json_int_t)st.limited));
	}
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

void
server_metrics_decision(const char *rule, const char *decision)
{
	metric_inc2(metrics_family(METRIC_COUNTER,
	    "netport_server_tunnel_decisions_total", "tunnel requests by "
	    "rule and outcome (granted, or the error code of a denial)",
	    "rule,decision", NULL, 0), rule, decision);
}

void
server_metrics_scrape(void *arg)
{
	struct server *srv = arg;
	const struct server_peer *p;
	struct metric_family *f;
	double portals = 0, relays = 0, handshaking = 0, tunnels = 0, cap = 0;
	double bytes = 0;

	TAILQ_FOREACH(p, &srv->handshaking, entry)
		handshaking++;
	TAILQ_FOREACH(p, &srv->portals, entry)
		if (p->conn != NULL)
			portals++;
	TAILQ_FOREACH(p, &srv->relays, entry) {
		relays++;
		tunnels += (double)p->tunnels;
		cap += (double)p->capacity;
		bytes += (double)p->bytes;
	}
	f = metrics_family(METRIC_GAUGE, "netport_server_sessions",
	    "control sessions by kind: portals and relays registered, "
	    "connections still in their handshake", "kind", NULL, 0);
	metric_set(f, (const char *[]){ "portal" }, portals);
	metric_set(f, (const char *[]){ "relay" }, relays);
	metric_set(f, (const char *[]){ "handshake" }, handshaking);
	metric_set(metrics_family(METRIC_GAUGE, "netport_server_rules",
	    "rules in the policy in force", NULL, NULL, 0), NULL,
	    (double)srv->policy->nrules);
	metric_set(metrics_family(METRIC_GAUGE,
	    "netport_server_policy_generation", "policy loads since start",
	    NULL, NULL, 0), NULL, (double)srv->generation);
	metric_set(metrics_family(METRIC_GAUGE, "netport_server_relay_tunnels",
	    "tunnels the relays carry, by their last load reports", NULL,
	    NULL, 0), NULL, tunnels);
	metric_set(metrics_family(METRIC_GAUGE,
	    "netport_server_relay_capacity", "tunnels the relays take in all",
	    NULL, NULL, 0), NULL, cap);
	metric_set(metrics_family(METRIC_GAUGE, "netport_server_relay_bytes",
	    "bytes the relays report having forwarded", NULL, NULL, 0), NULL,
	    bytes);
}
