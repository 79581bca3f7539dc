/* SPDX-License-Identifier: MIT */
/*
 * Streams: one application connection each, carried inside a tunnel.
 *
 * Client side, a stream starts from an accepted connection; service side,
 * from an OPEN frame, after which the portal checks the rule and its local
 * allow-list and connects to the target.  DATA the peer sends before the
 * target is connected waits in the stream's buffer, which the peer's credit
 * bounds.  Bytes read from the socket go straight into the tunnel's output
 * buffer as DATA frames (no intermediate copy); bytes from the peer are
 * written straight from the tunnel's input buffer when the socket takes
 * them, and only the rest is copied into the stream's buffer.
 *
 * Flow control: a stream may send only as many bytes as the peer credited
 * (MUX_INITIAL_WINDOW, plus WINDOW increments); it credits the peer again
 * once it has written a quarter window to its socket.  A slow reader
 * therefore stalls only its own stream.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "core/err.h"
#include "core/log.h"
#include "portal/portal_tunnel.h"

/*
 * Read rounds per wake-up; each is one readv() of up to 16 frames: large
 * reads cost fewer syscalls and, above all, fewer wake-ups of the
 * application that writes (each read that frees its socket buffer may
 * wake it).
 */
#define STREAM_READ_ROUNDS	2
#define STREAM_READ_FRAMES	16
/* Largest window a fast stream grows to (see stream_consumed()). */
#define STREAM_WINDOW_MAX	(4 * 1024 * 1024)

static void	stream_read(struct stream *s);
static void	stream_write_pending(struct stream *s);

