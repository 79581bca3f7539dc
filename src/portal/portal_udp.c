/* SPDX-License-Identifier: MIT */
/*
 * Datagram flows: UDP through a tunnel.
 *
 * Client side, a udp rule's listener is one UDP socket; each client source
 * address is a flow, opened in the tunnel with OPEN (flag DGRAM) and carried
 * as DGRAM frames, one datagram each, never merged or split, up to 65,507
 * bytes.  Service side, each flow has its own UDP socket connected to the
 * target, so that replies return to the right client.  Flows end when
 * their rule goes away, or after a time without a datagram: udp.flow_idle
 * for a flow that has carried more than one exchange, udp.flow_idle_new
 * (shorter) until then.  Most UDP traffic through a rule is one request
 * and one reply from a fresh source port (DNS above all): such a flow is
 * finished once its reply is back, and holding its socket for the long
 * timeout would let a client that asks 17 times a second fill 1,024 flows.
 * A rule has at most udp.max_flows of them (per tunnel on the service
 * side); see udp_make_room() for what a full table does.
 *
 * Datagrams are never allowed to pile up without bound: when the tunnel or
 * a socket is busy they wait in a queue of udp.queue entries per flow and
 * direction, and beyond that the oldest are dropped and counted.
 *
 * A captured flow (portal_capture.c) is a client-side flow with a socket
 * of its own, connected to the client: what it reads are requests, what
 * the peer sends goes to it.
 *
 * The flow logic knows only frames and sockets; how DGRAM frames travel
 * (today inside the tunnel's TLS stream) is the tunnel's business.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "core/err.h"
#include "core/log.h"
#include "portal/portal_tunnel.h"

/* Datagrams handled per wake-up of a socket, for fairness. */
#define UDP_ROUNDS		64
/* Bytes a flow queues each way, besides the count cap. */
#define UDP_QUEUE_BYTES		(1024 * 1024)
/*
 * Kernel receive buffer of a udp rule's socket: every client's datagrams
 * land there, so a burst from many clients needs more than the default
 * (about 200 datagrams).  Beyond net.core.rmem_max only a privileged
 * process gets it; others get what the kernel allows.
 */
#define UDP_LISTENER_RCVBUF	(4 * 1024 * 1024)

struct udp_listener {
	struct portal_listener	*pl;		/* borrowed: the owner */
	int			 fd;
	struct event		*rev, *wev;
	struct hmap		 flows;		/* streams, by source address */
	size_t			 nflows;
	struct dgramq		 out;		/* replies the socket refused */
	struct stream_list	 done;		/* finished exchanges,
						 * oldest first */
	uint64_t		 refused;	/* datagrams of flows over cap */
	uint64_t		 last_refuse_log_ms;
	uint64_t		 evicted;	/* flows ended to make room */
	uint64_t		 last_evict_log_ms;
};

/* At most one summary line per this, for a full flow table. */
#define UDP_FULL_LOG_MS		10000

uint8_t *
portal_udp_scratch(struct portal *p)
{
	if (p->udp_scratch == NULL)
		p->udp_scratch = malloc(MUX_MAX_DGRAM + 1);
	return p->udp_scratch;
}

#define udp_scratch portal_udp_scratch

static void	udp_flow_cb(evutil_socket_t fd, short what, void *arg);

static int
udp_addr_eq(const struct hmap_node *n, const void *key)
{
	const struct stream *s = hmap_entry_const(n, struct stream,
	    flow_node);
	const struct sockaddr_storage *a = key;

	return s->srclen > 0 && memcmp(&s->src, a, s->srclen) == 0;
}

/* Hashes the family, address and port, not the padding. */
static uint64_t
udp_addr_hash(const struct sockaddr_storage *ss, socklen_t len)
{
	return hmap_hash_bytes(ss, len);
}

