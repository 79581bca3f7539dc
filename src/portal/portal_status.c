/* SPDX-License-Identifier: MIT */
/*
 * What `netport status` shows of a portal: its session with the server,
 * and every tunnel with its peer, rule, streams, path, round trip, bytes
 * and age, and why it is not direct.  Reads the tunnels' state; changes
 * nothing.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/ctl_client.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "portal/portal_tunnel_impl.h"

static const char *const portal_status_states[] = {
	[TUN_REQUESTING] = "requesting",
	[TUN_CONNECTING] = "connecting",
	[TUN_OPEN] = "open",
	[TUN_RESUMING] = "resuming",
	[TUN_CLOSED] = "closed",
};

static json_t *
portal_status_path(const struct tunnel *t)
{
	const struct path *path = t->path;

	if (path == NULL)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:s}", "kind", path->kind,
	    "via", path->via, "address", path->addr, "phase",
	    path_phase(path));
}

/*
 * Whether the tunnel is direct, and if not, why: no peer we know of tells
 * why a connection is relayed; this does, attempt by attempt.
 */
static json_t *
portal_status_direct(const struct tunnel *t, uint64_t now)
{
	json_t *d, *tries;
	const char *why;
	size_t i;

	if (t->path != NULL && strcmp(t->path->kind, "direct") == 0)
		return json_pack("{s:b, s:s, s:s}", "active", 1, "how",
		    t->path->via, "address", t->path->addr);
	if (t->p->conf->direct_mode == PORTAL_DIRECT_OFF)
		why = "direct.mode is off on this portal";
	else if (t->direct_off)
		why = "the policy keeps tunnels between these portals on "
		    "relays (a rule between them says direct: off)";
	else if (t->ntries == 0)
		why = "the peer gave no address to dial, and did not dial "
		    "this portal (its direct.mode may be off, or it has no "
		    "listener)";
	else if (t->ncand > 0)
		why = "direct paths are being tried";
	else
		why = "no direct attempt succeeded";
	d = json_pack("{s:b, s:s}", "active", 0, "why", why);
	tries = json_array();
	if (d == NULL || tries == NULL) {
		json_decref(tries);
		return d;
	}
	for (i = 0; i < t->ntries; i++)
		json_array_append_new(tries, json_pack("{s:s, s:s, s:s}",
		    "address", t->tries[i].addr, "how", t->tries[i].how,
		    "result", t->tries[i].result));
	json_object_set_new(d, "tries", tries);
	if (t->direct_retry_ms > now)
		json_object_set_new(d, "retry_in_ms",
		    json_integer((json_int_t)(t->direct_retry_ms - now)));
	return d;
}

static json_t *
portal_status_tunnel(const struct tunnel *t, uint64_t now)
{
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I}",
	    "id", t->tid, "peer", t->peer,
	    "side", t->initiator ? "client" : "service",
	    "rule", t->rule, "state", portal_status_states[t->state],
	    "path", portal_status_path(t),
	    "streams", (json_int_t)t->nstreams,
	    "waiting", (json_int_t)t->nwaiting,
	    "rtt_ms", (json_int_t)t->rtt_ms,
	    "bytes_out", (json_int_t)(t->tx_acked + t->out_sent),
	    "bytes_in", (json_int_t)t->rx_seq,
	    "age_ms", (json_int_t)(now - t->created_ms),
	    "new_paths", (json_int_t)t->resumes);
	if (o == NULL)
		return NULL;
	if (t->state == TUN_RESUMING)
		json_object_set_new(o, "lost", json_pack("{s:s, s:I}", "why",
		    t->lost_why, "ms_ago", (json_int_t)(now -
		    t->path_lost_ms)));
	json_object_set_new(o, "direct", portal_status_direct(t, now));
	return o;
}

