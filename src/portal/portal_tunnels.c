/* SPDX-License-Identifier: MIT */
/*
 * The portal's set of tunnels: one per peer on the client side, asked of
 * the server when the first connection under a rule arrives; on the
 * service side, made when the server's grant says a peer is coming.  A
 * grant names the path to set up (a relay today), which this file makes
 * and hands to the tunnel.  Rule changes, revocations and shutdown act on
 * the whole set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/candidate.h"
#include "portal/portal_path_quic.h"
#include "core/log.h"
#include "portal/portal_tunnel_impl.h"

/* A live or coming tunnel to peer that can take new streams. */
static struct tunnel *
tunnel_find_usable(struct portal *p, const char *peer)
{
	struct tunnel *t;

	TAILQ_FOREACH(t, &p->tunnels, entry)
		if (t->initiator && !t->goaway && t->state != TUN_CLOSED &&
		    strcmp(t->peer, peer) == 0)
			return t;
	return NULL;
}

struct tunnel *
tunnel_for_rule(struct portal *p, const struct portal_rule *rule, char *why,
    size_t whylen)
{
	struct tunnel *t;

	if ((t = tunnel_find_usable(p, rule->peer)) != NULL)
		return t;
	if ((t = tunnel_new(p, rule->peer, 1)) == NULL ||
	    tunnel_arm_setup(t) != 0) {
		snprintf(why, whylen, "out of memory");
		if (t)
			tunnel_free(t);
		return NULL;
	}
	snprintf(t->rule, sizeof(t->rule), "%s", rule->name);
	t->request_id = portal_ctl_request_tunnel(p, rule->name, NULL);
	if (t->request_id == 0) {
		snprintf(why, whylen, "no session with the server to ask for a "
		    "tunnel");
		tunnel_free(t);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&p->tunnels, t, entry);
	log_debug(&t->log, "asked the server for a tunnel to portal/%s (rule "
	    "%s)", rule->peer, rule->name);
	return t;
}

int
tunnel_add_stream(struct tunnel *t, struct stream *s, size_t *nwaiting)
{
	*nwaiting = t->nwaiting;
	if (t->state == TUN_OPEN) {
		stream_start(s);
		return 0;
	}
	if (t->nwaiting >= (size_t)t->p->conf->max_waiting)
		return -1;
	TAILQ_INSERT_TAIL(&t->waiting, s, qentry);
	s->queue = STREAM_Q_WAITING;
	t->nwaiting++;
	t->idle_since_ms = 0;
	return 0;
}

void
portal_tunnel_accept(struct portal *p, const struct portal_rule *rule,
    int fd, const char *remote, const struct mux_dest *dest)
{
	struct tunnel *t;
	struct stream *s;
	struct linger l = { 1, 0 };
	size_t nwaiting;
	char why[128];

	if ((t = tunnel_for_rule(p, rule, why, sizeof(why))) == NULL) {
		log_warn(NULL, "connection from %s for rule %s refused: %s",
		    remote, rule->name, why);
		goto refuse;
	}
	if (t->state != TUN_OPEN &&
	    t->nwaiting >= (size_t)p->conf->max_waiting) {
		log_warn(&t->log, "connection from %s for rule %s refused: %zu "
		    "connections already wait for the tunnel "
		    "(tunnel.max_waiting)", remote, rule->name, t->nwaiting);
		goto refuse;
	}
	if ((s = stream_new_client(t, rule->name, fd, remote)) == NULL) {
		log_error(&t->log, "connection from %s for rule %s refused: out "
		    "of memory", remote, rule->name);
		goto refuse;
	}
	if (dest)
		s->dest = *dest;
	/* Room was checked above. */
	(void)tunnel_add_stream(t, s, &nwaiting);
	tunnel_flush_soon(t);	/* with the OPENs of the rest of the batch */
	return;
refuse:
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/*
 * QUIC paths toward the peer's candidates that may take UDP at the
 * direct port's number (its interfaces, public and reflexive addresses)
 * and its STUN mapping, each address once; routers' mappings are TCP.
 */
static void
tunnel_grant_quic(struct tunnel *t, const struct proto_msg *g)
{
	static const enum candidate_kind order[] = { CAND_LAN, CAND_LOOPBACK,
	    CAND_PUBLIC, CAND_REFLEXIVE, CAND_STUN };
	char seen[PROTO_MAX_ADVERTISE][PROTO_ADDR_MAX + 1];
	size_t i, j, k, nseen = 0;
	struct candidate c;
	struct path *path;
	const char *cwhy;
	char why[256];

	if (t->p->quic == NULL)
		return;
	/* An address listed twice is tried once, as its best kind. */
	for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		for (i = 0; i < g->candidates_n && t->state != TUN_CLOSED;
		    i++) {
			if (candidate_parse(g->candidates[i], &c, &cwhy) != 0 ||
			    c.kind != order[k] || nseen == PROTO_MAX_ADVERTISE)
				continue;
			conf_endpoint_format(&c.ep, seen[nseen],
			    sizeof(seen[0]));
			for (j = 0; j < nseen; j++)
				if (strcmp(seen[j], seen[nseen]) == 0)
					break;
			if (j < nseen)
				continue;
			nseen++;
			path = path_quic_new(t, c.ep.host, c.ep.port,
			    candidate_kind_name(c.kind), why, sizeof(why));
			if (path != NULL)
				tunnel_add_candidate(t, path);
			else
				log_debug(&t->log, "no QUIC path to %s: %s",
				    seen[nseen - 1], why);
		}
	}
}