/* Where the flow waits while it is a finished single exchange. */
static struct stream_list *
udp_done_list(struct stream *s)
{
	return s->ul != NULL ? &s->ul->done : &tunnel_udp(s->t)->done;
}

static void
udp_done_remove(struct stream *s)
{
	if (s->in_done) {
		TAILQ_REMOVE(udp_done_list(s), s, done_entry);
		s->in_done = 0;
	}
}

/* How long the flow may be quiet, by what it has carried so far. */
static uint64_t
udp_flow_idle_ms(const struct stream *s)
{
	const struct portal_conf *c = s->p->conf;

	return (uint64_t)(s->established ? c->udp_flow_idle :
	    c->udp_flow_idle_new);
}

/* A datagram from the client: after a reply, a second exchange begins. */
static void
udp_flow_request(struct stream *s)
{
	if (s->replied && !s->established) {
		s->asked_again = 1;
		udp_done_remove(s);
	}
}

/* A datagram from the target. */
static void
udp_flow_reply(struct stream *s)
{
	s->replied = 1;
	if (s->established)
		return;
	udp_done_remove(s);
	if (s->asked_again) {
		s->established = 1;
		log_debug(&s->log, "flow %u carries more than one exchange: "
		    "idle timeout %lld ms (udp.flow_idle)", s->id,
		    s->p->conf->udp_flow_idle);
		return;
	}
	/* At the tail: the head is the exchange that finished first. */
	TAILQ_INSERT_TAIL(udp_done_list(s), s, done_entry);
	s->in_done = 1;
}

/*
 * A flow table is full and a new client comes.  Refusing it, as a NAT
 * does when its table is full, would make a DNS forwarder useless under
 * load while its table holds mostly exchanges that are over: their reply
 * came back, and a client that asks from a fresh port each time will not
 * send on the old one again.  So the new client takes the place of the
 * flow whose single exchange finished longest ago (done: the list to take
 * it from).  Never taken: an established flow (it has shown that it keeps
 * talking, and a flood of new source addresses must not push it out), and
 * a flow still waiting for its reply (ending it would lose that reply).
 * Returns 1 when a flow was ended, 0 when there is none to end and the
 * new client must be refused.
 */
static int
udp_make_room(struct stream_list *done)
{
	struct stream *old = TAILQ_FIRST(done);

	if (old == NULL)
		return 0;
	stream_reset(old, MUX_R_IDLE, "ended to make room for a new client "
	    "(udp.max_flows); its exchange had finished %llu ms before",
	    (unsigned long long)(loop_now_ms() - old->last_active_ms));
	tunnel_flush_soon(old->t);
	return 1;
}

/* Puts one datagram into the tunnel, or queues it; 1 if it was sent. */
static int
udp_to_tunnel(struct stream *s, const void *p, size_t len)
{
	struct tunnel *t = s->t;

	s->last_active_ms = loop_now_ms();
	/*
	 * Outside the byte stream when the path can (QUIC DATAGRAM), once
	 * the peer surely has the flow: on the service side, or when a reply
	 * came back.  A datagram there may overtake the stream's OPEN.
	 */
	if (s->state == ST_OPEN && s->to_peer.n == 0 &&
	    ((s->ul == NULL && !s->capture_flow) || s->dgrams_down > 0) &&
	    tunnel_send_dgram_unordered(t, s->id, p, len) == 0) {
		s->dgrams_up++;
		s->bytes_up += len;
		return 1;
	}
	if (s->state == ST_OPEN && s->to_peer.n == 0 && !tunnel_out_full(t) &&
	    tunnel_send_dgram(t, s->id, p, len) == 0) {
		s->dgrams_up++;
		s->bytes_up += len;
		return 1;
	}
	(void)dgramq_push(&s->to_peer, p, len, NULL, 0);
	if (s->state == ST_OPEN)
		tunnel_block(t, s);
	return 0;
}

