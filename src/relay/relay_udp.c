/* SPDX-License-Identifier: MIT */
/*
 * Pairing portals over UDP, for QUIC tunnels through the relay: a UDP
 * socket on the listener's port number.  A portal registers from the
 * socket its QUIC path will use: RELAY_UDP_REGISTER and the relay
 * handshake request with the grant's ticket, repeated until answered.
 * The ticket is checked as over TCP (relay_check_request), and a side is
 * taken once per tunnel (relay_mark_used, apart from TCP's); the same
 * address registering again only gets the answer again.  Once both sides
 * of a tunnel are there, every other datagram from one side's address is
 * sent to the other's, unread: the tunnel's TLS runs inside QUIC, end to
 * end.
 *
 * The table is two maps: pairs by tunnel id (registration) and sides by
 * source address (forwarding), one lookup per datagram; a later eBPF
 * fast path can hold the second as a hash of address to address.  Halves
 * that find no partner within pairing_timeout, and pairs idle for
 * RELAY_UDP_IDLE_MS, are dropped; at most capacity pairs exist at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/hmap.h"
#include "core/log.h"
#include "core/logsum.h"
#include "core/net.h"
#include "relay/relay_impl.h"

/* A pair that forwards nothing for this long is forgotten. */
#define RELAY_UDP_IDLE_MS	(60 * 1000)
#define RELAY_UDP_PRUNE_MS	1000

struct relay_udp_pair;

/* One side of a pair: its address, and its place in the address map. */
struct relay_udp_side {
	struct hmap_node	 node;		/* in by_addr, once known */
	struct relay_udp_pair	*pair;
	struct sockaddr_storage	 addr;
	socklen_t		 len;
	int			 present;
	uint64_t		 datagrams, bytes;	/* forwarded from it */
};

struct relay_udp_pair {
	struct hmap_node	 node;		/* in by_id */
	uint8_t			 tunnel_id[TICKET_TUNNEL_ID_LEN];
	char			 who[2 * NP_NAME_MAX + 8];
	struct relay_udp_side	 side[2];	/* client, service */
	uint64_t		 created_ms, last_ms;
	int			 paired;
};

struct relay_udp {
	struct relay		*r;		/* borrowed */
	int			 fd;
	uint16_t		 port;
	struct event		*ev;
	struct loop_timer	*prune;
	struct hmap		 by_id, by_addr;
	size_t			 npairs, npaired;
	uint64_t		 datagrams, bytes, dropped, refused;
	struct logsum		*refuse_log;
};

static uint64_t
relay_udp_addr_hash(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
	uint8_t key[18];

	if (ss->ss_family == AF_INET6) {
		memcpy(key, &in6->sin6_addr, 16);
		memcpy(key + 16, &in6->sin6_port, 2);
		return hmap_hash_bytes(key, 18);
	}
	memcpy(key, &in->sin_addr, 4);
	memcpy(key + 4, &in->sin_port, 2);
	return hmap_hash_bytes(key, 6);
}

static int
relay_udp_addr_same(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	return net_sockaddr_same((const struct sockaddr *)a,
	    (const struct sockaddr *)b);
}

static int
relay_udp_side_eq(const struct hmap_node *n, const void *key)
{
	const struct relay_udp_side *s =
	    hmap_entry_const(n, struct relay_udp_side, node);

	return relay_udp_addr_same(&s->addr, key);
}

static int
relay_udp_pair_eq(const struct hmap_node *n, const void *key)
{
	const struct relay_udp_pair *p =
	    hmap_entry_const(n, struct relay_udp_pair, node);

	return memcmp(p->tunnel_id, key, TICKET_TUNNEL_ID_LEN) == 0;
}

static void
relay_udp_pair_free(struct relay_udp *u, struct relay_udp_pair *p)
{
	int i;

	for (i = 0; i < 2; i++)
		if (p->side[i].present)
			hmap_remove(&u->by_addr, &p->side[i].node);
	hmap_remove(&u->by_id, &p->node);
	if (p->paired)
		u->npaired--;
	u->npairs--;
	free(p);
}

static void
relay_udp_answer(struct relay_udp *u, const struct sockaddr_storage *to,
    socklen_t tolen, enum relay_status status)
{
	uint8_t b[1 + RELAY_REPLY_LEN];

	b[0] = RELAY_UDP_ANSWER;
	relay_hs_encode_reply(b + 1, status);
	(void)sendto(u->fd, b, sizeof(b), MSG_DONTWAIT,
	    (const struct sockaddr *)to, tolen);
}

static void
relay_udp_refuse(struct relay_udp *u, const struct sockaddr_storage *from,
    socklen_t fromlen, enum relay_status status, const char *why)
{
	char addr[NET_ADDR_STR_MAX], src[NET_ADDR_STR_MAX];

	u->refused++;
	relay_metrics_refused("udp", status);
	net_addr_format((const struct sockaddr *)from, addr, sizeof(addr));
	net_addr_source((const struct sockaddr *)from, src, sizeof(src));
	if (logsum_note(u->refuse_log, src, why))
		log_info(NULL, "UDP: refused a registration from %s: %s", addr,
		    why);
	relay_udp_answer(u, from, fromlen, status);
}