/*
 * Birthday probing (direct.birthday) between a NAT that keeps ports and
 * one that picks a port per destination, told apart by STUN: a portal's
 * own mapping changed its port, and the peer's 'stun' candidate has
 * another port than its interface candidates.
 */
static void
tunnel_grant_birthday(struct tunnel *t, const struct proto_msg *g)
{
	struct candidate c, stun;
	struct path *path;
	const char *cwhy;
	char why[256];
	int have_stun = 0, peer_random = 0, self_random;
	uint16_t port = 0;
	size_t i;

	if (t->p->quic == NULL ||
	    t->p->conf->direct_birthday != PORTAL_BIRTHDAY_ON)
		return;
	for (i = 0; i < g->candidates_n; i++) {
		if (candidate_parse(g->candidates[i], &c, &cwhy) != 0)
			continue;
		if (c.kind == CAND_STUN) {
			stun = c;
			have_stun = 1;
		} else if (c.kind == CAND_LAN || c.kind == CAND_LOOPBACK)
			port = c.ep.port;
	}
	if (!have_stun || port == 0)
		return;
	peer_random = stun.ep.port != port;
	self_random = portal_stun_port_changed(t->p);
	if (peer_random && !self_random) {
		portal_quic_spray_ports(t->p, t, stun.ep.host,
		    QUIC_SPRAY_PORTS);
	} else if (self_random && !peer_random) {
		path = path_quic_spray_new(t, stun.ep.host, stun.ep.port, why,
		    sizeof(why));
		if (path != NULL)
			tunnel_add_candidate(t, path);
		else
			log_info(&t->log, "no birthday probing: %s", why);
	}
}

size_t
tunnel_ticket(const struct tunnel *t, const uint8_t **out)
{
	*out = t->ticket;
	return t->ticket_len;
}

/*
 * Dials the direct candidates a grant names for the peer, unless this
 * portal's direct.mode is off.  Each is a candidate path of t.
 */
static void
tunnel_grant_candidates(struct tunnel *t, const struct proto_msg *g)
{
	struct candidate c;
	struct path *path;
	const char *cwhy;
	char why[256];
	size_t i;

	if (t->p->conf->direct_mode == PORTAL_DIRECT_OFF || g->direct_off)
		return;
	for (i = 0; i < g->candidates_n && t->state != TUN_CLOSED; i++) {
		if (candidate_parse(g->candidates[i], &c, &cwhy) != 0) {
			log_warn(&t->log, "ignoring the peer's candidate '%s': "
			    "%s", g->candidates[i], cwhy);
			continue;
		}
		/* STUN's mapping is a UDP port: QUIC only. */
		if (c.kind != CAND_STUN &&
		    (path = path_direct_new(t, g, &c, why, sizeof(why))) != NULL)
			tunnel_add_candidate(t, path);
	}
	tunnel_grant_quic(t, g);
	tunnel_grant_birthday(t, g);
}