static void
stream_free(void *arg)
{
	struct stream *s = arg;

	if (s->rev)
		event_free(s->rev);
	if (s->wev)
		event_free(s->wev);
	loop_timer_free(s->timer);
	buf_release(&s->pending);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

/* Detaches the stream from everything and queues the free. */
static void
stream_close(struct stream *s, int rst_app)
{
	struct linger l = { 1, 0 };

	if (s->state == ST_CLOSED)
		return;
	s->state = ST_CLOSED;
	net_resolve_cancel(s->dns);
	s->dns = NULL;
	if (s->rev)
		event_del(s->rev);
	if (s->wev)
		event_del(s->wev);
	if (s->timer)
		loop_timer_cancel(s->timer);
	if (s->dgram)
		udp_flow_closed(s);
	/* The window it grew goes back to the tunnel's budget. */
	tunnel_window_return(s->t, s->window - MUX_INITIAL_WINDOW);
	s->window = MUX_INITIAL_WINDOW;
	/* A reset reaches the application as a reset, not as a clean EOF. */
	if (rst_app && s->fd >= 0)
		setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	tunnel_stream_gone(s->t, s);
	loop_defer_free(s->p->loop, &s->defer, stream_free, s);
}

void
stream_reset(struct stream *s, uint16_t code, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (s->state == ST_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (s->id == 0)		/* still waiting for its tunnel */
		log_info(&s->log, "connection from %s (rule %s) reset: %s: %s",
		    s->target, s->rule, mux_reset_text(code), why);
	else
		log_info(&s->log, "stream %u (rule %s) reset: %s: %s (%llu "
		    "bytes up, %llu down)", s->id, s->rule,
		    mux_reset_text(code), why,
		    (unsigned long long)s->bytes_up,
		    (unsigned long long)s->bytes_down);
	if (s->id && tunnel_send_reset(s->t, s->id, code, why) != 0)
		log_warn(&s->log, "cannot queue RESET of stream %u", s->id);
	stream_close(s, 1);
}

void
stream_on_reset(struct stream *s, uint16_t code, const char *reason)
{
	if (s == NULL || s->state == ST_CLOSED)
		return;
	log_info(&s->log, "stream %u (rule %s) reset by the peer: %s%s%s "
	    "(%llu bytes up, %llu down)", s->id, s->rule,
	    mux_reset_text(code), reason[0] ? ": " : "", reason,
	    (unsigned long long)s->bytes_up,
	    (unsigned long long)s->bytes_down);
	stream_close(s, 1);
}

/* Both directions finished cleanly: the stream ends without a reset. */
static void
stream_maybe_done(struct stream *s)
{
	if (s->state != ST_CLOSED && s->rd_fin && s->wr_shut) {
		log_debug(&s->log, "stream %u (rule %s) closed: %llu bytes up, "
		    "%llu down", s->id, s->rule,
		    (unsigned long long)s->bytes_up,
		    (unsigned long long)s->bytes_down);
		stream_close(s, 0);
	}
}

static void
stream_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	struct tunnel *t = s->t;

	if (what & EV_WRITE)
		stream_write_pending(s);
	if ((what & EV_READ) && s->state == ST_OPEN)
		stream_read(s);
	tunnel_flush_soon(t);
}

struct stream *
stream_alloc(struct tunnel *t, const char *rule, int fd)
{
	struct stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->t = t;
	s->p = tunnel_portal(t);
	s->fd = fd;
	snprintf(s->rule, sizeof(s->rule), "%s", rule);
	buf_init(&s->pending, MUX_MAX_WINDOW);
	s->send_credit = MUX_INITIAL_WINDOW;
	s->recv_window = MUX_INITIAL_WINDOW;
	s->window = MUX_INITIAL_WINDOW;
	s->log.conn_id = loop_next_conn_id();
	snprintf(s->peer_str, sizeof(s->peer_str), "portal/%s",
	    tunnel_peer(t));
	s->log.peer = s->peer_str;
	return s;
}

static int
stream_events(struct stream *s)
{
	struct event_base *base = loop_base(s->p->loop);

	s->rev = event_new(base, s->fd, EV_READ | EV_PERSIST, stream_ev_cb, s);
	s->wev = event_new(base, s->fd, EV_WRITE | EV_PERSIST, stream_ev_cb,
	    s);
	return s->rev && s->wev ? 0 : -ENOMEM;
}

struct stream *
stream_new_client(struct tunnel *t, const char *rule, int fd,
    const char *remote)
{
	struct stream *s;

	if ((s = stream_alloc(t, rule, fd)) == NULL)
		return NULL;
	if (stream_events(s) != 0) {
		s->fd = -1;	/* the caller still owns fd */
		stream_free(s);
		return NULL;
	}
	s->state = ST_WAITING;
	snprintf(s->target, sizeof(s->target), "%s", remote);
	return s;
}

void
stream_start(struct stream *s)
{
	struct tunnel *t = s->t;

	if (tunnel_add_new_stream(t, s) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
		return;
	}
	if (s->dgram) {
		udp_flow_start(s);
		return;
	}
	if (tunnel_send_open(t, s->id, s->rule, 0, &s->dest) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "cannot queue OPEN");
		return;
	}
	s->state = ST_OPEN;
	portal_metrics_opened("stream");
	log_debug(&s->log, "stream %u opened for %s (rule %s)", s->id,
	    s->target, s->rule);
	event_add(s->rev, NULL);
	/* The application's first bytes, if already there, ride with OPEN. */
	stream_read(s);
}

/* Sends credit back once enough has reached the socket. */
/*
 * Sends credit back once a quarter of the stream's window has reached the
 * socket.  A stream whose application takes everything at once (nothing
 * buffered here) also gets its window doubled, up to STREAM_WINDOW_MAX,
 * while the tunnel's budget for such growth lasts: on a fast path one
 * 256 KiB window is what limits a stream, not the CPU.  A slow reader
 * never grows its window, so what it can make us buffer stays small.
 */
static void
stream_consumed(struct stream *s, size_t n)
{
	struct tunnel *t = s->t;
	uint32_t grow = 0;

	s->unacked += (uint32_t)n;
	if (s->unacked < s->window / 4)
		return;
	if (buf_len(&s->pending) == 0 && s->window < STREAM_WINDOW_MAX) {
		grow = tunnel_window_take(t, s->window);
		s->window += grow;
	}
	if (tunnel_send_window(t, s->id, s->unacked + grow) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "cannot queue WINDOW");
		return;
	}
	s->recv_window += s->unacked + grow;
	s->unacked = 0;
}