/* A registration: check it, then record the side, and pair. */
static void
relay_udp_register(struct relay_udp *u, const uint8_t *d, size_t n,
    const struct sockaddr_storage *from, socklen_t fromlen)
{
	struct relay *r = u->r;
	struct relay_udp_pair *p = NULL;
	struct relay_udp_side *s;
	enum relay_status status;
	struct hmap_node *node;
	struct ticket t;
	const char *why;
	uint8_t side;
	uint64_t hash;
	int rc;

	if (relay_check_request(r, d + 1, n - 1, &t, &side, &status,
	    &why) != 0) {
		relay_udp_refuse(u, from, fromlen, status, why);
		return;
	}
	hash = hmap_hash_bytes(t.tunnel_id, TICKET_TUNNEL_ID_LEN);
	if ((node = hmap_find(&u->by_id, hash, relay_udp_pair_eq,
	    t.tunnel_id)) != NULL)
		p = hmap_entry(node, struct relay_udp_pair, node);
	s = p != NULL ? &p->side[side - 1] : NULL;
	/* The same side again from the same address: a repeat. */
	if (s != NULL && s->present) {
		if (!relay_udp_addr_same(&s->addr, from)) {
			relay_udp_refuse(u, from, fromlen, RELAY_E_REPLAY,
			    "ticket already presented for this side (replay)");
			return;
		}
		relay_udp_answer(u, from, fromlen, p->paired ? RELAY_OK :
		    RELAY_WAITING);
		return;
	}
	/* An address already forwarding for another tunnel is not reused. */
	if (hmap_find(&u->by_addr, relay_udp_addr_hash(from),
	    relay_udp_side_eq, from) != NULL) {
		relay_udp_refuse(u, from, fromlen, RELAY_E_MALFORMED,
		    "address already paired for another tunnel");
		return;
	}
	if (p == NULL && u->npairs >= (size_t)r->conf->capacity) {
		relay_udp_refuse(u, from, fromlen, RELAY_E_CAPACITY,
		    "UDP pairs at capacity");
		return;
	}
	if ((rc = relay_mark_used(r, &t, side + RELAY_SIDE_UDP)) != 0) {
		relay_udp_refuse(u, from, fromlen, rc == -1 ? RELAY_E_REPLAY :
		    RELAY_E_CAPACITY, rc == -1 ? "ticket already presented "
		    "for this side (replay)" : "out of memory");
		return;
	}
	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    hmap_insert(&u->by_id, &p->node, hash) != 0) {
			free(p);
			relay_udp_refuse(u, from, fromlen, RELAY_E_CAPACITY,
			    "out of memory");
			return;
		}
		memcpy(p->tunnel_id, t.tunnel_id, sizeof(p->tunnel_id));
		snprintf(p->who, sizeof(p->who), "%s>%s", t.initiator,
		    t.acceptor);
		p->created_ms = p->last_ms = loop_now_ms();
		p->side[0].pair = p->side[1].pair = p;
		u->npairs++;
	}
	s = &p->side[side - 1];
	memcpy(&s->addr, from, fromlen);
	s->len = fromlen;
	if (hmap_insert(&u->by_addr, &s->node, relay_udp_addr_hash(from)) !=
	    0) {
		relay_udp_refuse(u, from, fromlen, RELAY_E_CAPACITY,
		    "out of memory");
		return;
	}
	s->present = 1;
	if (p->side[0].present && p->side[1].present) {
		char a[NET_ADDR_STR_MAX], b[NET_ADDR_STR_MAX];

		p->paired = 1;
		relay_metrics_paired("udp");
		p->last_ms = loop_now_ms();
		u->npaired++;
		net_addr_format((struct sockaddr *)&p->side[0].addr, a,
		    sizeof(a));
		net_addr_format((struct sockaddr *)&p->side[1].addr, b,
		    sizeof(b));
		log_info(NULL, "UDP: tunnel %s paired (%s, %s)", p->who, a, b);
		relay_udp_answer(u, &p->side[0].addr, p->side[0].len,
		    RELAY_OK);
		relay_udp_answer(u, &p->side[1].addr, p->side[1].len,
		    RELAY_OK);
		return;
	}
	relay_udp_answer(u, from, fromlen, RELAY_WAITING);
}