/*
 * A grant for t: its ticket (for the direct listener), its relay path and
 * the peer's direct candidates.  The relay path becomes the tunnel's path
 * while it has none; otherwise it is one more candidate, and the
 * initiator, whose tunnel is open, asks only for direct ones.
 */
static void
tunnel_grant_path(struct tunnel *t, const struct proto_msg *g)
{
	struct path *path;
	char why[256];

	if (t->path == NULL) {
		if ((path = path_relay_new(t, g, why, sizeof(why))) == NULL) {
			if (t->state == TUN_RESUMING)
				tunnel_resume_later(t, why);
			else
				tunnel_close(t, MUX_R_TUNNEL_FAILED, "%s", why);
			return;
		}
		tunnel_start_path(t, g, path);
	} else if (!t->initiator &&
	    (path = path_relay_new(t, g, why, sizeof(why))) != NULL)
		tunnel_add_candidate(t, path);
	/* After the path: dials the listener vets may now find the tunnel. */
	tunnel_take_ticket(t, g);
	tunnel_grant_candidates(t, g);
	/* QUIC through the relay too: it ranks above the TCP relay path. */
	if (t->p->quic != NULL && t->state != TUN_CLOSED &&
	    (t->path == NULL || (strcmp(t->path->kind, "relay") == 0 &&
	    !t->path->quic))) {
		if ((path = path_quic_relay_new(t, g, why,
		    sizeof(why))) != NULL)
			tunnel_add_candidate(t, path);
		else
			log_debug(&t->log, "no QUIC path through relay %s: %s",
			    g->relay, why);
	}
}

struct tunnel *
portal_direct_find_tunnel(struct portal *p, const uint8_t *ticket, size_t len,
    uint8_t side)
{
	struct tunnel *t;
	uint64_t now = (uint64_t)time(NULL);

	TAILQ_FOREACH(t, &p->tunnels, entry)
		if (t->state != TUN_CLOSED && t->ticket_len == len &&
		    now < t->ticket_expires &&
		    side == (t->initiator ? PROTO_SIDE_SERVICE :
		    PROTO_SIDE_CLIENT) && memcmp(t->ticket, ticket, len) == 0)
			return t;
	return NULL;
}

void
tunnel_accept_direct(struct tunnel *t, int fd, const char *remote)
{
	struct path *path;

	if ((path = path_direct_accepted(t, fd, remote)) != NULL)
		tunnel_add_candidate(t, path);
}

/* 1 when a grant names a tunnel to resume (a non-zero resume id). */
static int
tunnel_grant_resumes(const struct proto_msg *g)
{
	size_t i;

	for (i = 0; i < sizeof(g->resume); i++)
		if (g->resume[i])
			return 1;
	return 0;
}

/* Service side: the tunnel from peer that a grant resumes, or NULL. */
static struct tunnel *
tunnel_find_resumed(struct portal *p, const struct proto_msg *g)
{
	struct tunnel *t;

	TAILQ_FOREACH(t, &p->tunnels, entry)
		if (!t->initiator && t->state != TUN_CLOSED &&
		    t->tid[0] && memcmp(t->id, g->resume, sizeof(t->id)) == 0 &&
		    strcmp(t->peer, g->peer) == 0)
			return t;
	return NULL;
}

