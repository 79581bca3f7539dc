/* SPDX-License-Identifier: MIT */
/*
 * The portal's reflexive UDP address: a STUN Binding request (core/stun.h)
 * to the server's STUN port (told in WELCOME), from a UDP socket on the
 * direct listener's port number, answered with the address and port the
 * server saw, the portal's NAT mapping for UDP.  Asked when the control
 * session comes up and every few minutes after (mappings change), resent
 * three times on silence.  It is what UDP paths between portals will
 * punch toward; `netport status` shows it, and the log says when it
 * changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/candidate.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/net.h"
#include "core/stun.h"
#include "portal/portal_impl.h"

/* Resends after 500 ms, 1 s and 2 s (RFC 5389 starts at 500 ms). */
#define STUN_FIRST_RTO_MS	500
#define STUN_TRIES		4
/* A mapping is asked for again this often. */
#define STUN_REFRESH_MS		(5 * 60 * 1000)

struct portal_stun {
	struct portal		*p;		/* borrowed */
	int			 fd;
	int			 family;	/* of the socket */
	uint16_t		 local_port;
	struct event		*ev;
	struct loop_timer	*timer;
	struct sockaddr_storage	 server;
	socklen_t		 server_len;
	uint8_t			 id[STUN_ID_LEN];
	int			 tries;		/* of the query under way */
	int			 have_mapped;
	char			 mapped[NET_ADDR_STR_MAX];
	uint64_t		 mapped_ms;
	char			 why[160];	/* the last failure */
};

static void
stun_send(struct portal_stun *s)
{
	uint8_t req[STUN_HDR_LEN];

	stun_encode_request(req, s->id);
	if (sendto(s->fd, req, sizeof(req), MSG_DONTWAIT,
	    (struct sockaddr *)&s->server, s->server_len) < 0)
		log_debug(NULL, "STUN: sending to the server: %s",
		    strerror(errno));
	s->tries++;
	loop_timer_arm(s->timer, (uint64_t)STUN_FIRST_RTO_MS <<
	    (s->tries - 1));
}

/* A new query: a fresh transaction id, the first send. */
static void
stun_query(struct portal_stun *s)
{
	if (getrandom(s->id, sizeof(s->id), 0) != (ssize_t)sizeof(s->id))
		return;
	s->tries = 0;
	stun_send(s);
}

static void
stun_timer_cb(struct loop_timer *t, void *arg)
{
	struct portal_stun *s = arg;
	char addr[NET_ADDR_STR_MAX];

	if (s->tries == 0) {		/* refresh time */
		stun_query(s);
		return;
	}
	if (s->tries < STUN_TRIES) {
		stun_send(s);
		return;
	}
	net_addr_format((struct sockaddr *)&s->server, addr, sizeof(addr));
	if (s->why[0] == '\0')
		log_info(NULL, "STUN: no answer from the server at %s; no "
		    "reflexive UDP address (asking again in %d min)", addr,
		    STUN_REFRESH_MS / 60000);
	snprintf(s->why, sizeof(s->why), "no answer from the server's STUN "
	    "port (%s)", addr);
	s->tries = 0;
	loop_timer_arm(s->timer, STUN_REFRESH_MS);
}

/* The first two bits 0 and the magic cookie: a STUN message (a QUIC
 * packet matches by chance once in 2^32). */
static int
stun_looks_like(const uint8_t *p, size_t n)
{
	return n >= STUN_HDR_LEN && (p[0] & 0xc0) == 0 &&
	    ((uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	    (uint32_t)p[6] << 8 | p[7]) == STUN_COOKIE;
}

static void
stun_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct portal_stun *s = arg;
	/* One datagram at a time; a QUIC datagram may be this long. */
	static uint8_t in[65536];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	char addr[NET_ADDR_STR_MAX];
	struct stun_msg m;
	const char *why;
	ssize_t n;
	int changed;

	while ((n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from,
	    &fromlen)) >= 0) {
		/*
		 * One socket, three protocols.  STUN's first two bits are 0
		 * and its magic cookie follows the length; everything else
		 * goes to the QUIC paths (probes and QUIC).  The first byte
		 * alone, as RFC 7983 sorts, is not enough: ngtcp2 greases
		 * QUIC's fixed bit (RFC 9287), so a short header may start
		 * like STUN.
		 */
		if (!stun_looks_like(in, (size_t)n)) {
			portal_quic_input(s->p, in, (size_t)n,
			    (struct sockaddr *)&from, fromlen);
			fromlen = sizeof(from);
			continue;
		}
		fromlen = sizeof(from);
		/* Only the answer to the query under way counts. */
		if (s->tries == 0 || stun_parse(in, (size_t)n, &m, &why) != 0 ||
		    m.type != STUN_BINDING_SUCCESS || !m.has_mapped ||
		    memcmp(m.id, s->id, sizeof(s->id)) != 0)
			continue;
		net_addr_format((struct sockaddr *)&m.mapped, addr,
		    sizeof(addr));
		changed = !s->have_mapped || strcmp(addr, s->mapped) != 0;
		if (changed)
			log_info(NULL, "STUN: reflexive UDP address %s (local "
			    "port %u)", addr, s->local_port);
		snprintf(s->mapped, sizeof(s->mapped), "%s", addr);
		s->have_mapped = 1;
		s->mapped_ms = loop_now_ms();
		s->why[0] = '\0';
		s->tries = 0;
		loop_timer_arm(s->timer, STUN_REFRESH_MS);
		/* QUIC paths punch toward it: peers learn it (a 'stun'
		 * candidate). */
		if (changed && s->p->quic != NULL)
			portal_ctl_candidates_changed(s->p);
	}
}