char *
portal_status_json(void *arg)
{
	struct portal *p = arg;
	const struct tunnel *t;
	uint64_t now = loop_now_ms();
	json_t *root, *tunnels;
	char server[PROTO_ADDR_MAX + 8], *text;

	snprintf(server, sizeof(server), "%s:%u", p->conf->server.host,
	    p->conf->server.port);
	tunnels = json_array();
	root = json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:s}, s:I, s:b}",
	    "role", "portal", "name", p->self.name, "version", NETPORT_VERSION,
	    "uptime_ms", (json_int_t)(now - p->started_ms),
	    "server", "address", server, "session",
	    ctl_client_is_up(p->ctl) ? "up" : "down",
	    "rules", (json_int_t)p->nrules, "stopping", p->stopping);
	if (root == NULL || tunnels == NULL) {
		json_decref(root);
		json_decref(tunnels);
		return NULL;
	}
	json_object_set_new(root, "direct", json_pack("{s:s, s:i, s:o, s:o, "
	    "s:o}", "mode", p->conf->direct_mode == PORTAL_DIRECT_OFF ? "off" :
	    "auto", "port", (int)portal_direct_port(p),
	    "portmap", portal_portmap_status(p),
	    "udp", portal_stun_status(p), "quic", portal_quic_status(p)));
	json_object_set_new(root, "capture", portal_capture_status(p));
	TAILQ_FOREACH(t, &p->tunnels, entry)
		json_array_append_new(tunnels, portal_status_tunnel(t, now));
	json_object_set_new(root, "tunnels", tunnels);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

/* A path's label: relay or direct, over tcp or quic; none without. */
static void
portal_metrics_path(const struct tunnel *t, const char **kind,
    const char **transport)
{
	*kind = t->path ? t->path->kind : "none";
	*transport = t->path == NULL ? "none" : t->path->quic ? "quic" : "tcp";
}

void
portal_metrics_opened(const char *kind)
{
	metric_inc1(metrics_family(METRIC_COUNTER,
	    "netport_portal_opened_total", "streams (TCP connections) and "
	    "flows (UDP) opened through tunnels, either side", "kind", NULL,
	    0), kind);
}

void
portal_metrics_rtt(const struct tunnel *t)
{
	const char *kind, *transport;

	portal_metrics_path(t, &kind, &transport);
	metric_observe(metrics_family(METRIC_HISTOGRAM,
	    "netport_portal_tunnel_rtt_seconds", "round trips of tunnel "
	    "keepalives, by the path they crossed", "path,transport",
	    metrics_rtt_buckets, metrics_rtt_nbuckets),
	    (const char *[]){ kind, transport }, t->rtt_ms / 1000.0);
}

void
portal_metrics_scrape(void *arg)
{
	struct portal *p = arg;
	const struct tunnel *t;
	struct metric_family *tunnels, *open, *bytes;
	const char *kind, *transport;
	double in = (double)p->closed_bytes_in, out =
	    (double)p->closed_bytes_out, streams = 0, flows = 0;

	tunnels = metrics_family(METRIC_GAUGE, "netport_portal_tunnels",
	    "tunnels by state and by the kind and transport of their path",
	    "state,path,transport", NULL, 0);
	metric_zero(tunnels);
	TAILQ_FOREACH(t, &p->tunnels, entry) {
		portal_metrics_path(t, &kind, &transport);
		metric_add(tunnels, (const char *[]){
		    portal_status_states[t->state], kind, transport }, 1);
		streams += (double)(t->nstreams - t->nflows);
		flows += (double)t->nflows;
		in += (double)t->rx_seq;
		out += (double)(t->tx_acked + t->out_sent);
	}
	open = metrics_family(METRIC_GAUGE, "netport_portal_open",
	    "streams and flows open now", "kind", NULL, 0);
	metric_set(open, (const char *[]){ "stream" }, streams);
	metric_set(open, (const char *[]){ "flow" }, flows);
	bytes = metrics_family(METRIC_COUNTER, "netport_portal_tunnel_bytes_total",
	    "bytes of tunnel frames sent (out) and received (in), all tunnels "
	    "since start", "direction", NULL, 0);
	metric_set(bytes, (const char *[]){ "out" }, out);
	metric_set(bytes, (const char *[]){ "in" }, in);
	metric_set(metrics_family(METRIC_GAUGE, "netport_portal_session_up",
	    "1 while the control session with the server is up", NULL, NULL,
	    0), NULL, ctl_client_is_up(p->ctl) ? 1 : 0);
	metric_set(metrics_family(METRIC_GAUGE, "netport_portal_rules",
	    "rules of the rule set in force (one per side and protocol)",
	    NULL, NULL, 0), NULL, (double)p->nrules);
}