static void
relay_udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_udp *u = arg;
	static uint8_t in[65536];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct relay_udp_side *s, *other;
	struct hmap_node *node;
	ssize_t n;
	int budget;

	/* A bounded batch per wake-up: the loop stays fair to TCP. */
	for (budget = 256; budget > 0; budget--) {
		fromlen = sizeof(from);
		n = recvfrom(fd, in, sizeof(in), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			break;
		if (n >= 1 + RELAY_HS_HDR_LEN && in[0] == RELAY_UDP_REGISTER &&
		    memcmp(in + 1, RELAY_MAGIC, 3) == 0) {
			relay_udp_register(u, in, (size_t)n, &from, fromlen);
			continue;
		}
		node = hmap_find(&u->by_addr, relay_udp_addr_hash(&from),
		    relay_udp_side_eq, &from);
		if (node == NULL) {
			u->dropped++;	/* a stranger: no answer */
			continue;
		}
		s = hmap_entry(node, struct relay_udp_side, node);
		if (!s->pair->paired) {
			u->dropped++;
			continue;
		}
		other = &s->pair->side[s == &s->pair->side[0] ? 1 : 0];
		s->pair->last_ms = loop_now_ms();
		s->datagrams++;
		s->bytes += (uint64_t)n;
		u->datagrams++;
		u->bytes += (uint64_t)n;
		if (sendto(u->fd, in, (size_t)n, MSG_DONTWAIT,
		    (struct sockaddr *)&other->addr, other->len) < 0)
			u->dropped++;
	}
	if (budget == 0)
		event_active(u->ev, EV_READ, 0);
}

static void
relay_udp_prune_cb(struct loop_timer *timer, void *arg)
{
	struct relay_udp *u = arg;
	const uint64_t now = loop_now_ms();
	const uint64_t wait = (uint64_t)u->r->conf->pairing_timeout;
	struct relay_udp_pair *p;
	struct hmap_node *n, *next;
	size_t iter;

	for (n = hmap_first(&u->by_id, &iter); n != NULL; n = next) {
		next = hmap_next(&u->by_id, n, &iter);
		p = hmap_entry(n, struct relay_udp_pair, node);
		if (!p->paired && now - p->created_ms >= wait) {
			log_info(NULL, "UDP: tunnel %s: the other half did not "
			    "register within pairing_timeout", p->who);
			relay_udp_pair_free(u, p);
		} else if (p->paired && now - p->last_ms >= RELAY_UDP_IDLE_MS) {
			log_info(NULL, "UDP: tunnel %s closed: idle for %d s "
			    "(%llu + %llu datagrams forwarded)", p->who,
			    RELAY_UDP_IDLE_MS / 1000,
			    (unsigned long long)p->side[0].datagrams,
			    (unsigned long long)p->side[1].datagrams);
			relay_udp_pair_free(u, p);
		}
	}
	loop_timer_arm(u->prune, RELAY_UDP_PRUNE_MS);
}

int
relay_udp_start(struct relay *r, uint16_t port)
{
	struct conf_endpoint ep = r->conf->listen;
	struct relay_udp *u;
	int rc = -ENOMEM;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -ENOMEM;
	u->r = r;
	u->port = port;
	hmap_init(&u->by_id);
	hmap_init(&u->by_addr);
	ep.port = port;
	if ((u->fd = net_bind_udp(&ep)) < 0) {
		rc = u->fd;
		log_warn(NULL, "UDP: cannot bind %s:%u (%s): no relaying over "
		    "UDP", ep.host, port, strerror(-rc));
		free(u);
		return rc;
	}
	net_udp_buffers(u->fd, NET_UDP_BUFFER);
	if ((u->ev = event_new(loop_base(r->loop), u->fd, EV_READ | EV_PERSIST,
	    relay_udp_read_cb, u)) == NULL || event_add(u->ev, NULL) != 0 ||
	    (u->prune = loop_timer_new(r->loop, relay_udp_prune_cb,
	    u)) == NULL ||
	    (u->refuse_log = logsum_new(r->loop, "UDP registrations",
	    "refused", LOGLEVEL_INFO)) == NULL) {
		r->udp = u;
		relay_udp_stop(r);
		return rc;
	}
	loop_timer_arm(u->prune, RELAY_UDP_PRUNE_MS);
	r->udp = u;
	log_info(NULL, "UDP: pairing portals on port %u", port);
	return 0;
}

void
relay_udp_stop(struct relay *r)
{
	struct relay_udp *u = r->udp;
	struct hmap_node *n;
	size_t iter;

	if (u == NULL)
		return;
	while ((n = hmap_first(&u->by_id, &iter)) != NULL)
		relay_udp_pair_free(u, hmap_entry(n, struct relay_udp_pair,
		    node));
	hmap_release(&u->by_id);
	hmap_release(&u->by_addr);
	if (u->ev)
		event_free(u->ev);
	loop_timer_free(u->prune);
	logsum_free(u->refuse_log);
	if (u->fd >= 0)
		close(u->fd);
	free(u);
	r->udp = NULL;
}

json_t *
relay_udp_status(const struct relay *r)
{
	const struct relay_udp *u = r->udp;

	if (u == NULL)
		return json_null();
	return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "port",
	    (int)u->port, "pairs", (json_int_t)u->npaired, "waiting",
	    (json_int_t)(u->npairs - u->npaired), "datagrams",
	    (json_int_t)u->datagrams, "bytes", (json_int_t)u->bytes,
	    "dropped", (json_int_t)u->dropped, "refused",
	    (json_int_t)u->refused);
}

void
relay_udp_counts(const struct relay *r, size_t *paired, uint64_t *bytes)
{
	*paired = r->udp ? r->udp->npaired : 0;
	*bytes = r->udp ? r->udp->bytes : 0;
}
