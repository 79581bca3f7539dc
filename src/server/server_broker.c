/* SPDX-License-Identifier: MIT */
/*
 * Brokering: a client portal asks for a tunnel under a rule; the server
 * checks the policy, picks the least loaded relay, mints a signed ticket
 * and sends the same grant to both portals.  Every decision is one log line
 * with both identities and the rule.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "core/err.h"
#include "core/log.h"
#include "server/server_impl.h"

static void
server_deny(struct server_peer *p, const struct proto_msg *req,
    enum proto_error code, const char *service, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Answers a request with ERROR and logs the denial. */
static void
server_deny(struct server_peer *p, const struct proto_msg *req,
    enum proto_error code, const char *service, const char *fmt, ...)
{
	struct proto_msg m;
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* A rule the policy does not have is named by the peer: no label. */
	server_metrics_decision(code == PROTO_E_UNKNOWN_RULE ? "" : req->rule,
	    proto_error_name(code));
	log_info(ctl_conn_log(p->conn), "tunnel denied: rule %s, portal/%s "
	    "-> portal/%s: %s", req->rule, ctl_conn_peer(p->conn)->name,
	    service ? service : "?", why);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_ERROR;
	m.id = req->id;
	m.code = (uint16_t)code;
	snprintf(m.message, sizeof(m.message), "%s", why);
	(void)ctl_conn_send(p->conn, &m);
}

/*
 * The relay with the lowest load (tunnels / capacity), or NULL when every
 * relay is full or none is connected.
 */
/* Moves r's window of recent grants up to now; returns their sum. */
static uint32_t
server_relay_inflight(struct server_peer *r, uint64_t now_ms)
{
	uint64_t slot = now_ms / SERVER_INFLIGHT_MS;
	uint32_t sum = 0;
	size_t i;

	for (; r->inflight_slot < slot; r->inflight_slot++) {
		r->inflight[(r->inflight_slot + 1) % SERVER_INFLIGHT_SLOTS] = 0;
		if (slot - r->inflight_slot > SERVER_INFLIGHT_SLOTS)
			r->inflight_slot = slot - SERVER_INFLIGHT_SLOTS;
	}
	for (i = 0; i < SERVER_INFLIGHT_SLOTS; i++)
		sum += r->inflight[i];
	return sum;
}

/*
 * The relay with the lowest load (tunnels and recent grants / capacity),
 * or NULL when every relay is full or none is connected.
 */
static struct server_peer *
server_pick_relay(struct server *srv)
{
	struct server_peer *r, *best = NULL;
	uint64_t load, best_load = 0, now = loop_now_ms();

	TAILQ_FOREACH(r, &srv->relays, entry) {
		load = (uint64_t)r->tunnels + server_relay_inflight(r, now);
		if (load >= r->capacity)
			continue;
		/* a/b < c/d  <=>  a*d < c*b, without floating point. */
		if (best == NULL || load * best->capacity <
		    best_load * r->capacity) {
			best = r;
			best_load = load;
		}
	}
	return best;
}

static int
server_mint_grant(struct server *srv, struct server_peer *relay,
    const char *initiator, const char *acceptor, struct proto_msg *g)
{
	struct ticket t;
	struct timespec now;
	uint64_t now_ms;
	struct buf b;
	int r;

	memset(&t, 0, sizeof(t));
	if (RAND_bytes(t.tunnel_id, sizeof(t.tunnel_id)) != 1)
		return NP_ECRYPTO;
	clock_gettime(CLOCK_REALTIME, &now);
	now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	t.issued = (uint64_t)now.tv_sec;
	/* Rounded up: a ticket lives at least ticket_lifetime. */
	t.expires = (now_ms + (uint64_t)srv->conf->ticket_lifetime + 999) /
	    1000;
	snprintf(t.relay, sizeof(t.relay), "%s",
	    ctl_conn_peer(relay->conn)->name);
	snprintf(t.initiator, sizeof(t.initiator), "%s", initiator);
	snprintf(t.acceptor, sizeof(t.acceptor), "%s", acceptor);
	buf_init(&b, TICKET_MAX_LEN);
	if ((r = ticket_sign(&t, &srv->ticket_key, &b)) != 0)
		goto out;
	memset(g, 0, sizeof(*g));
	g->type = PROTO_TUNNEL_GRANT;
	memcpy(g->tunnel_id, t.tunnel_id, sizeof(g->tunnel_id));
	snprintf(g->relay, sizeof(g->relay), "%s", relay->advertise[0]);
	snprintf(g->relay_name, sizeof(g->relay_name), "%s", t.relay);
	memcpy(g->ticket, buf_data(&b), buf_len(&b));
	g->ticket_len = buf_len(&b);
	g->expires = t.expires;
out:
	buf_release(&b);
	return r;
}

static void
server_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * Each side's grant names where the other may be dialled directly, unless
 * a rule between the two says direct: off (g->direct_off).
 */