void
udp_flow_resume(struct stream *s)
{
	struct tunnel *t = s->t;
	const struct dgram *d;

	while (s->state == ST_OPEN && (d = dgramq_peek(&s->to_peer)) != NULL) {
		if (tunnel_out_full(t)) {
			tunnel_block(t, s);
			return;
		}
		if (tunnel_send_dgram(t, s->id, d->data, d->len) != 0) {
			tunnel_block(t, s);
			return;
		}
		s->dgrams_up++;
		s->bytes_up += d->len;
		dgramq_pop(&s->to_peer);
	}
}

void
udp_flow_start(struct stream *s)
{
	struct tunnel *t = s->t;

	if (tunnel_send_open(t, s->id, s->rule, 1, &s->dest) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "cannot queue OPEN");
		return;
	}
	s->state = ST_OPEN;
	tunnel_count_flow(t, 1);
	s->flow_counted = 1;
	log_debug(&s->log, "flow %u opened for %s (rule %s)", s->id,
	    s->target, s->rule);
	/* A captured flow's own socket: the client's next datagrams. */
	if (s->rev != NULL && event_add(s->rev, NULL) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
		return;
	}
	udp_flow_resume(s);
}

void
udp_flow_closed(struct stream *s)
{
	struct udp_listener *ul = s->ul;

	if (s->flow_counted) {
		tunnel_count_flow(s->t, -1);
		s->flow_counted = 0;
	}
	udp_done_remove(s);
	log_info(&s->log, "flow %u (rule %s, %s) ended: %llu datagrams up, "
	    "%llu down, %llu dropped", s->id, s->rule, s->target,
	    (unsigned long long)s->dgrams_up,
	    (unsigned long long)s->dgrams_down,
	    (unsigned long long)(s->to_peer.dropped + s->to_app.dropped));
	dgramq_clear(&s->to_peer);
	dgramq_clear(&s->to_app);
	if (ul) {
		hmap_remove(&ul->flows, &s->flow_node);
		ul->nflows--;
		s->ul = NULL;
	}
	portal_capture_flow_closed(s->p, s);
}

/* Ends an idle flow; re-arms for the rest of the idle time otherwise. */
static void
udp_flow_timer_cb(struct loop_timer *timer, void *arg)
{
	struct stream *s = arg;
	struct tunnel *t = s->t;
	uint64_t idle = udp_flow_idle_ms(s);
	uint64_t quiet = loop_now_ms() - s->last_active_ms;

	if (quiet < idle) {
		loop_timer_arm(timer, idle - quiet);
		return;
	}
	stream_reset(s, MUX_R_IDLE, "no datagram for %llu ms (%s)",
	    (unsigned long long)quiet, s->established ? "udp.flow_idle" :
	    "udp.flow_idle_new");
	tunnel_flush(t);
}

static int
udp_flow_init(struct stream *s)
{
	struct portal_conf *c = s->p->conf;

	s->dgram = 1;
	dgramq_init(&s->to_peer, (size_t)c->udp_queue, UDP_QUEUE_BYTES);
	dgramq_init(&s->to_app, (size_t)c->udp_queue, UDP_QUEUE_BYTES);
	s->last_active_ms = loop_now_ms();
	if ((s->timer = loop_timer_new(s->p->loop, udp_flow_timer_cb,
	    s)) == NULL)
		return -ENOMEM;
	loop_timer_arm(s->timer, udp_flow_idle_ms(s));
	return 0;
}