static void
stream_shut_if_done_writing(struct stream *s)
{
	if (s->peer_fin && !s->wr_shut && buf_len(&s->pending) == 0) {
		/*
		 * Once the socket's EOF was read the stream closes right
		 * away, and close() sends the same FIN (nothing unread is
		 * left that would turn it into a reset): no shutdown().
		 */
		if (!s->rd_fin)
			shutdown(s->fd, SHUT_WR);
		s->wr_shut = 1;
		stream_maybe_done(s);
	}
}

static void
stream_write_pending(struct stream *s)
{
	ssize_t n;

	if (s->state != ST_OPEN)
		return;
	while (buf_len(&s->pending) > 0) {
		n = send(s->fd, buf_data(&s->pending), buf_len(&s->pending),
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				event_add(s->wev, NULL);
				return;
			}
			stream_reset(s, MUX_R_PEER_GONE, "writing to the "
			    "application: %s", strerror(errno));
			return;
		}
		buf_consume(&s->pending, (size_t)n);
		stream_consumed(s, (size_t)n);
		if (s->state == ST_CLOSED)
			return;
	}
	event_del(s->wev);
	buf_release(&s->pending);	/* idle streams hold no buffer */
	stream_shut_if_done_writing(s);
}

void
stream_on_data(struct stream *s, struct iovec *iov, int iovcnt, size_t len,
    int fin)
{
	struct msghdr mh;
	size_t off = 0, skip;
	ssize_t n;
	int k;

	if (s == NULL || s->state == ST_CLOSED)
		return;		/* raced with our reset: drop */
	if (s->dgram) {
		stream_reset(s, MUX_R_PROTOCOL, "DATA on a datagram flow");
		return;
	}
	if (s->peer_fin) {
		stream_reset(s, MUX_R_PROTOCOL, "DATA after FIN");
		return;
	}
	if (len > s->recv_window) {
		stream_reset(s, MUX_R_FLOW_CONTROL, "peer sent %zu bytes with "
		    "%u of credit left", len, s->recv_window);
		return;
	}
	s->recv_window -= (uint32_t)len;
	s->bytes_down += len;
	/* Straight from the tunnel's buffer when the socket takes it. */
	if (s->state == ST_OPEN && buf_len(&s->pending) == 0 && len > 0) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)iovcnt;
		do
			n = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN) {
			stream_reset(s, MUX_R_PEER_GONE, "writing to the "
			    "application: %s", strerror(errno));
			return;
		}
		if (n > 0) {
			off = (size_t)n;
			stream_consumed(s, off);
			if (s->state == ST_CLOSED)
				return;
		}
	}
	/* What the socket did not take waits in the stream's buffer. */
	for (k = 0, skip = off; k < iovcnt && off < len; k++) {
		if (skip >= iov[k].iov_len) {
			skip -= iov[k].iov_len;
			continue;
		}
		if (buf_append(&s->pending, (const uint8_t *)iov[k].iov_base +
		    skip, iov[k].iov_len - skip) != 0) {
			stream_reset(s, MUX_R_INTERNAL, "out of memory "
			    "buffering %zu bytes", len - off);
			return;
		}
		off += iov[k].iov_len - skip;
		skip = 0;
	}
	if (buf_len(&s->pending) > 0 && s->state == ST_OPEN)
		event_add(s->wev, NULL);
	if (fin) {
		s->peer_fin = 1;
		if (s->state == ST_OPEN)
			stream_shut_if_done_writing(s);
	}
}

void
stream_on_window(struct stream *s, uint32_t increment)
{
	if (s == NULL || s->state == ST_CLOSED)
		return;
	if ((uint64_t)s->send_credit + increment > 2ULL * MUX_MAX_WINDOW) {
		stream_reset(s, MUX_R_FLOW_CONTROL, "credit beyond %d bytes",
		    2 * MUX_MAX_WINDOW);
		return;
	}
	s->send_credit += increment;
	if (s->rd_paused && s->state == ST_OPEN && !s->rd_fin) {
		s->rd_paused = 0;
		event_add(s->rev, NULL);
		stream_read(s);
	}
}

