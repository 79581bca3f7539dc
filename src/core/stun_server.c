/* SPDX-License-Identifier: MIT */
/* The STUN responder (stun_server.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "core/loop.h"
#include "core/net.h"
#include "core/srclimit.h"
#include "core/stun.h"
#include "core/stun_server.h"

/* Datagrams handled per wake-up, so that a flood cannot starve the rest
 * of the loop; the next wake-up takes the others. */
#define STUN_SERVER_BATCH	64

struct stun_server {
	int			 fd;
	uint16_t		 port;
	struct event		*ev;
	struct srclimit		*limit;
	struct stun_server_stats stats;
};

static void
stun_server_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stun_server *s = arg;
	uint8_t in[STUN_MAX], out[STUN_RESPONSE_MAX];
	struct sockaddr_storage from;
	struct stun_msg m;
	socklen_t fromlen;
	const char *why;
	ssize_t n;
	size_t len;
	int i;

	for (i = 0; i < STUN_SERVER_BATCH; i++) {
		fromlen = sizeof(from);
		n = recvfrom(fd, in, sizeof(in), MSG_TRUNC,
		    (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			return;		/* EAGAIN: all read */
		if ((size_t)n > sizeof(in) || stun_parse(in, (size_t)n, &m,
		    &why) != 0 || m.type != STUN_BINDING_REQUEST) {
			s->stats.dropped++;
			continue;
		}
		if (!srclimit_take(s->limit, (struct sockaddr *)&from,
		    loop_now_ms())) {
			s->stats.limited++;
			continue;
		}
		len = stun_encode_response(out, m.id,
		    (struct sockaddr *)&from);
		if (len == 0 || sendto(fd, out, len, MSG_DONTWAIT,
		    (struct sockaddr *)&from, fromlen) < 0) {
			s->stats.dropped++;
			continue;
		}
		s->stats.answered++;
	}
}

struct stun_server *
stun_server_start(struct loop *loop, const struct conf_endpoint *ep,
    uint32_t per_source, uint32_t total, int *err)
{
	struct stun_server *s;
	uint64_t key = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	/* Without randomness the slots are still spread, only guessable. */
	(void)RAND_bytes((unsigned char *)&key, sizeof(key));
	if ((s->limit = srclimit_new(per_source, total, key)) == NULL) {
		*err = -ENOMEM;
		free(s);
		return NULL;
	}
	if ((s->fd = net_bind_udp(ep)) < 0) {
		*err = s->fd;
		srclimit_free(s->limit);
		free(s);
		return NULL;
	}
	s->port = net_local_port(s->fd);
	if ((s->ev = event_new(loop_base(loop), s->fd, EV_READ | EV_PERSIST,
	    stun_server_read_cb, s)) == NULL || event_add(s->ev, NULL) != 0) {
		*err = -ENOMEM;
		stun_server_free(s);
		return NULL;
	}
	return s;
}

uint16_t
stun_server_port(const struct stun_server *s)
{
	return s->port;
}

void
stun_server_stats(const struct stun_server *s, struct stun_server_stats *out)
{
	*out = s->stats;
}

void
stun_server_free(struct stun_server *s)
{
	if (s == NULL)
		return;
	if (s->ev)
		event_free(s->ev);
	close(s->fd);
	srclimit_free(s->limit);
	free(s);
}