/* Client side: the flow of a source address, made on its first datagram. */
static struct stream *
udp_flow_get(struct udp_listener *ul, const struct sockaddr_storage *src,
    socklen_t srclen)
{
	struct portal *p = ul->pl->p;
	struct hmap_node *n;
	struct stream *s;
	struct tunnel *t;
	uint64_t hash = udp_addr_hash(src, srclen), now;
	char why[128], addr[NET_ADDR_STR_MAX];
	size_t nwaiting;

	if ((n = hmap_find(&ul->flows, hash, udp_addr_eq, src)) != NULL)
		return hmap_entry(n, struct stream, flow_node);
	net_addr_format((const struct sockaddr *)src, addr, sizeof(addr));
	now = loop_now_ms();
	if (ul->nflows >= (size_t)p->conf->udp_max_flows &&
	    udp_make_room(&ul->done)) {
		ul->evicted++;
		if (now - ul->last_evict_log_ms >= UDP_FULL_LOG_MS) {
			ul->last_evict_log_ms = now;
			log_warn(NULL, "rule %s: %lld flows (udp.max_flows); "
			    "new clients such as %s take the places of "
			    "finished exchanges (%llu so far)",
			    ul->pl->rule.name, p->conf->udp_max_flows, addr,
			    (unsigned long long)ul->evicted);
		}
	}
	if (ul->nflows >= (size_t)p->conf->udp_max_flows) {
		ul->refused++;
		if (now - ul->last_refuse_log_ms >= UDP_FULL_LOG_MS) {
			ul->last_refuse_log_ms = now;
			log_warn(NULL, "rule %s: %zu flows (udp.max_flows), "
			    "each established or waiting for its reply; "
			    "dropping datagrams from new clients such as %s "
			    "(%llu so far)", ul->pl->rule.name, ul->nflows, addr,
			    (unsigned long long)ul->refused);
		}
		return NULL;
	}
	if ((t = tunnel_for_rule(p, &ul->pl->rule, why, sizeof(why))) == NULL) {
		log_warn(NULL, "UDP flow from %s for rule %s refused: %s", addr,
		    ul->pl->rule.name, why);
		return NULL;
	}
	if ((s = stream_alloc(t, ul->pl->rule.name, -1)) == NULL)
		return NULL;
	snprintf(s->target, sizeof(s->target), "%s", addr);
	if (ul->pl->rule.has_ports)
		s->dest.port = ul->pl->rule.listen.port;
	memcpy(&s->src, src, srclen);
	s->srclen = srclen;
	if (udp_flow_init(s) != 0 ||
	    hmap_insert(&ul->flows, &s->flow_node, hash) != 0) {
		loop_timer_free(s->timer);
		s->timer = NULL;
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
		return NULL;
	}
	s->ul = ul;
	ul->nflows++;
	if (tunnel_add_stream(t, s, &nwaiting) != 0) {
		log_warn(&s->log, "UDP flow from %s for rule %s dropped: %zu "
		    "streams already wait for the tunnel (tunnel.max_waiting)",
		    addr, ul->pl->rule.name, nwaiting);
		stream_reset(s, MUX_R_TUNNEL_FAILED, "too many waiting");
		return NULL;
	}
	return s;
}

struct stream *
udp_capture_flow(struct portal *p, const struct portal_rule *rule, int fd,
    const struct sockaddr_storage *src, socklen_t srclen,
    const struct mux_dest *dest)
{
	struct event_base *base = loop_base(p->loop);
	struct tunnel *t;
	struct stream *s;
	char why[128], addr[NET_ADDR_STR_MAX];
	size_t nwaiting;

	net_addr_format((const struct sockaddr *)src, addr, sizeof(addr));
	if ((t = tunnel_for_rule(p, rule, why, sizeof(why))) == NULL) {
		log_warn(NULL, "UDP flow from %s for rule %s refused: %s", addr,
		    rule->name, why);
		close(fd);
		return NULL;
	}
	if ((s = stream_alloc(t, rule->name, fd)) == NULL) {
		close(fd);
		return NULL;
	}
	snprintf(s->target, sizeof(s->target), "%s", addr);
	memcpy(&s->src, src, srclen);
	s->srclen = srclen;
	s->dest = *dest;
	/* Read once the flow is open (udp_flow_start). */
	s->rev = event_new(base, fd, EV_READ | EV_PERSIST, udp_flow_cb, s);
	s->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, udp_flow_cb, s);
	if (s->rev == NULL || s->wev == NULL || udp_flow_init(s) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
		return NULL;
	}
	if (tunnel_add_stream(t, s, &nwaiting) != 0) {
		log_warn(&s->log, "UDP flow from %s for rule %s dropped: %zu "
		    "streams already wait for the tunnel (tunnel.max_waiting)",
		    addr, rule->name, nwaiting);
		stream_reset(s, MUX_R_TUNNEL_FAILED, "too many waiting");
		return NULL;
	}
	return s;
}