void
stream_resume(struct stream *s)
{
	if (s->dgram) {
		udp_flow_resume(s);
		return;
	}
	if (s->state != ST_OPEN || s->rd_fin)
		return;
	event_add(s->rev, NULL);
	stream_read(s);
}

/*
 * How much the next readv() asks for: the credit, at most
 * STREAM_READ_FRAMES frames, and no more whole frames than fit behind
 * what the tunnel's output buffer already holds.  Asking for more would
 * make buf_reserve() slide all of that to the front first, which, while
 * the relay falls behind, moves much of the output once more.
 */
static size_t
stream_read_size(const struct stream *s)
{
	size_t want = s->send_credit, fit;

	if (want > STREAM_READ_FRAMES * MUX_MAX_PAYLOAD)
		want = STREAM_READ_FRAMES * MUX_MAX_PAYLOAD;
	fit = tunnel_data_tail_room(s->t) / (MUX_HDR_LEN + MUX_MAX_PAYLOAD) *
	    MUX_MAX_PAYLOAD;
	return fit > 0 && fit < want ? fit : want;
}

static void
stream_read(struct stream *s)
{
	struct tunnel *t = s->t;
	struct iovec iov[STREAM_READ_FRAMES];
	size_t want, left, got, len, off;
	uint8_t *p;
	ssize_t n;
	int i, k, nf;

	for (i = 0; i < STREAM_READ_ROUNDS; i++) {
		if (s->state != ST_OPEN || s->rd_fin)
			return;
		if (s->send_credit == 0) {
			s->rd_paused = 1;
			event_del(s->rev);
			return;
		}
		if (tunnel_out_full(t)) {
			event_del(s->rev);
			tunnel_block(t, s);
			return;
		}
		/*
		 * Up to STREAM_READ_FRAMES frames in one readv(): the payload
		 * slots sit in the output buffer with a header's room in front
		 * of each, and only the last one can be short, so the frames
		 * end up back to back.
		 */
		want = stream_read_size(s);
		nf = (int)((want + MUX_MAX_PAYLOAD - 1) / MUX_MAX_PAYLOAD);
		if (tunnel_data_reserve(t, want + (size_t)nf * MUX_HDR_LEN,
		    &p) != 0) {
			event_del(s->rev);
			tunnel_block(t, s);
			return;
		}
		for (k = 0, left = want; k < nf; k++) {
			len = left < MUX_MAX_PAYLOAD ? left : MUX_MAX_PAYLOAD;
			iov[k].iov_base = p + (size_t)k * (MUX_HDR_LEN +
			    MUX_MAX_PAYLOAD) + MUX_HDR_LEN;
			iov[k].iov_len = len;
			left -= len;
		}
		n = readv(s->fd, iov, nf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			stream_reset(s, MUX_R_PEER_GONE, "reading from the "
			    "application: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			s->rd_fin = 1;
			event_del(s->rev);
			if (tunnel_send_fin(t, s->id) != 0) {
				stream_reset(s, MUX_R_INTERNAL, "cannot queue "
				    "FIN");
				return;
			}
			stream_maybe_done(s);
			return;
		}
		for (k = 0, got = (size_t)n, off = 0; got > 0; k++) {
			len = got < iov[k].iov_len ? got : iov[k].iov_len;
			mux_hdr_encode(p + off, MUX_DATA, 0, (uint16_t)len,
			    s->id);
			off += MUX_HDR_LEN + len;
			got -= len;
		}
		tunnel_data_commit(t, off);
		s->send_credit -= (uint32_t)n;
		s->bytes_up += (uint64_t)n;
		if ((size_t)n < want)
			return;		/* the socket is drained */
	}
}

/* Service side: the connect to the target finished; err is its errno. */
static void
stream_connected(struct stream *s, int err)
{
	if (err) {
		stream_reset(s, err == ECONNREFUSED ? MUX_R_REFUSED :
		    MUX_R_UNREACHABLE, "connect to %s: %s", s->target,
		    strerror(err));
		return;
	}
	loop_timer_cancel(s->timer);
	if (s->wev)
		event_free(s->wev);
	s->wev = NULL;
	if (stream_events(s) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
		return;
	}
	if (s->tune_tcp)
		net_tune_tcp(s->fd);
	else if (s->nodelay)
		net_nodelay(s->fd);
	s->state = ST_OPEN;
	portal_metrics_opened("stream");
	log_debug(&s->log, "stream %u connected to %s", s->id, s->target);
	/*
	 * No read yet: a target that has just accepted has rarely written
	 * anything, and the (level-triggered) read event reports it when it
	 * does.  What the peer sent with OPEN goes out now.
	 */
	event_add(s->rev, NULL);
	stream_write_pending(s);
}

static void
stream_connected_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	if (s->state != ST_CONNECTING)
		return;
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	stream_connected(s, err);
	tunnel_flush_soon(s->t);
}