void
portal_tunnel_grant(struct portal *p, const struct proto_msg *m)
{
	struct tunnel *t;
	size_t i;
	int known = 0;

	if (m->side == PROTO_SIDE_CLIENT) {
		TAILQ_FOREACH(t, &p->tunnels, entry)
			if (t->state != TUN_CLOSED && t->request_id &&
			    t->request_id == m->id)
				break;
		if (t == NULL || strcmp(t->peer, m->peer) != 0) {
			log_warn(NULL, "ignoring a grant for request %u to "
			    "portal/%s: no such request", m->id, m->peer);
			return;
		}
		tunnel_grant_path(t, m);
		return;
	}
	/* Service side: only for a peer that some rule lets in. */
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].side == PROTO_SIDE_SERVICE &&
		    strcmp(p->rules[i].peer, m->peer) == 0)
			known = 1;
	if (!known) {
		log_warn(NULL, "ignoring a grant for a tunnel from portal/%s: "
		    "no rule of this portal names it", m->peer);
		return;
	}
	/*
	 * A new path for a tunnel we have.  For one we do not have (this
	 * portal restarted, or gave it up) a fresh tunnel takes the path,
	 * and the peer's RESUME on it closes it with the reason.
	 */
	if (tunnel_grant_resumes(m) &&
	    (t = tunnel_find_resumed(p, m)) != NULL) {
		tunnel_grant_path(t, m);
		return;
	}
	if ((t = tunnel_new(p, m->peer, 0)) == NULL ||
	    tunnel_arm_setup(t) != 0) {
		log_error(NULL, "cannot accept a tunnel from portal/%s: out of "
		    "memory", m->peer);
		if (t)
			tunnel_free(t);
		return;
	}
	t->unknown = tunnel_grant_resumes(m);
	TAILQ_INSERT_TAIL(&p->tunnels, t, entry);
	tunnel_grant_path(t, m);
}

void
portal_tunnel_refused(struct portal *p, const struct proto_msg *m)
{
	struct tunnel *t;

	char why[PROTO_TEXT_MAX + 64];

	TAILQ_FOREACH(t, &p->tunnels, entry) {
		if (t->request_id != m->id || t->request_id == 0)
			continue;
		snprintf(why, sizeof(why), "%s%s%s", proto_error_text(m->code),
		    m->message[0] ? ": " : "", m->message);
		if (t->state == TUN_REQUESTING) {
			tunnel_close(t, MUX_R_TUNNEL_FAILED, "the server refused "
			    "(rule %s): %s", t->rule, why);
			return;
		}
		if (t->state == TUN_OPEN) {
			/* A fresh grant for direct paths: the relay stays. */
			log_info(&t->log, "tunnel %s: no new grant for direct "
			    "paths: %s", t->tid, why);
			t->request_id = 0;
			return;
		}
		if (t->state != TUN_RESUMING)
			continue;
		/*
		 * No relay, or the server's own trouble, may pass before the
		 * deadline (a relay restarting).  So may a peer that is not
		 * connected: whatever cut the path often cut both portals'
		 * sessions with the server too, and the peer may be between
		 * its session's loss and its next HELLO.  A peer that stopped
		 * said so on the tunnel (GOAWAY) while it had a path; one
		 * that is gone for good costs its streams the resume deadline
		 * at most.  A refusal by policy ends the tunnel now.
		 */
		if (m->code == PROTO_E_NO_RELAY || m->code == PROTO_E_INTERNAL ||
		    m->code == PROTO_E_SHUTDOWN ||
		    m->code == PROTO_E_PEER_OFFLINE)
			tunnel_resume_later(t, why);
		else
			tunnel_close(t, MUX_R_RULE_REVOKED, "the server "
			    "refused a new path (rule %s): %s", t->rule, why);
		return;
	}
	log_warn(NULL, "server error %u for unknown request %u: %s", m->code,
	    m->id, m->message);
}

void
portal_tunnel_ctl_down(struct portal *p)
{
	struct tunnel *t, *next;

	TAILQ_FOREACH_SAFE(t, &p->tunnels, entry, next) {
		if (t->state == TUN_REQUESTING)
			tunnel_close(t, MUX_R_TUNNEL_FAILED, "lost the session "
			    "with the server before the grant");
		else if (t->state == TUN_RESUMING)
			t->request_id = 0;	/* asked again on its timer */
	}
}

void
portal_tunnel_peer_revoked(struct portal *p, const char *peer)
{
	struct tunnel *t, *next;

	log_info(NULL, "the server revoked the certificate of portal/%s",
	    peer);
	TAILQ_FOREACH_SAFE(t, &p->tunnels, entry, next)
		if (strcmp(t->peer, peer) == 0)
			tunnel_close(t, MUX_R_RULE_REVOKED, "certificate of "
			    "portal/%s revoked", peer);
}