/*
 * The UDP socket: on the direct listener's port number if it is free,
 * dual-stack where the host has IPv6.
 */
static int
stun_socket(struct portal_stun *s, uint16_t port)
{
	static const char *const hosts[] = { "::", "0.0.0.0" };
	const uint16_t ports[] = { port, 0 };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct conf_endpoint ep;
	size_t i, j;

	memset(&ep, 0, sizeof(ep));
	for (j = 0; j < 2; j++)
		for (i = 0; i < 2; i++) {
			snprintf(ep.host, sizeof(ep.host), "%s", hosts[i]);
			ep.port = ports[j];
			if ((s->fd = net_bind_udp(&ep)) >= 0)
				goto bound;
		}
	return s->fd;
bound:
	/* QUIC paths share it: bursts both ways. */
	net_udp_buffers(s->fd, NET_UDP_BUFFER);
	s->local_port = net_local_port(s->fd);
	if (getsockname(s->fd, (struct sockaddr *)&ss, &len) == 0)
		s->family = ss.ss_family;
	return 0;
}

/* An IPv4 address as a dual-stack socket wants it (::ffff:a.b.c.d). */
static void
stun_map_v4(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in in;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memcpy(&in, ss, sizeof(in));
	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = in.sin_port;
	in6->sin6_addr.s6_addr[10] = 0xff;
	in6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&in6->sin6_addr.s6_addr[12], &in.sin_addr, 4);
	*len = sizeof(*in6);
}

/* The socket and its event, once; 0 or -errno (logged). */
static int
stun_open(struct portal *p)
{
	struct portal_stun *s;
	int r = -ENOMEM;

	if (p->stun != NULL)
		return 0;
	if (portal_direct_port(p) == 0)
		return -ENOTCONN;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->p = p;
	s->fd = -1;
	p->stun = s;
	if ((r = stun_socket(s, portal_direct_port(p))) != 0 ||
	    (r = -ENOMEM, s->ev = event_new(loop_base(p->loop), s->fd,
	    EV_READ | EV_PERSIST, stun_read_cb, s)) == NULL ||
	    event_add(s->ev, NULL) != 0 ||
	    (s->timer = loop_timer_new(p->loop, stun_timer_cb, s)) == NULL) {
		log_warn(NULL, "direct UDP: no socket: %s", strerror(-r));
		portal_stun_stop(p);
		return r;
	}
	return 0;
}

int
portal_udp_open(struct portal *p, int *family, uint16_t *port)
{
	int r;

	if ((r = stun_open(p)) != 0)
		return r;
	*family = p->stun->family;
	*port = p->stun->local_port;
	return p->stun->fd;
}

void
portal_udp_map_v4(const struct portal *p, struct sockaddr_storage *ss,
    socklen_t *len)
{
	if (p->stun != NULL && p->stun->family == AF_INET6 &&
	    ss->ss_family == AF_INET)
		stun_map_v4(ss, len);
}

int
portal_stun_port_changed(const struct portal *p)
{
	const struct portal_stun *s = p->stun;
	const char *colon;

	if (s == NULL || !s->have_mapped ||
	    (colon = strrchr(s->mapped, ':')) == NULL)
		return 0;
	return atoi(colon + 1) != s->local_port;
}

int
portal_stun_mapped(const struct portal *p, struct candidate *out)
{
	const struct portal_stun *s = p->stun;
	char why[128];

	if (s == NULL || !s->have_mapped)
		return 0;
	memset(out, 0, sizeof(*out));
	out->kind = CAND_STUN;
	return conf_endpoint_parse(s->mapped, 1, 65535, &out->ep, why,
	    sizeof(why)) == 0;
}

void
portal_stun_session_up(struct portal *p, uint16_t stun_port)
{
	struct portal_stun *s;
	struct conf_endpoint ep;
	struct ctl_conn *c;
	char why[128];

	if (stun_port == 0 || portal_direct_port(p) == 0 ||
	    (c = ctl_client_conn(p->ctl)) == NULL || stun_open(p) != 0)
		return;
	s = p->stun;
	/* The server's address as this session reaches it. */
	if (conf_endpoint_parse(ctl_conn_remote(c), 1, 65535, &ep, why,
	    sizeof(why)) != 0)
		return;
	ep.port = stun_port;
	if (net_resolve(&ep, SOCK_DGRAM, &s->server, &s->server_len) != 0)
		return;
	/* A dual-stack socket reaches an IPv4 server by its mapped form. */
	if (s->server.ss_family == AF_INET && s->family == AF_INET6)
		stun_map_v4(&s->server, &s->server_len);
	stun_query(s);
}

void
portal_stun_stop(struct portal *p)
{
	struct portal_stun *s = p->stun;

	if (s == NULL)
		return;
	if (s->ev)
		event_free(s->ev);
	loop_timer_free(s->timer);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	p->stun = NULL;
}

json_t *
portal_stun_status(const struct portal *p)
{
	const struct portal_stun *s = p->stun;

	if (s == NULL)
		return json_null();
	if (s->have_mapped)
		return json_pack("{s:s, s:i, s:I}", "reflexive", s->mapped,
		    "local_port", (int)s->local_port, "age_ms",
		    (json_int_t)(loop_now_ms() - s->mapped_ms));
	return json_pack("{s:s, s:i}", "why", s->why[0] ? s->why :
	    "asking the server", "local_port", (int)s->local_port);
}