static void
stream_timer_cb(struct loop_timer *timer, void *arg)
{
	struct stream *s = arg;
	struct tunnel *t = s->t;

	if (s->state == ST_CONNECTING) {
		stream_reset(s, MUX_R_TIMEOUT, "connect to %s took longer than "
		    "%lld ms", s->target, s->p->conf->connect_timeout);
		tunnel_flush_soon(t);
	}
}

/* Service side: starts the non-blocking connect to the target. */
static void
stream_connect(struct stream *s, const struct sockaddr *sa, socklen_t salen)
{
	struct pollfd pfd;
	char addr[NET_ADDR_STR_MAX + CONF_UNIX_PATH_MAX];

	net_addr_format(sa, addr, sizeof(addr));
	s->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		stream_reset(s, MUX_R_INTERNAL, "socket: %s", strerror(errno));
		return;
	}
	(void)net_mark_socket(s->fd);
	if (connect(s->fd, sa, salen) != 0 && errno != EINPROGRESS &&
	    errno != EAGAIN) {
		stream_reset(s, errno == ECONNREFUSED || errno == ENOENT ?
		    MUX_R_REFUSED : MUX_R_UNREACHABLE, "connect to %s (%s): %s",
		    s->target, addr, strerror(errno));
		return;
	}
	/* Keepalive finds a vanished peer host; a loopback peer cannot
	 * vanish without our own kernel knowing, so it needs NODELAY only. */
	s->nodelay = sa->sa_family != AF_UNIX;
	s->tune_tcp = s->nodelay && !net_is_loopback(sa);
	/*
	 * A local target usually completes the handshake inside connect():
	 * look at once rather than a loop turn later.  POLLOUT alone means
	 * connected; only an error needs SO_ERROR to say which.  (Unix
	 * sockets may say EAGAIN: the listener's queue is full; that waits
	 * for the event.)
	 */
	pfd.fd = s->fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 0) == 1) {
		if (pfd.revents & (POLLERR | POLLHUP))
			stream_connected_cb(s->fd, EV_WRITE, s);
		else
			stream_connected(s, 0);
		return;
	}
	s->wev = event_new(loop_base(s->p->loop), s->fd, EV_WRITE,
	    stream_connected_cb, s);
	if (s->wev == NULL || event_add(s->wev, NULL) != 0)
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
}

static void
stream_resolved_cb(int err, const struct sockaddr *sa, socklen_t salen,
    void *arg)
{
	struct stream *s = arg;
	struct tunnel *t = s->t;
	char addr[NET_ADDR_STR_MAX];

	s->dns = NULL;
	if (s->state != ST_CONNECTING)
		return;
	if (err) {
		stream_reset(s, MUX_R_UNREACHABLE, "cannot resolve %s: %s",
		    s->target, evutil_gai_strerror(err));
	} else if (!s->allowed_by_name &&
	    !allowlist_match_addr(&s->p->allow, sa)) {
		net_addr_format(sa, addr, sizeof(addr));
		stream_reset(s, MUX_R_NOT_ALLOWED, "target %s (%s) is not in "
		    "the local allow-list", s->target, addr);
	} else
		stream_connect(s, sa, salen);
	tunnel_flush_soon(t);
}