void
udp_capture_input(struct stream *s, const uint8_t *data, size_t len)
{
	if (s->state == ST_CLOSED)
		return;
	udp_flow_request(s);
	udp_to_tunnel(s, data, len);
}

/* Client side: datagrams from applications. */
static void
udp_listener_read(struct udp_listener *ul)
{
	struct portal *p = ul->pl->p;
	struct sockaddr_storage src;
	struct tunnel *touched[UDP_ROUNDS];
	struct stream *s;
	uint8_t *buf;
	socklen_t len;
	ssize_t n;
	int i, j, ntouched = 0;

	if ((buf = udp_scratch(p)) == NULL) {
		log_error(NULL, "rule %s: out of memory for datagrams",
		    ul->pl->rule.name);
		return;
	}
	for (i = 0; i < UDP_ROUNDS; i++) {
		len = sizeof(src);
		memset(&src, 0, sizeof(src));
		/* One byte more than a datagram may have: tells truncation. */
		n = recvfrom(ul->fd, buf, MUX_MAX_DGRAM + 1, 0,
		    (struct sockaddr *)&src, &len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n > MUX_MAX_DGRAM)
			continue;	/* cannot be: IPv6 jumbograms only */
		if ((s = udp_flow_get(ul, &src, len)) == NULL)
			continue;
		udp_flow_request(s);
		udp_to_tunnel(s, buf, (size_t)n);
		for (j = 0; j < ntouched && touched[j] != s->t; j++)
			;
		if (j == ntouched)
			touched[ntouched++] = s->t;
	}
	for (j = 0; j < ntouched; j++)
		tunnel_flush(touched[j]);
}

/* Client side: replies the socket could not take at once. */
static void
udp_listener_write(struct udp_listener *ul)
{
	const struct dgram *d;
	ssize_t n;

	while ((d = dgramq_peek(&ul->out)) != NULL) {
		n = sendto(ul->fd, d->data, d->len, MSG_DONTWAIT,
		    (const struct sockaddr *)&d->addr, d->addrlen);
		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS))
			return;
		dgramq_pop(&ul->out);	/* sent, or failed for good */
	}
	event_del(ul->wev);
}

static void
udp_listener_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_listener *ul = arg;

	if (what & EV_WRITE)
		udp_listener_write(ul);
	if (what & EV_READ)
		udp_listener_read(ul);
}

