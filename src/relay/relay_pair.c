/* SPDX-License-Identifier: MIT */
/*
 * Pairing: each portal of a tunnel connects and presents the ticket the
 * server gave both of them.  The relay checks the ticket (signature by the
 * server's key, its own name, expiry, one use per side), keeps the first
 * half waiting until the second arrives, answers both "paired", and hands
 * the two sockets to the forwarder.
 *
 * Everything here faces the internet before any authentication, so every
 * resource is capped: the bytes of a handshake, its time, the number of
 * unpaired connections in total and per source address, and how long a
 * half may wait.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/err.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/logsum.h"
#include "core/net.h"
#include "relay/relay_impl.h"

/* How often used tickets past their expiry are forgotten. */
#define RELAY_PRUNE_MS			5000

enum relay_half_state {
	HALF_HANDSHAKE,		/* reading the ticket */
	HALF_WAITING,		/* ticket good, waiting for the other half */
	HALF_DONE,		/* paired or refused; being freed */
};

struct relay_source {
	struct hmap_node	 node;
	char			 addr[INET6_ADDRSTRLEN];
	size_t			 count;
};

/* A tunnel id that has been presented, per side, until its ticket expires. */
struct relay_used {
	struct hmap_node	 node;
	uint8_t			 tunnel_id[TICKET_TUNNEL_ID_LEN];
	uint8_t			 sides;		/* bit 1 << side */
	uint64_t		 expires;
};

struct relay_half {
	struct hmap_node	 node;		/* in r->pending while WAITING */
	TAILQ_ENTRY(relay_half)	 entry;		/* in r->halves until done */
	struct relay		*r;		/* borrowed */
	enum relay_half_state	 state;
	int			 fd;
	struct event		*ev;
	struct loop_timer	*timer;
	struct relay_source	*source;	/* borrowed; counted in */
	uint8_t			 hs[RELAY_HS_MAX];
	size_t			 hslen;
	uint8_t			 side;
	struct ticket		 ticket;
	char			 remote[NET_ADDR_STR_MAX];
	char			 source_name[NET_SOURCE_STR_MAX];
	struct log_ctx		 log;
	struct loop_defer	 defer;
};

static int
relay_used_eq(const struct hmap_node *n, const void *key)
{
	const struct relay_used *u = hmap_entry_const(n, struct relay_used,
	    node);

	return memcmp(u->tunnel_id, key, TICKET_TUNNEL_ID_LEN) == 0;
}

static int
relay_half_eq(const struct hmap_node *n, const void *key)
{
	const struct relay_half *h = hmap_entry_const(n, struct relay_half,
	    node);

	return memcmp(h->ticket.tunnel_id, key, TICKET_TUNNEL_ID_LEN) == 0;
}

static int
relay_source_eq(const struct hmap_node *n, const void *key)
{
	const struct relay_source *s = hmap_entry_const(n,
	    struct relay_source, node);

	return strcmp(s->addr, key) == 0;
}

