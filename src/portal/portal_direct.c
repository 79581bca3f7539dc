/* SPDX-License-Identifier: MIT */
/*
 * The portal's direct listener: where peers dial it for a tunnel path
 * with no relay between them (direct.listen).  It is new attack surface on
 * an end device, so it is no open TLS server: a connection must first
 * present, in the relay handshake's format, the ticket of a tunnel the
 * server has just granted to this portal (the same bytes the grant gave
 * us, unexpired, for the other side of the tunnel); everything else is
 * closed before any TLS work.  Connections that have not done so are
 * capped per source and in total, the oldest making room (core/unauth),
 * must finish within a few seconds, and their refusals are logged once
 * per source and reason, then summarised (core/logsum).  A vetted
 * connection is answered "paired" and becomes a direct path of that
 * tunnel; its TLS handshake then checks the peer like any path.
 *
 * It also tells the server, in HELLO, the candidates at which peers may
 * dial it: its interfaces' addresses with the listener's port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/candidate.h"
#include "core/err.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/logsum.h"
#include "core/net.h"
#include "core/relay_hs.h"
#include "core/unauth.h"
#include "portal/portal_tunnel.h"

/* A peer has this long to present its ticket. */
#define DIRECT_HANDSHAKE_MS	5000

struct direct_conn {
	TAILQ_ENTRY(direct_conn) entry;
	struct portal_direct	*d;		/* borrowed */
	int			 fd;
	struct event		*ev;
	struct loop_timer	*timer;
	struct unauth_conn	 unauth;
	uint8_t			 hs[RELAY_HS_MAX];
	size_t			 hslen;
	int			 parked;	/* whole ticket, no tunnel yet */
	char			 remote[NET_ADDR_STR_MAX];
	struct loop_defer	 defer;
};

TAILQ_HEAD(direct_conn_list, direct_conn);

struct portal_direct {
	struct portal		*p;		/* borrowed */
	struct listener		*listener;
	uint16_t		 port;
	struct unauth		*unauth;
	struct logsum		*refused;
	struct direct_conn_list	 conns;
	int			 ipv6;		/* takes IPv6 peers too */
};