struct stream *
stream_accept(struct tunnel *t, const struct mux_frame *f, uint8_t ipproto,
    const struct portal_rule **rulep, struct conf_endpoint *target)
{
	char why[200];
	struct portal *p = tunnel_portal(t);
	const struct portal_rule *rule;
	struct stream *s;
	uint32_t id = f->hdr.stream;

	if ((s = stream_alloc(t, f->rule, -1)) == NULL) {
		if (tunnel_send_reset(t, id, MUX_R_INTERNAL,
		    "out of memory") != 0)
			tunnel_close(t, MUX_R_INTERNAL, "out of memory");
		return NULL;
	}
	s->id = id;
	s->state = ST_CONNECTING;
	if (tunnel_add_peer_stream(t, s) != 0) {
		s->id = 0;
		stream_free(s);
		if (tunnel_send_reset(t, id, MUX_R_INTERNAL,
		    "out of memory") != 0)
			tunnel_close(t, MUX_R_INTERNAL, "out of memory");
		return NULL;
	}
	if (!tunnel_takes_streams(t) || p->stopping) {
		stream_reset(s, MUX_R_SHUTDOWN, "not accepting new streams");
		return NULL;
	}
	if (tunnel_nstreams(t) > (size_t)p->conf->max_streams) {
		stream_reset(s, MUX_R_INTERNAL, "tunnel has %zu streams "
		    "(tunnel.max_streams)", tunnel_nstreams(t) - 1);
		return NULL;
	}
	if ((rule = portal_find_service_rule(p, f->rule,
	    tunnel_peer(t), ipproto)) == NULL) {
		stream_reset(s, MUX_R_NOT_ALLOWED, "no %s rule %s lets "
		    "portal/%s reach this portal", ipproto == PROTO_UDP ?
		    "udp" : "tcp", f->rule, tunnel_peer(t));
		return NULL;
	}
	if (portal_rule_target(rule, &f->dest, target, why,
	    sizeof(why)) != 0) {
		stream_reset(s, MUX_R_NOT_ALLOWED, "%s", why);
		return NULL;
	}
	s->dest = f->dest;
	*rulep = rule;
	return s;
}

void
stream_on_open(struct tunnel *t, const struct mux_frame *f)
{
	struct portal *p = tunnel_portal(t);
	const struct portal_rule *rule;
	struct conf_endpoint target;
	struct stream *s;
	uint32_t id = f->hdr.stream;
	int peer_parity = tunnel_is_initiator(t) ? 0 : 1;

	if ((int)(id & 1) != peer_parity || tunnel_find_stream(t, id)) {
		tunnel_close(t, MUX_R_PROTOCOL, "peer opened stream %u, which "
		    "is not a new id of its own", id);
		return;
	}
	if (f->hdr.flags & MUX_FLAG_DGRAM) {
		udp_on_open(t, f);
		return;
	}
	if ((s = stream_accept(t, f, PROTO_TCP, &rule, &target)) == NULL)
		return;
	conf_endpoint_format(&target, s->target, sizeof(s->target));
	/* Not allowed by name: the resolved address gets another chance. */
	s->allowed_by_name = target.is_unix ?
	    allowlist_match_unix(&p->allow, target.host) :
	    allowlist_match_name(&p->allow, target.host, target.port);
	if ((s->timer = loop_timer_new(p->loop, stream_timer_cb, s)) == NULL) {
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
		return;
	}
	loop_timer_arm(s->timer, (uint64_t)p->conf->connect_timeout);
	log_debug(&s->log, "stream %u: connecting to %s for rule %s", id,
	    s->target, s->rule);
	if (target.is_unix) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (!s->allowed_by_name)
			stream_reset(s, MUX_R_NOT_ALLOWED, "target %s is not in "
			    "the local allow-list", s->target);
		else if (net_unix_addr(target.host, &ss, &len) != 0)
			stream_reset(s, MUX_R_UNREACHABLE, "bad Unix socket "
			    "path %s", s->target);
		else
			stream_connect(s, (struct sockaddr *)&ss, len);
		return;
	}
	s->dns = net_resolve_start(p->loop, target.host, target.port,
	    stream_resolved_cb, s);
}