int
udp_listener_open(struct portal *p, struct portal_listener *l)
{
	struct udp_listener *ul;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r;

	if ((r = net_resolve(&l->rule.listen, SOCK_DGRAM, &ss, &len)) != 0)
		return r;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = UDP_LISTENER_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &r, sizeof(r)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r, sizeof(r));
	if ((ul = calloc(1, sizeof(*ul))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	ul->pl = l;
	ul->fd = fd;
	hmap_init(&ul->flows);
	TAILQ_INIT(&ul->done);
	dgramq_init(&ul->out, (size_t)p->conf->udp_queue, UDP_QUEUE_BYTES);
	ul->rev = event_new(loop_base(p->loop), fd, EV_READ | EV_PERSIST,
	    udp_listener_cb, ul);
	ul->wev = event_new(loop_base(p->loop), fd, EV_WRITE | EV_PERSIST,
	    udp_listener_cb, ul);
	if (ul->rev == NULL || ul->wev == NULL ||
	    event_add(ul->rev, NULL) != 0) {
		l->udp = ul;
		udp_listener_close(l);
		return -ENOMEM;
	}
	l->udp = ul;
	return 0;
}

void
udp_listener_close(struct portal_listener *l)
{
	struct udp_listener *ul = l->udp;
	struct hmap_node *n, *next;
	struct stream *s;
	size_t iter = 0;

	if (ul == NULL)
		return;
	for (n = hmap_first(&ul->flows, &iter); n; n = next) {
		next = hmap_next(&ul->flows, n, &iter);
		s = hmap_entry(n, struct stream, flow_node);
		stream_reset(s, MUX_R_RULE_REVOKED, "rule %s: its listener "
		    "closed", l->rule.name);
		tunnel_flush(s->t);
	}
	if (ul->rev)
		event_free(ul->rev);
	if (ul->wev)
		event_free(ul->wev);
	dgramq_clear(&ul->out);
	hmap_release(&ul->flows);
	close(ul->fd);
	free(ul);
	l->udp = NULL;
}

/* Service side: datagrams from the target go back through the tunnel. */
static void
udp_flow_read(struct stream *s)
{
	uint8_t *buf = udp_scratch(s->p);
	ssize_t n;
	int i;

	if (buf == NULL)
		return;
	for (i = 0; i < UDP_ROUNDS && s->state == ST_OPEN; i++) {
		n = recv(s->fd, buf, MUX_MAX_DGRAM + 1, 0);
		if (n < 0) {
			/* ECONNREFUSED: an ICMP error for an earlier
			 * datagram; the flow goes on, like UDP itself. */
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			break;
		}
		if (n > MUX_MAX_DGRAM)
			continue;
		if (s->capture_flow)
			udp_flow_request(s);	/* from the client */
		else
			udp_flow_reply(s);	/* from the target */
		udp_to_tunnel(s, buf, (size_t)n);
	}
}

/* Sends what waits for the target (service) socket. */
static void
udp_flow_write(struct stream *s)
{
	const struct dgram *d;
	ssize_t n;

	while ((d = dgramq_peek(&s->to_app)) != NULL) {
		n = send(s->fd, d->data, d->len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			event_add(s->wev, NULL);
			return;
		}
		dgramq_pop(&s->to_app);
	}
	event_del(s->wev);
}

static void
udp_flow_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;

	if (what & EV_WRITE)
		udp_flow_write(s);
	if (what & EV_READ)
		udp_flow_read(s);
	tunnel_flush(s->t);
}

void
udp_on_dgram(struct stream *s, const struct mux_frame *f)
{
	struct udp_listener *ul;
	ssize_t n;

	if (s == NULL || s->state == ST_CLOSED)
		return;
	if (!s->dgram) {
		stream_reset(s, MUX_R_PROTOCOL, "DGRAM on a byte stream");
		return;
	}
	s->last_active_ms = loop_now_ms();
	s->dgrams_down++;
	s->bytes_down += f->hdr.len;
	if ((ul = s->ul) != NULL) {
		/* Client side: to the application's address. */
		udp_flow_reply(s);
		if (ul->out.n == 0) {
			n = sendto(ul->fd, f->data, f->hdr.len, MSG_DONTWAIT,
			    (const struct sockaddr *)&s->src, s->srclen);
			if (n >= 0 || (errno != EAGAIN && errno != ENOBUFS))
				return;
		}
		(void)dgramq_push(&ul->out, f->data, f->hdr.len,
		    (const struct sockaddr *)&s->src, s->srclen);
		event_add(ul->wev, NULL);
		return;
	}
	/* Service side: to the target, once connected; a captured flow:
	 * back to the client. */
	if (s->capture_flow)
		udp_flow_reply(s);
	else
		udp_flow_request(s);
	if (s->state == ST_OPEN && s->to_app.n == 0) {
		n = send(s->fd, f->data, f->hdr.len, MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != ENOBUFS))
			return;
	}
	(void)dgramq_push(&s->to_app, f->data, f->hdr.len, NULL, 0);
	if (s->state == ST_OPEN)
		event_add(s->wev, NULL);
}