static void
direct_conn_free(void *arg)
{
	struct direct_conn *c = arg;

	if (c->ev)
		event_free(c->ev);
	loop_timer_free(c->timer);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* Ends a connection: fd is closed unless handed over (set to -1). */
static void
direct_conn_finish(struct direct_conn *c)
{
	struct portal_direct *d = c->d;

	TAILQ_REMOVE(&d->conns, c, entry);
	unauth_remove(d->unauth, &c->unauth);
	if (c->ev)
		event_del(c->ev);
	loop_timer_cancel(c->timer);
	loop_defer_free(d->p->loop, &c->defer, direct_conn_free, c);
}

/* Refuses with status (best effort) and a log line, summarised. */
static void
direct_conn_refuse(struct direct_conn *c, enum relay_status status,
    const char *why)
{
	uint8_t reply[RELAY_REPLY_LEN];

	if (logsum_note(c->d->refused, unauth_source_name(&c->unauth)[0] ?
	    unauth_source_name(&c->unauth) : c->remote, why))
		log_info(NULL, "direct connection from %s refused: %s",
		    c->remote, why);
	relay_hs_encode_reply(reply, status);
	(void)send(c->fd, reply, sizeof(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
	direct_conn_finish(c);
}

static void
direct_conn_timer_cb(struct loop_timer *t, void *arg)
{
	struct direct_conn *c = arg;

	if (c->parked)
		direct_conn_refuse(c, RELAY_E_SIGNATURE, "no tunnel granted to "
		    "this portal has that ticket (or it expired)");
	else
		direct_conn_refuse(c, RELAY_E_MALFORMED, "no whole ticket "
		    "within 5 s");
}

/* The whole handshake is in: the tunnel it names, or a refusal. */
static void
direct_conn_vet(struct direct_conn *c)
{
	struct relay_hs hs;
	struct tunnel *t;
	const char *why;
	uint8_t reply[RELAY_REPLY_LEN];

	if (relay_hs_decode(c->hs, c->hslen, &hs, &why) != 0) {
		direct_conn_refuse(c, RELAY_E_MALFORMED, why);
		return;
	}
	if ((t = portal_direct_find_tunnel(c->d->p, hs.ticket, hs.ticket_len,
	    hs.side)) == NULL) {
		/*
		 * The server sends the grant to both portals at once, so a
		 * peer's dial can beat our own grant: park it until a grant
		 * comes (portal_direct_granted) or its time is up.
		 */
		c->parked = 1;
		event_del(c->ev);
		return;
	}
	relay_hs_encode_reply(reply, RELAY_OK);
	if (send(c->fd, reply, sizeof(reply), MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)sizeof(reply)) {
		direct_conn_refuse(c, RELAY_E_MALFORMED, "cannot answer");
		return;
	}
	log_debug(NULL, "direct connection from %s presents the ticket of a "
	    "tunnel to portal/%s", c->remote, tunnel_peer(t));
	tunnel_accept_direct(t, c->fd, c->remote);
	c->fd = -1;	/* the path has it now */
	direct_conn_finish(c);
}

static void
direct_conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct direct_conn *c = arg;
	const char *why;

	/* Exactly the handshake, never a byte of the TLS behind it. */
	switch (relay_hs_read(c->fd, c->hs, &c->hslen, &why)) {
	case 1:
		direct_conn_vet(c);
		break;
	case -1:
		direct_conn_refuse(c, RELAY_E_MALFORMED, why);
		break;
	}
}

static void
direct_accept_cb(int fd, const struct sockaddr *sa, void *arg)
{
	struct portal_direct *d = arg;
	struct unauth_conn *victim;
	struct direct_conn *c;
	enum unauth_cap cap;

	while ((victim = unauth_victim(d->unauth, sa, &cap)) != NULL)
		direct_conn_refuse(unauth_entry(victim, struct direct_conn,
		    unauth), RELAY_E_CAPACITY, cap == UNAUTH_CAP_SOURCE ?
		    "evicted: the oldest unfinished connection of an address "
		    "at direct.max_pending_per_source" : "evicted: the oldest "
		    "unfinished connection at direct.max_pending");
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->d = d;
	c->fd = fd;
	net_addr_format(sa, c->remote, sizeof(c->remote));
	TAILQ_INSERT_TAIL(&d->conns, c, entry);
	c->ev = event_new(loop_base(d->p->loop), fd, EV_READ | EV_PERSIST,
	    direct_conn_read_cb, c);
	c->timer = loop_timer_new(d->p->loop, direct_conn_timer_cb, c);
	if (c->ev == NULL || c->timer == NULL ||
	    unauth_add(d->unauth, &c->unauth, sa) != 0 ||
	    event_add(c->ev, NULL) != 0) {
		direct_conn_finish(c);
		return;
	}
	loop_timer_arm(c->timer, DIRECT_HANDSHAKE_MS);
}

void
portal_direct_granted(struct portal *p)
{
	struct direct_conn *c, *next;

	if (p->direct == NULL)
		return;
	TAILQ_FOREACH_SAFE(c, &p->direct->conns, entry, next)
		if (c->parked) {
			c->parked = 0;
			direct_conn_vet(c);
		}
}

int
portal_direct_start(struct portal *p)
{
	const struct portal_conf *c = p->conf;
	struct portal_direct *d;
	char addr[NET_ADDR_STR_MAX];
	int fd;

	if (c->direct_mode == PORTAL_DIRECT_OFF)
		return 0;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	d->p = p;
	TAILQ_INIT(&d->conns);
	d->unauth = unauth_new(p->loop, (size_t)c->direct_max_pending,
	    (size_t)c->direct_max_pending_per_source);
	d->refused = logsum_new(p->loop, "direct connections", "refused",
	    LOGLEVEL_INFO);
	if (d->unauth == NULL || d->refused == NULL) {
		unauth_free(d->unauth);
		logsum_free(d->refused);
		free(d);
		return -ENOMEM;
	}
	p->direct = d;
	/* Shared: punches leave from this port (portal_path_ticket.c). */
	fd = net_listen_tcp_shared(&c->direct_listen, 128);
	if (fd < 0 && strcmp(c->direct_listen.host, "::") == 0) {
		/* A host without IPv6: the same port, IPv4 alone. */
		struct conf_endpoint v4 = c->direct_listen;

		log_debug(NULL, "direct listener: no IPv6 (%s); IPv4 only",
		    np_strerror(fd));
		snprintf(v4.host, sizeof(v4.host), "0.0.0.0");
		fd = net_listen_tcp_shared(&v4, 128);
	}
	if (fd < 0) {
		log_warn(NULL, "no direct paths: cannot listen on %s:%u: %s; "
		    "tunnels stay on relays", c->direct_listen.host,
		    c->direct_listen.port, np_strerror(fd));
		return 0;
	}
	net_local_addr(fd, addr, sizeof(addr));
	d->port = net_local_port(fd);
	d->ipv6 = strchr(addr, '[') != NULL;
	if ((d->listener = listener_new(p->loop, fd, "direct listener",
	    direct_accept_cb, d)) == NULL)
		return -ENOMEM;
	log_info(NULL, "listening for direct paths on %s", addr);
	return 0;
}

void
portal_direct_stop(struct portal *p)
{
	struct portal_direct *d = p->direct;
	struct direct_conn *c;

	if (d == NULL)
		return;
	while ((c = TAILQ_FIRST(&d->conns)) != NULL)
		direct_conn_finish(c);
	listener_free(d->listener);
	unauth_free(d->unauth);
	logsum_free(d->refused);
	free(d);
	p->direct = NULL;
}

/* The addresses of direct.addresses, with the listener's port. */
static int
portal_direct_configured(struct portal *p, struct candidate *out, size_t max)
{
	const struct conf_strlist *l = &p->conf->direct_addresses;
	size_t i, n = 0;

	for (i = 0; i < l->n && n < max; i++) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].kind = strncmp(l->v[i], "127.", 4) == 0 ||
		    strcmp(l->v[i], "::1") == 0 ? CAND_LOOPBACK : CAND_LAN;
		snprintf(out[n].ep.host, sizeof(out[n].ep.host), "%s", l->v[i]);
		out[n].ep.port = p->direct->port;
		n++;
	}
	return (int)n;
}