static void
server_grant_candidates(struct proto_msg *g, const struct server_peer *peer)
{
	if (g->direct_off) {
		g->candidates_n = 0;
		return;
	}
	memcpy(g->candidates, peer->candidates, sizeof(g->candidates));
	g->candidates_n = peer->ncandidates;
}

void
server_handle_tunnel_request(struct server *srv, struct server_peer *p,
    const struct proto_msg *req)
{
	const char *client = ctl_conn_peer(p->conn)->name;
	const struct policy_rule *rule;
	struct server_peer *service, *relay;
	struct proto_msg g;
	char tid[2 * PROTO_TUNNEL_ID_LEN + 1];
	char resumes[11 + 2 * PROTO_TUNNEL_ID_LEN + 1];
	size_t i;
	int r;

	if ((rule = policy_find(srv->policy, req->rule)) == NULL) {
		server_deny(p, req, PROTO_E_UNKNOWN_RULE, NULL, "no such rule");
		return;
	}
	if (!policy_rule_has_client(rule, client)) {
		server_deny(p, req, PROTO_E_DENIED, rule->service, "portal %s "
		    "is not a client of this rule", client);
		return;
	}
	if (!policy_rule_is_active(rule, (int64_t)time(NULL))) {
		server_deny(p, req, PROTO_E_EXPIRED, rule->service, "the rule "
		    "has expired");
		return;
	}
	if ((service = server_find_portal(srv, rule->service)) == NULL) {
		server_deny(p, req, PROTO_E_PEER_OFFLINE, rule->service,
		    "the service portal is not connected");
		return;
	}
	if ((relay = server_pick_relay(srv)) == NULL) {
		server_deny(p, req, PROTO_E_NO_RELAY, rule->service, "no relay "
		    "with free capacity is connected");
		return;
	}
	if ((r = server_mint_grant(srv, relay, client, rule->service,
	    &g)) != 0) {
		server_deny(p, req, PROTO_E_INTERNAL, rule->service, "cannot "
		    "mint a ticket: %s", np_strerror(r));
		return;
	}
	snprintf(g.rule, sizeof(g.rule), "%s", rule->name);
	g.direct_off = (uint8_t)policy_pair_direct_off(srv->policy, client,
	    rule->service, (int64_t)time(NULL));
	server_hex(g.tunnel_id, sizeof(g.tunnel_id), tid);
	/*
	 * A tunnel that lost its path asks for a new one: the same checks,
	 * a fresh ticket (the relay takes each ticket once), and both grants
	 * name the tunnel it resumes, so that the service portal attaches the
	 * new path to its half of that tunnel.  The server keeps no state
	 * for it: a portal can only name its own tunnels, whose peer is
	 * checked again by the path's TLS handshake.
	 */
	memcpy(g.resume, req->resume, sizeof(g.resume));
	resumes[0] = '\0';
	for (i = 0; i < sizeof(g.resume) && g.resume[i] == 0; i++)
		;
	if (i < sizeof(g.resume)) {
		memcpy(resumes, ", resuming ", 11);
		server_hex(g.resume, sizeof(g.resume), resumes + 11);
	}

	/* The service side first: it must be dialling when the client is. */
	g.id = 0;
	g.side = PROTO_SIDE_SERVICE;
	snprintf(g.peer, sizeof(g.peer), "%s", client);
	server_grant_candidates(&g, p);
	if (ctl_conn_send(service->conn, &g) != 0) {
		server_deny(p, req, PROTO_E_PEER_OFFLINE, rule->service,
		    "the service portal's session failed");
		return;
	}
	g.id = req->id;
	g.side = PROTO_SIDE_CLIENT;
	snprintf(g.peer, sizeof(g.peer), "%s", rule->service);
	server_grant_candidates(&g, service);
	if (ctl_conn_send(p->conn, &g) != 0)
		return;		/* the requester is gone, and logged */
	/* Until its next RELAY_LOAD says better, or the window passes. */
	relay->inflight[relay->inflight_slot % SERVER_INFLIGHT_SLOTS]++;
	server_metrics_decision(rule->name, "granted");
	log_info(ctl_conn_log(p->conn), "tunnel granted: rule %s, portal/%s "
	    "-> portal/%s via relay/%s at %s, tunnel %s%s%s", rule->name,
	    client, rule->service, g.relay_name, g.relay, tid, resumes,
	    g.direct_off ? " (direct: off by policy)" : "");
}

void
server_handle_relay_load(struct server *srv, struct server_peer *p,
    const struct proto_msg *m)
{
	p->tunnels = m->tunnels;
	p->bytes = m->bytes;
	/* The grants it paired are in that count now. */
	memset(p->inflight, 0, sizeof(p->inflight));
	if (m->capacity)
		p->capacity = m->capacity;
	log_debug(ctl_conn_log(p->conn), "load: %u tunnels of %u, %llu bytes",
	    p->tunnels, p->capacity, (unsigned long long)p->bytes);
}