/* 1 when the stream's rule still allows it on this tunnel. */
static int
tunnel_stream_allowed(struct portal *p, struct tunnel *t,
    const struct stream *s)
{
	const struct portal_rule *r;
	struct conf_endpoint ep;
	char why[160];
	size_t i;

	/* Service side: the rule must still allow what the stream reaches. */
	if (!t->initiator || (s->id & 1) == 0)
		return (r = portal_find_service_rule(p, s->rule, t->peer,
		    s->dgram ? PROTO_UDP : PROTO_TCP)) != NULL &&
		    portal_rule_target(r, &s->dest, &ep, why, sizeof(why)) == 0;
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].side == PROTO_SIDE_CLIENT &&
		    strcmp(p->rules[i].name, s->rule) == 0 &&
		    strcmp(p->rules[i].peer, t->peer) == 0)
			return 1;
	return 0;
}

/*
 * The initiator asks for new paths under the rule it was made for; when
 * that rule is gone, another client-side rule to the same peer serves (the
 * tunnel carries every rule between the two), so that its streams of the
 * remaining rules can still get a path.
 */
static void
tunnel_pick_rule(struct portal *p, struct tunnel *t)
{
	size_t i;

	if (!t->initiator)
		return;
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].side == PROTO_SIDE_CLIENT &&
		    strcmp(p->rules[i].name, t->rule) == 0 &&
		    strcmp(p->rules[i].peer, t->peer) == 0)
			return;
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].side == PROTO_SIDE_CLIENT &&
		    strcmp(p->rules[i].peer, t->peer) == 0) {
			log_info(&t->log, "tunnel %s to portal/%s: its rule %s "
			    "is gone; new paths are asked for under rule %s",
			    t->tid, t->peer, t->rule, p->rules[i].name);
			snprintf(t->rule, sizeof(t->rule), "%s",
			    p->rules[i].name);
			return;
		}
}

/* 1 when a rule of this portal with peer says direct: off. */
static int
portal_peer_direct_off(const struct portal *p, const char *peer)
{
	size_t i;

	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].direct_off &&
		    strcmp(p->rules[i].peer, peer) == 0)
			return 1;
	return 0;
}

void
portal_tunnel_rules_changed(struct portal *p)
{
	struct tunnel *t, *tnext;
	struct hmap_node *n, *next;
	struct stream *s, *snext;
	size_t iter;

	TAILQ_FOREACH_SAFE(t, &p->tunnels, entry, tnext) {
		tunnel_pick_rule(p, t);
		/* A tunnel carries every rule with its peer: one rule that
		 * says direct: off keeps it on relays. */
		if (!t->direct_off && portal_peer_direct_off(p, t->peer))
			tunnel_leave_direct(t, "a rule with this peer now "
			    "says direct: off");
		else if (t->direct_off && !portal_peer_direct_off(p, t->peer))
			tunnel_allow_direct(t);
		if (t->state == TUN_CLOSED)
			continue;
		TAILQ_FOREACH_SAFE(s, &t->waiting, qentry, snext)
			if (!tunnel_stream_allowed(p, t, s))
				stream_reset(s, MUX_R_RULE_REVOKED, "rule %s "
				    "was removed or expired", s->rule);
		iter = 0;
		for (n = hmap_first(&t->streams, &iter); n; n = next) {
			next = hmap_next(&t->streams, n, &iter);
			s = hmap_entry(n, struct stream, node);
			if (!tunnel_stream_allowed(p, t, s))
				stream_reset(s, MUX_R_RULE_REVOKED, "rule %s "
				    "was removed or expired", s->rule);
		}
		tunnel_flush(t);
	}
}

int
portal_tunnel_drain(struct portal *p)
{
	struct tunnel *t, *next;
	int live = 0;

	TAILQ_FOREACH_SAFE(t, &p->tunnels, entry, next) {
		t->goaway = 1;
		/* Without a path its streams cannot finish: no use waiting. */
		if (t->state == TUN_RESUMING) {
			tunnel_close(t, MUX_R_SHUTDOWN, "portal shutting down "
			    "while the tunnel waits for a new path");
			continue;
		}
		if (t->nstreams || t->nwaiting)
			live = 1;
	}
	return live;
}

void
portal_tunnel_close_all(struct portal *p, const char *why)
{
	struct tunnel *t;

	while ((t = TAILQ_FIRST(&p->tunnels)) != NULL)
		tunnel_close(t, MUX_R_SHUTDOWN, "%s", why);
}