uint16_t
portal_direct_port(const struct portal *p)
{
	return p->direct != NULL && p->direct->listener != NULL ?
	    p->direct->port : 0;
}

void
portal_direct_hello(struct portal *p, struct proto_msg *m)
{
	struct candidate cands[PROTO_MAX_ADVERTISE];
	int i, n, g;

	if (p->direct == NULL || p->direct->listener == NULL)
		return;
	/* A port the router maps comes first: peers elsewhere reach it. */
	n = (int)portal_portmap_candidates(p, cands, PROTO_MAX_ADVERTISE);
	/* QUIC paths punch toward the UDP mapping STUN told. */
	if (p->quic != NULL)
		n += portal_stun_mapped(p, &cands[n]);
	if (p->conf->direct_addresses.n > 0)
		n += portal_direct_configured(p, cands + n,
		    PROTO_MAX_ADVERTISE - (size_t)n);
	else if ((g = candidate_gather(p->direct->port, cands + n,
	    PROTO_MAX_ADVERTISE - (size_t)n)) > 0)
		n += g;
	m->candidates_n = 0;
	for (i = 0; i < n; i++) {
		/* An IPv4 listener takes no IPv6 peer: say only what works. */
		if (strchr(cands[i].ep.host, ':') != NULL && !p->direct->ipv6)
			continue;
		candidate_format(&cands[i], m->candidates[m->candidates_n],
		    sizeof(m->candidates[0]));
		m->candidates_n++;
	}
}