static void
relay_half_free(void *arg)
{
	struct relay_half *h = arg;

	if (h->ev)
		event_free(h->ev);
	loop_timer_free(h->timer);
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

static void
relay_source_put(struct relay *r, struct relay_source *s)
{
	if (s == NULL)
		return;
	if (--s->count == 0) {
		hmap_remove(&r->sources, &s->node);
		free(s);
	}
}

/* Ends a half that is not going to be forwarded (or was handed over). */
static void
relay_half_finish(struct relay_half *h)
{
	struct relay *r = h->r;

	if (h->state == HALF_DONE)
		return;
	if (h->state == HALF_WAITING)
		hmap_remove(&r->pending, &h->node);
	h->state = HALF_DONE;
	TAILQ_REMOVE(&r->halves, h, entry);
	r->npending--;
	relay_source_put(r, h->source);
	h->source = NULL;
	if (h->ev)
		event_del(h->ev);
	loop_timer_cancel(h->timer);
	loop_defer_free(r->loop, &h->defer, relay_half_free, h);
}

int
relay_send_status(int fd, enum relay_status status)
{
	uint8_t reply[RELAY_REPLY_LEN];
	ssize_t n;

	relay_hs_encode_reply(reply, status);
	n = send(fd, reply, sizeof(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)sizeof(reply))
		return 0;
	if (n >= 0)
		errno = EPIPE;
	return -1;
}

static void
relay_half_refuse(struct relay_half *h, enum relay_status status,
    const char *why)
{
	/* A flood repeats refusals: the first of a source and reason in
	 * full, the rest in a summary. */
	relay_metrics_refused("tcp", status);
	if (logsum_note(h->r->refuse_log, h->source_name, why))
		log_info(&h->log, "refused %s: %s", h->remote, why);
	(void)relay_send_status(h->fd, status);	/* best effort */
	relay_half_finish(h);
}

int
relay_mark_used(struct relay *r, const struct ticket *t, uint8_t side)
{
	struct relay_used *u;
	struct hmap_node *n;
	uint64_t hash = hmap_hash_bytes(t->tunnel_id, TICKET_TUNNEL_ID_LEN);

	if ((n = hmap_find(&r->used, hash, relay_used_eq,
	    t->tunnel_id)) != NULL) {
		u = hmap_entry(n, struct relay_used, node);
		if (u->sides & (1u << side))
			return -1;
		u->sides |= (uint8_t)(1u << side);
		return 0;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -ENOMEM;
	memcpy(u->tunnel_id, t->tunnel_id, sizeof(u->tunnel_id));
	u->sides = (uint8_t)(1u << side);
	u->expires = t->expires;
	if (hmap_insert(&r->used, &u->node, hash) != 0) {
		free(u);
		return -ENOMEM;
	}
	return 0;
}

static void
relay_pair_timeout_cb(struct loop_timer *t, void *arg)
{
	struct relay_half *h = arg;

	if (h->state == HALF_HANDSHAKE)
		relay_half_refuse(h, RELAY_E_MALFORMED, "no complete handshake "
		    "within handshake_timeout");
	else if (h->state == HALF_WAITING)
		relay_half_refuse(h, RELAY_E_PAIR_TIMEOUT, "the other half of "
		    "the tunnel did not arrive within pairing_timeout");
}

static void
relay_pair_complete(struct relay_half *first, struct relay_half *second)
{
	struct relay *r = second->r;
	char who[2 * NP_NAME_MAX + 8];
	int fa, fb;

	snprintf(who, sizeof(who), "%s>%s", second->ticket.initiator,
	    second->ticket.acceptor);
	/* The initiator's socket is a, the acceptor's b, whoever came first. */
	if (second->side == PROTO_SIDE_CLIENT) {
		fa = second->fd;
		fb = first->fd;
	} else {
		fa = first->fd;
		fb = second->fd;
	}
	first->fd = second->fd = -1;
	relay_half_finish(first);
	relay_half_finish(second);
	relay_metrics_paired("tcp");
	(void)relay_fwd_start(r, fa, fb, second->ticket.tunnel_id, who);
}

int
relay_check_request(struct relay *r, const uint8_t *p, size_t n,
    struct ticket *t, uint8_t *side, enum relay_status *status,
    const char **why)
{
	struct relay_hs hs;
	int rc;

	if (relay_hs_decode(p, n, &hs, why) != 0) {
		*status = RELAY_E_MALFORMED;
		return -1;
	}
	if (hs.punch) {
		/* Punching is between portals; a relay pairs dialers. */
		*status = RELAY_E_MALFORMED;
		*why = "a punch request";
		return -1;
	}
	*side = hs.side;
	if (!r->have_key) {
		*status = RELAY_E_SIGNATURE;
		*why = "no ticket key yet (never registered with the server)";
		return -1;
	}
	rc = ticket_verify(hs.ticket, hs.ticket_len, &r->ticket_key,
	    (uint64_t)time(NULL), t);
	if (rc == NP_EEXPIRED) {
		*status = RELAY_E_EXPIRED;
		*why = "ticket expired";
		return -1;
	}
	if (rc != 0) {
		*status = RELAY_E_SIGNATURE;
		*why = rc == NP_EPROTO ? "malformed ticket" :
		    "ticket signature does not verify";
		return -1;
	}
	if (strcmp(t->relay, r->self.name) != 0) {
		*status = RELAY_E_WRONG_RELAY;
		*why = "ticket is for another relay";
		return -1;
	}
	return 0;
}

/* The whole handshake is in h->hs: check it and wait or pair. */
static void
relay_half_handshake_done(struct relay_half *h)
{
	struct relay *r = h->r;
	struct relay_half *other;
	struct hmap_node *n;
	enum relay_status status;
	const char *why;
	uint64_t hash;
	int rc;

	if (relay_check_request(r, h->hs, h->hslen, &h->ticket, &h->side,
	    &status, &why) != 0) {
		relay_half_refuse(h, status, why);
		return;
	}
	if ((rc = relay_mark_used(r, &h->ticket, h->side)) != 0) {
		relay_half_refuse(h, rc == -1 ? RELAY_E_REPLAY :
		    RELAY_E_CAPACITY, rc == -1 ? "ticket already presented for "
		    "this side (replay)" : "out of memory");
		return;
	}
	h->log.peer = h->side == PROTO_SIDE_CLIENT ? h->ticket.initiator :
	    h->ticket.acceptor;
	hash = hmap_hash_bytes(h->ticket.tunnel_id, TICKET_TUNNEL_ID_LEN);
	n = hmap_find(&r->pending, hash, relay_half_eq, h->ticket.tunnel_id);
	if (n != NULL) {
		other = hmap_entry(n, struct relay_half, node);
		relay_pair_complete(other, h);
		return;
	}
	if (hmap_insert(&r->pending, &h->node, hash) != 0) {
		relay_half_refuse(h, RELAY_E_CAPACITY, "out of memory");
		return;
	}
	h->state = HALF_WAITING;
	log_debug(&h->log, "waiting for the other half of tunnel %s>%s",
	    h->ticket.initiator, h->ticket.acceptor);
	loop_timer_arm(h->timer, (uint64_t)r->conf->pairing_timeout);
}

static void
relay_half_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_half *h = arg;
	const char *why;
	ssize_t n;

	if (h->state == HALF_WAITING) {
		/*
		 * A waiting half must stay silent: data or EOF now means the
		 * portal gave up (or breaks the protocol).  Peek to tell.
		 */
		uint8_t b;

		n = recv(h->fd, &b, 1, MSG_PEEK);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		relay_half_refuse(h, RELAY_E_MALFORMED, n == 0 ?
		    "closed while waiting for its pair" :
		    "sent data before being paired");
		return;
	}
	switch (relay_hs_read(h->fd, h->hs, &h->hslen, &why)) {
	case 1:
		relay_half_handshake_done(h);
		break;
	case -1:
		relay_half_refuse(h, RELAY_E_MALFORMED, why);
		break;
	}
}

/* Says "at capacity" (status 7) to a connection refused on a cap, and
 * closes it: the portal logs why instead of a bare close. */
static void
relay_refuse_fd(int fd)
{
	(void)relay_send_status(fd, RELAY_E_CAPACITY);
	close(fd);
}

/*
 * The per-source cap is full: make room by closing the oldest connection
 * from that address that has not yet presented a whole ticket.  A real
 * portal sends its ticket at once, so it is never the oldest for long, and
 * a neighbour behind the same NAT holding half-open connections cannot lock
 * the portals out.  Halves with a valid ticket waiting for their pair are
 * not evicted.  Returns 0, or -1 when there is nothing to evict.
 */
static int
relay_evict(struct relay *r, struct relay_source *src)
{
	struct relay_half *h;

	TAILQ_FOREACH(h, &r->halves, entry) {
		if (h->source == src && h->state == HALF_HANDSHAKE) {
			relay_half_refuse(h, RELAY_E_CAPACITY, "evicted: the "
			    "oldest unfinished handshake of an address at "
			    "max_pending_per_source");
			return 0;
		}
	}
	return -1;
}

static struct relay_source *
relay_source_get(struct relay *r, const struct sockaddr *sa)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	struct relay_source *s;
	struct hmap_node *n;
	uint64_t hash;

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, addr, sizeof(addr));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, addr, sizeof(addr));
	hash = hmap_hash_bytes(addr, strlen(addr));
	if ((n = hmap_find(&r->sources, hash, relay_source_eq, addr)) != NULL)
		return hmap_entry(n, struct relay_source, node);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	if (hmap_insert(&r->sources, &s->node, hash) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void
relay_accept_one(int fd, const struct sockaddr *sa, void *arg)
{
	struct relay *r = arg;
	char remote[NET_ADDR_STR_MAX], source[NET_SOURCE_STR_MAX];
	struct relay_source *src;
	struct relay_half *h;

	net_addr_format(sa, remote, sizeof(remote));
	net_addr_source(sa, source, sizeof(source));
	if (r->npending >= (size_t)r->conf->max_pending) {
		if (logsum_note(r->cap_log, source, "unpaired connections at "
		    "max_pending"))
			log_warn(NULL, "refusing %s: %zu unpaired connections "
			    "(max_pending)", remote, r->npending);
		relay_refuse_fd(fd);
		return;
	}
	if ((src = relay_source_get(r, sa)) == NULL) {
		log_error(NULL, "refusing %s: out of memory", remote);
		close(fd);
		return;
	}
	src->count++;	/* held for this one, so that src outlives evictions */
	if (src->count > (size_t)r->conf->max_pending_per_source &&
	    relay_evict(r, src) != 0) {
		if (logsum_note(r->cap_log, source, "unpaired connections "
		    "from this address at max_pending_per_source"))
			log_warn(NULL, "refusing %s: %zu unpaired connections "
			    "from this address (max_pending_per_source)",
			    remote, src->count - 1);
		relay_refuse_fd(fd);
		relay_source_put(r, src);
		return;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto fail;
	h->r = r;
	h->fd = fd;
	h->source = src;
	h->log.conn_id = loop_next_conn_id();
	snprintf(h->remote, sizeof(h->remote), "%s", remote);
	snprintf(h->source_name, sizeof(h->source_name), "%s", source);
	h->ev = event_new(loop_base(r->loop), fd, EV_READ | EV_PERSIST,
	    relay_half_read_cb, h);
	h->timer = loop_timer_new(r->loop, relay_pair_timeout_cb, h);
	if (h->ev == NULL || h->timer == NULL || event_add(h->ev, NULL) != 0)
		goto fail;
	TAILQ_INSERT_TAIL(&r->halves, h, entry);
	r->npending++;
	loop_timer_arm(h->timer, (uint64_t)r->conf->handshake_timeout);
	return;
fail:
	log_error(NULL, "refusing %s: out of memory", remote);
	if (h) {
		h->fd = -1;
		relay_half_free(h);
	}
	close(fd);
	relay_source_put(r, src);
}

static void
relay_prune_cb(struct loop_timer *t, void *arg)
{
	struct relay *r = arg;
	struct hmap_node *n, *next;
	struct relay_used *u;
	uint64_t now = (uint64_t)time(NULL);
	size_t iter = 0;

	for (n = hmap_first(&r->used, &iter); n; n = next) {
		next = hmap_next(&r->used, n, &iter);
		u = hmap_entry(n, struct relay_used, node);
		/* Past expiry the ticket fails on its own; forget it. */
		if (u->expires < now) {
			hmap_remove(&r->used, n);
			free(u);
		}
	}
	loop_timer_arm(t, RELAY_PRUNE_MS);
}

int
relay_pair_start(struct relay *r)
{
	hmap_init(&r->pending);
	hmap_init(&r->used);
	hmap_init(&r->sources);
	TAILQ_INIT(&r->halves);
	r->refuse_log = logsum_new(r->loop, "connections", "refused",
	    LOGLEVEL_INFO);
	r->cap_log = logsum_new(r->loop, "connections", "refused at a cap",
	    LOGLEVEL_WARN);
	if (r->refuse_log == NULL || r->cap_log == NULL)
		return -ENOMEM;
	r->listener = listener_new(r->loop, r->listen_fd, "the relay port",
	    relay_accept_one, r);
	r->listen_fd = -1;	/* the listener owns it now */
	r->prune_timer = loop_timer_new(r->loop, relay_prune_cb, r);
	if (r->listener == NULL || r->prune_timer == NULL)
		return -ENOMEM;
	loop_timer_arm(r->prune_timer, RELAY_PRUNE_MS);
	return 0;
}

/* Writes the last summaries and frees the summarisers. */
static void
relay_pair_free_logs(struct relay *r)
{
	logsum_free(r->refuse_log);
	r->refuse_log = NULL;
	logsum_free(r->cap_log);
	r->cap_log = NULL;
}

void
relay_pair_stop(struct relay *r)
{
	struct relay_half *h, *hnext;
	struct hmap_node *n, *next;
	size_t iter = 0;

	listener_free(r->listener);
	r->listener = NULL;
	if (r->prune_timer == NULL) {
		relay_pair_free_logs(r);	/* never started */
		return;
	}
	TAILQ_FOREACH_SAFE(h, &r->halves, entry, hnext)
		relay_half_refuse(h, RELAY_E_PAIR_TIMEOUT, "relay shutting "
		    "down");
	for (n = hmap_first(&r->used, &iter); n; n = next) {
		next = hmap_next(&r->used, n, &iter);
		hmap_remove(&r->used, n);
		free(hmap_entry(n, struct relay_used, node));
	}
	loop_timer_free(r->prune_timer);
	r->prune_timer = NULL;
	relay_pair_free_logs(r);
	hmap_release(&r->pending);
	hmap_release(&r->used);
	hmap_release(&r->sources);
}