static void
udp_target_resolved_cb(int err, const struct sockaddr *sa, socklen_t salen,
    void *arg)
{
	struct stream *s = arg;
	struct tunnel *t = s->t;
	struct event_base *base = loop_base(s->p->loop);
	char addr[NET_ADDR_STR_MAX];

	s->dns = NULL;
	if (s->state != ST_CONNECTING)
		return;
	if (err) {
		stream_reset(s, MUX_R_UNREACHABLE, "cannot resolve %s: %s",
		    s->target, evutil_gai_strerror(err));
		goto out;
	}
	net_addr_format(sa, addr, sizeof(addr));
	if (!s->allowed_by_name && !allowlist_match_addr(&s->p->allow, sa)) {
		stream_reset(s, MUX_R_NOT_ALLOWED, "target %s (%s) is not in "
		    "the local allow-list", s->target, addr);
		goto out;
	}
	/* Connected, so that the kernel keeps only this target's replies. */
	s->fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (s->fd >= 0)
		(void)net_mark_socket(s->fd);
	if (s->fd < 0 || connect(s->fd, sa, salen) != 0) {
		stream_reset(s, MUX_R_UNREACHABLE, "udp socket to %s (%s): %s",
		    s->target, addr, strerror(errno));
		goto out;
	}
	s->rev = event_new(base, s->fd, EV_READ | EV_PERSIST, udp_flow_cb, s);
	s->wev = event_new(base, s->fd, EV_WRITE | EV_PERSIST, udp_flow_cb, s);
	if (s->rev == NULL || s->wev == NULL || event_add(s->rev, NULL) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
		goto out;
	}
	s->state = ST_OPEN;
	tunnel_count_flow(t, 1);
	s->flow_counted = 1;
	log_debug(&s->log, "flow %u to %s (%s) for rule %s", s->id, s->target,
	    addr, s->rule);
	udp_flow_write(s);
out:
	tunnel_flush(t);
}

void
udp_on_open(struct tunnel *t, const struct mux_frame *f)
{
	struct portal *p = tunnel_portal(t);
	const struct portal_rule *rule;
	struct conf_endpoint target;
	struct stream *s;

	if ((s = stream_accept(t, f, PROTO_UDP, &rule, &target)) == NULL)
		return;
	if (udp_flow_init(s) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
		return;
	}
	/* The cap per rule, counted per client portal (one tunnel each). */
	if (tunnel_nflows(t) >= (size_t)p->conf->udp_max_flows &&
	    udp_make_room(&tunnel_udp(t)->done)) {
		struct tunnel_udp *tu = tunnel_udp(t);

		tu->evicted++;
		if (loop_now_ms() - tu->evict_log_ms >= UDP_FULL_LOG_MS) {
			tu->evict_log_ms = loop_now_ms();
			log_warn(tunnel_log(t), "%lld flows in this tunnel "
			    "(udp.max_flows); new flows take the places of "
			    "finished exchanges (%llu so far)",
			    p->conf->udp_max_flows,
			    (unsigned long long)tu->evicted);
		}
	}
	if (tunnel_nflows(t) >= (size_t)p->conf->udp_max_flows) {
		stream_reset(s, MUX_R_INTERNAL, "%zu flows in this tunnel "
		    "(udp.max_flows), each established or waiting for its "
		    "reply", tunnel_nflows(t));
		return;
	}
	conf_endpoint_format(&target, s->target, sizeof(s->target));
	s->allowed_by_name = allowlist_match_name(&p->allow, target.host,
	    target.port);
	s->dns = net_resolve_start(p->loop, target.host, target.port,
	    udp_target_resolved_cb, s);
}
