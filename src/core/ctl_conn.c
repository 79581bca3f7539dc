/* SPDX-License-Identifier: MIT */
/* Control connections: TLS, framing, keepalive; see ctl_conn.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "core/ctl_conn.h"
#include "core/err.h"
#include "core/logsum.h"
#include "core/metrics.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/tls.h"

/*
 * A peer that leaves this much of our output unread is not keeping up with
 * a control session (whose messages are small and rare) and is closed.
 */
#define CTL_MAX_OUTPUT		(1024 * 1024)
/* Frames handled per read callback before yielding to other connections. */
#define CTL_MAX_FRAMES_PER_READ	64
/* How long ctl_conn_fail() waits for its ERROR message to be written. */
#define CTL_FAIL_GRACE_MS	2000
/*
 * Plaintext handed to SSL_write() at once by the end-of-turn flush: at
 * most one TLS record, so that when the socket is full the bytes OpenSSL
 * holds are all at the front of what libevent's writer takes over.
 */
#define CTL_WRITE_CHUNK		16384

enum ctl_state {
	CTL_HANDSHAKE,		/* TCP connect and TLS handshake */
	CTL_OPEN,
	CTL_DRAINING,		/* writing a last message, then close */
	CTL_CLOSED,		/* closed; freed after this iteration */
};

struct ctl_conn {
	enum ctl_state		 state;
	struct loop		*loop;		/* borrowed */
	struct bufferevent	*bev;		/* owns the SSL and the fd */
	SSL			*ssl;		/* borrowed from bev */
	/* Accepted, until the peer's first bytes start TLS (no bev yet). */
	int			 fd;		/* owned while no bev; else -1 */
	struct event		*wait_ev;	/* fd readable */
	SSL_CTX			*ctx;		/* a reference, for SSL_new */
	struct loop_timer	*timer;		/* handshake, keepalive, grace */
	struct net_resolve	*dns;		/* dialling: the server's name */
	/*
	 * Messages of this loop turn, not yet given to TLS.  libevent's
	 * bufferevent_openssl writes only from its write-event callback (its
	 * flush is a no-op), so each message queued there costs turning write
	 * interest on and off (two epoll_ctl) and one more loop turn.  The
	 * flush at the end of the turn writes them with SSL_write() straight
	 * to the socket; only what the socket cannot take goes to libevent's
	 * output, whose writer then owns the backlog.
	 */
	struct buf		 pend;
	struct event		*flush_ev;
	struct ctl_conn_opts	 opts;
	struct ctl_conn_cbs	 cbs;
	void			*data;		/* the role's, borrowed */

	uint64_t		 id;
	char			 remote[NET_ADDR_STR_MAX];
	char			 source[NET_SOURCE_STR_MAX];
	struct np_identity	 peer;
	char			 peer_str[NP_IDENTITY_STR_MAX];
	X509			*peer_cert;	/* owned */
	struct log_ctx		 log;

	uint64_t		 last_rx_ms;	/* last whole frame */
	uint64_t		 open_ms;	/* TLS handshake done */
	uint64_t		 next_ping_ms;
	int			 got_msg;
	uint64_t		 ping_nonce;
	uint64_t		 ping_sent_ms;	/* the PING awaiting its PONG */
	uint64_t		 last_ping_ms;	/* the last PING we sent */
	uint32_t		 rtt_ms;
	int			 fail_err;	/* DRAINING: the close cause */
	enum log_level		 fail_level;	/* and the level it is logged at */
	char			 fail_reason[256];
	struct loop_defer	 defer;
};

/*
 * With ping_when_quiet, a PING of our own at least this many keepalive
 * intervals apart all the same, so that the session's round trip (status,
 * netport_control_rtt_seconds) stays fresh.
 */
#define CTL_RTT_REFRESH		4

static void	ctl_conn_read_cb(struct bufferevent *bev, void *arg);
static void	ctl_conn_write_cb(struct bufferevent *bev, void *arg);
static void	ctl_conn_flush_cb(evutil_socket_t fd, short what, void *arg);
static unsigned long ctl_conn_late_alert(struct ctl_conn *c);
static void	ctl_conn_open_failed(struct ctl_conn *c, unsigned long e,
		    int sock_err);
static void	ctl_conn_event_cb(struct bufferevent *bev, short what,
		    void *arg);
static void	ctl_conn_timer_cb(struct loop_timer *t, void *arg);
static void	ctl_conn_arm(struct ctl_conn *c);
static void	ctl_conn_close_keyed(struct ctl_conn *c, int err,
		    enum log_level level, const char *key, const char *fmt,
		    ...) __attribute__((format(printf, 5, 6)));
static void	ctl_conn_vclose(struct ctl_conn *c, int err,
		    enum log_level level, const char *key, const char *fmt,
		    va_list ap) __attribute__((format(printf, 5, 0)));

static void
ctl_conn_free(void *arg)
{
	struct ctl_conn *c = arg;

	if (c->bev)
		bufferevent_free(c->bev);
	if (c->wait_ev)
		event_free(c->wait_ev);
	if (c->flush_ev)
		event_free(c->flush_ev);
	buf_release(&c->pend);
	if (c->fd >= 0)
		close(c->fd);
	SSL_CTX_free(c->ctx);
	loop_timer_free(c->timer);
	X509_free(c->peer_cert);
	free(c);
}

static struct ctl_conn *
ctl_conn_new(struct loop *loop, const struct ctl_conn_opts *opts,
    const struct ctl_conn_cbs *cbs)
{
	struct ctl_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->fd = -1;
	c->opts = *opts;
	c->cbs = *cbs;
	if (opts->source)
		snprintf(c->source, sizeof(c->source), "%s", opts->source);
	c->opts.source = NULL;	/* the copy above is the one used */
	c->id = loop_next_conn_id();
	c->log.conn_id = c->id;
	c->last_rx_ms = loop_now_ms();
	snprintf(c->remote, sizeof(c->remote), "?");
	/* Room for one more message past the cap: ctl_conn_send() encodes
	 * first and checks the cap after. */
	buf_init(&c->pend, CTL_MAX_OUTPUT + PROTO_HDR_LEN + PROTO_MAX_PAYLOAD);
	if ((c->timer = loop_timer_new(loop, ctl_conn_timer_cb, c)) == NULL) {
		free(c);
		return NULL;
	}
	if ((c->flush_ev = event_new(loop_base(loop), -1, 0, ctl_conn_flush_cb,
	    c)) == NULL) {
		loop_timer_free(c->timer);
		free(c);
		return NULL;
	}
	return c;
}

static void
ctl_conn_start(struct ctl_conn *c)
{
	bufferevent_setcb(c->bev, ctl_conn_read_cb, ctl_conn_write_cb,
	    ctl_conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	loop_timer_arm(c->timer, c->opts.handshake_ms ? c->opts.handshake_ms :
	    10000);
}

/*
 * The first bytes of an accepted peer (or its EOF): now TLS starts.  Until
 * then the connection holds no SSL object and none of OpenSSL's handshake
 * and record buffers (some 60 KiB), so a flood of connections that send
 * nothing costs about a kilobyte each.  The handshake deadline runs from
 * the accept.
 */
static void
ctl_conn_first_bytes_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *c = arg;
	const char *why;
	char key[128];
	uint8_t b;
	ssize_t n;
	SSL *ssl;
	int err;

	if (c->state != CTL_HANDSHAKE)
		return;
	/* A peer that closes without a byte needs no TLS to be told apart;
	 * a flood's close would otherwise start a handshake for each. */
	n = recv(c->fd, &b, 1, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		if (event_add(c->wait_ev, NULL) != 0)
			ctl_conn_close(c, -ENOMEM, LOGLEVEL_ERROR, "out of "
			    "memory waiting for the peer");
		return;
	}
	if (n <= 0) {
		err = n == 0 ? NP_ECLOSED : -errno;
		why = n == 0 ? "connection closed by the peer" :
		    strerror(-err);
		snprintf(key, sizeof(key), "TLS handshake failed: %s", why);
		ctl_conn_close_keyed(c, err, LOGLEVEL_WARN, key, "TLS "
		    "handshake with %s failed: %s", c->remote, why);
		return;
	}
	if ((ssl = SSL_new(c->ctx)) == NULL)
		goto fail;
	c->bev = bufferevent_openssl_socket_new(loop_base(c->loop), c->fd,
	    ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		SSL_free(ssl);
		goto fail;
	}
	c->fd = -1;		/* the bev's now */
	c->ssl = ssl;
	SSL_CTX_free(c->ctx);
	c->ctx = NULL;
	bufferevent_setcb(c->bev, ctl_conn_read_cb, ctl_conn_write_cb,
	    ctl_conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return;
fail:
	ERR_clear_error();
	ctl_conn_close(c, -ENOMEM, LOGLEVEL_ERROR, "out of memory starting "
	    "TLS");
}

struct ctl_conn *
ctl_conn_accept(struct loop *loop, SSL_CTX *ctx, int fd, const char *remote,
    const struct ctl_conn_opts *opts, const struct ctl_conn_cbs *cbs)
{
	struct ctl_conn *c;

	if ((c = ctl_conn_new(loop, opts, cbs)) == NULL)
		goto fail;
	snprintf(c->remote, sizeof(c->remote), "%s", remote);
	c->wait_ev = event_new(loop_base(loop), fd, EV_READ,
	    ctl_conn_first_bytes_cb, c);
	if (c->wait_ev == NULL || event_add(c->wait_ev, NULL) != 0)
		goto fail;
	c->fd = fd;
	(void)SSL_CTX_up_ref(ctx);
	c->ctx = ctx;
	loop_timer_arm(c->timer, c->opts.handshake_ms ? c->opts.handshake_ms :
	    10000);
	log_debug(&c->log, "accepted from %s", c->remote);
	return c;
fail:
	log_error(NULL, "cannot accept connection from %s: out of memory",
	    remote);
	close(fd);
	if (c) {
		if (c->wait_ev)
			event_free(c->wait_ev);
		loop_timer_free(c->timer);
		free(c);
	}
	return NULL;
}

/*
 * The dialled address is resolved here, not by the bufferevent, so that
 * the socket is ours to make: it carries the process's socket mark (a
 * capturing portal must not capture its own session) before its first
 * packet leaves.
 */
static void
ctl_conn_resolved_cb(int err, const struct sockaddr *sa, socklen_t salen,
    void *arg)
{
	struct ctl_conn *c = arg;
	int fd;

	c->dns = NULL;
	if (c->state == CTL_CLOSED)
		return;
	if (err) {
		ctl_conn_close(c, NP_ENOTFOUND, LOGLEVEL_WARN, "cannot resolve "
		    "%s: %s", c->remote, evutil_gai_strerror(err));
		return;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0 || (err = net_mark_socket(fd)) != 0) {
		if (fd < 0)
			err = -errno;
		else
			close(fd);
		ctl_conn_close(c, err, LOGLEVEL_WARN, "cannot open a socket "
		    "to %s: %s", c->remote, strerror(-err));
		return;
	}
	bufferevent_setfd(c->bev, fd);
	/* Failures, synchronous ones included, arrive at the event callback. */
	bufferevent_socket_connect(c->bev, sa, (int)salen);
}

struct ctl_conn *
ctl_conn_connect(struct loop *loop, SSL_CTX *ctx,
    const struct conf_endpoint *ep, const struct ctl_conn_opts *opts,
    const struct ctl_conn_cbs *cbs)
{
	struct ctl_conn *c;
	SSL *ssl = NULL;

	if ((c = ctl_conn_new(loop, opts, cbs)) == NULL)
		return NULL;
	conf_endpoint_format(ep, c->remote, sizeof(c->remote));
	if ((ssl = SSL_new(ctx)) == NULL)
		goto fail;
	c->bev = bufferevent_openssl_socket_new(loop_base(loop), -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto fail;
	c->ssl = ssl;
	ssl = NULL;
	ctl_conn_start(c);
	c->dns = net_resolve_start(loop, ep->host, ep->port,
	    ctl_conn_resolved_cb, c);
	return c;
fail:
	SSL_free(ssl);
	loop_timer_free(c->timer);
	free(c);
	ERR_clear_error();
	return NULL;
}

/*
 * key is the reason without anything that differs from one connection to
 * the next (the peer's port): the summary of a flood counts by it.  NULL
 * takes the formatted reason.
 */
static void
ctl_conn_vclose(struct ctl_conn *c, int err, enum log_level level,
    const char *key, const char *fmt, va_list ap)
{
	char reason[512];

	if (c->state == CTL_CLOSED)
		return;
	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (c->state == CTL_HANDSHAKE && (key != NULL ||
	    c->opts.unauth_log != NULL))
		metric_inc1(metrics_family(METRIC_COUNTER,
		    "netport_handshake_failures_total", "control connections "
		    "closed before their TLS handshake was done, by reason",
		    "reason", NULL, 0), key ? key : "not completed");
	if (c->state != CTL_HANDSHAKE || c->opts.unauth_log == NULL ||
	    logsum_note(c->opts.unauth_log, c->source, key ? key : reason))
		log_emit(level, &c->log, "ctl_conn_close", "%s %s closed: %s",
		    c->peer_str[0] ? "session with" : "connection", c->remote,
		    reason);
	c->state = CTL_CLOSED;
	net_resolve_cancel(c->dns);
	c->dns = NULL;
	if (c->bev) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	}
	if (c->wait_ev)
		event_del(c->wait_ev);
	event_del(c->flush_ev);		/* what is pending goes with it */
	loop_timer_cancel(c->timer);
	if (c->cbs.closed)
		c->cbs.closed(c, err, c->cbs.arg);
	loop_defer_free(c->loop, &c->defer, ctl_conn_free, c);
}

void
ctl_conn_close(struct ctl_conn *c, int err, enum log_level level,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_conn_vclose(c, err, level, NULL, fmt, ap);
	va_end(ap);
}

/* ctl_conn_close() with the summary key given apart from the reason. */
static void
ctl_conn_close_keyed(struct ctl_conn *c, int err, enum log_level level,
    const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_conn_vclose(c, err, level, key, fmt, ap);
	va_end(ap);
}

static void
ctl_conn_close_str(struct ctl_conn *c, int err, enum log_level level,
    const char *reason)
{
	ctl_conn_close(c, err, level, "%s", reason);
}

int
ctl_conn_send(struct ctl_conn *c, const struct proto_msg *m)
{
	size_t start = buf_len(&c->pend);
	int r;

	if (c->state != CTL_OPEN)
		return NP_ECLOSED;
	/* Encoded in place behind the turn's other messages. */
	if ((r = proto_encode(m, &c->pend)) != 0) {
		ctl_conn_close(c, r, LOGLEVEL_ERROR, "cannot encode %s: %s",
		    proto_type_name(m->type), np_strerror(r));
		return r;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    buf_len(&c->pend) > CTL_MAX_OUTPUT) {
		buf_truncate(&c->pend, start);
		ctl_conn_close(c, NP_ETOOBIG, LOGLEVEL_WARN, "peer is not "
		    "reading (more than %d bytes queued)", CTL_MAX_OUTPUT);
		return NP_ETOOBIG;
	}
	/* Written at the end of this loop turn, with the turn's others. */
	event_active(c->flush_ev, 0, 0);
	return 0;
}

/* Hands what is pending to libevent's writer (the socket is full, or it
 * already has a backlog, which must go first). */
static int
ctl_conn_pend_to_bev(struct ctl_conn *c)
{
	int r = 0;

	if (buf_len(&c->pend) > 0 && bufferevent_write(c->bev,
	    buf_data(&c->pend), buf_len(&c->pend)) != 0) {
		r = -ENOMEM;
		ctl_conn_close(c, r, LOGLEVEL_ERROR, "out of memory queueing "
		    "%zu bytes", buf_len(&c->pend));
	}
	buf_release(&c->pend);
	return r;
}

static void
ctl_conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *c = arg;
	unsigned long tls_err;
	size_t n;
	int r, e, sock_err;

	if (c->state != CTL_OPEN && c->state != CTL_DRAINING) {
		buf_release(&c->pend);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		(void)ctl_conn_pend_to_bev(c);
		return;
	}
	while (buf_len(&c->pend) > 0) {
		n = buf_len(&c->pend) < CTL_WRITE_CHUNK ? buf_len(&c->pend) :
		    CTL_WRITE_CHUNK;
		ERR_clear_error();
		if ((r = SSL_write(c->ssl, buf_data(&c->pend), (int)n)) > 0) {
			buf_consume(&c->pend, (size_t)r);
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			/*
			 * OpenSSL holds this chunk's record, partly sent; its
			 * retry must pass at least the same bytes.  They lead
			 * libevent's (empty) output, whose writer retries with
			 * up to CTL_WRITE_CHUNK bytes from its front
			 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, set by
			 * libevent, allows the new address).
			 */
			log_debug(&c->log, "socket full: %zu bytes left to "
			    "the write event", buf_len(&c->pend));
			(void)ctl_conn_pend_to_bev(c);
			return;
		}
		/* Reported as libevent's writer would have met it. */
		sock_err = e == SSL_ERROR_SYSCALL ? errno : 0;
		tls_err = ERR_peek_error();
		ERR_clear_error();
		if (tls_err == 0 && sock_err != 0)
			tls_err = ctl_conn_late_alert(c);
		ctl_conn_open_failed(c, tls_err, sock_err);
		return;
	}
	buf_release(&c->pend);
	if (c->state == CTL_DRAINING)
		ctl_conn_close_str(c, c->fail_err, c->fail_level,
		    c->fail_reason);
}

static void
ctl_conn_fail_level_msg(struct ctl_conn *c, enum log_level level,
    const struct proto_msg *m)
{
	if (c->state != CTL_OPEN && c->state != CTL_HANDSHAKE)
		return;
	snprintf(c->fail_reason, sizeof(c->fail_reason), "%s", m->message);
	if (c->state == CTL_HANDSHAKE) {
		ctl_conn_close_str(c, NP_EPROTO, level, c->fail_reason);
		return;
	}
	if (ctl_conn_send(c, m) != 0)
		return;		/* already closed, and logged */
	c->state = CTL_DRAINING;
	c->fail_err = NP_EPROTO;
	c->fail_level = level;
	bufferevent_disable(c->bev, EV_READ);
	loop_timer_arm(c->timer, CTL_FAIL_GRACE_MS);
}

static void	ctl_conn_vfail(struct ctl_conn *c, enum log_level level,
		    enum proto_error code, const char *fmt, va_list ap)
		    __attribute__((format(printf, 4, 0)));

static void
ctl_conn_vfail(struct ctl_conn *c, enum log_level level,
    enum proto_error code, const char *fmt, va_list ap)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_ERROR;
	m.code = (uint16_t)code;
	vsnprintf(m.message, sizeof(m.message), fmt, ap);
	ctl_conn_fail_level_msg(c, level, &m);
}

void
ctl_conn_fail(struct ctl_conn *c, enum proto_error code, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_conn_vfail(c, LOGLEVEL_WARN, code, fmt, ap);
	va_end(ap);
}

void
ctl_conn_fail_at(struct ctl_conn *c, enum log_level level,
    enum proto_error code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_conn_vfail(c, level, code, fmt, ap);
	va_end(ap);
}

void
ctl_conn_fail_msg(struct ctl_conn *c, const struct proto_msg *m)
{
	ctl_conn_fail_level_msg(c, LOGLEVEL_WARN, m);
}

void
ctl_conn_set_timing(struct ctl_conn *c, uint32_t keepalive_ms,
    uint32_t dead_ms)
{
	c->opts.keepalive_ms = keepalive_ms;
	c->opts.dead_ms = dead_ms;
	c->next_ping_ms = loop_now_ms() + keepalive_ms;
	if (c->state == CTL_OPEN)
		ctl_conn_arm(c);
}

static void
ctl_conn_handshake_done(struct ctl_conn *c)
{
	int r;

	if ((r = tls_peer_identity(c->ssl, &c->peer)) != 0) {
		ctl_conn_close(c, r, LOGLEVEL_WARN, "no verified peer identity");
		return;
	}
	identity_format(&c->peer, c->peer_str);
	c->log.peer = c->peer_str;
	c->peer_cert = SSL_get1_peer_certificate(c->ssl);
	c->state = CTL_OPEN;
	c->last_rx_ms = loop_now_ms();
	log_debug(&c->log, "TLS up with %s (%s)", c->remote,
	    SSL_get_cipher_name(c->ssl));
	c->open_ms = c->last_rx_ms;
	ctl_conn_set_timing(c, c->opts.keepalive_ms, c->opts.dead_ms);
	if (c->cbs.ready)
		c->cbs.ready(c, c->cbs.arg);
}

static void
ctl_conn_send_ping(struct ctl_conn *c)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_PING;
	if (RAND_bytes((unsigned char *)&c->ping_nonce,
	    sizeof(c->ping_nonce)) != 1)
		c->ping_nonce = loop_now_ms();
	c->ping_nonce |= 1;	/* never 0: 0 means "absent" on the wire */
	m.nonce = c->ping_nonce;
	c->ping_sent_ms = c->last_ping_ms = loop_now_ms();
	(void)ctl_conn_send(c, &m);
}

/*
 * Arms the timer for the earliest of: the next PING, the dead-peer
 * deadline (last receive + dead_ms), and, until a first message arrives,
 * the first-message deadline.  Checking silence only at keepalive ticks
 * would close a dead session up to a keepalive interval late.
 */
static void
ctl_conn_arm(struct ctl_conn *c)
{
	uint64_t now = loop_now_ms(), next = UINT64_MAX, d;

	if (c->opts.keepalive_ms)
		next = c->next_ping_ms;
	if (c->opts.dead_ms && (d = c->last_rx_ms + c->opts.dead_ms) < next)
		next = d;
	if (!c->got_msg && c->opts.first_msg_ms &&
	    (d = c->open_ms + c->opts.first_msg_ms) < next)
		next = d;
	loop_timer_cancel(c->timer);
	if (next != UINT64_MAX)
		loop_timer_arm(c->timer, next > now ? next - now : 0);
}

static void
ctl_conn_timer_cb(struct loop_timer *t, void *arg)
{
	struct ctl_conn *c = arg;
	uint64_t now = loop_now_ms(), silent;

	switch (c->state) {
	case CTL_HANDSHAKE:
		ctl_conn_close(c, NP_ETIMEOUT, LOGLEVEL_WARN,
		    "TLS handshake not finished within %u ms",
		    c->opts.handshake_ms ? c->opts.handshake_ms : 10000);
		return;
	case CTL_DRAINING:
		ctl_conn_close_str(c, c->fail_err, c->fail_level,
		    c->fail_reason);
		return;
	case CTL_CLOSED:
		return;
	case CTL_OPEN:
		break;
	}
	silent = now - c->last_rx_ms;
	if (c->opts.dead_ms && silent >= c->opts.dead_ms) {
		ctl_conn_close(c, NP_ETIMEOUT, LOGLEVEL_WARN,
		    "peer silent for %llu ms (dead-peer timeout %u ms)",
		    (unsigned long long)silent, c->opts.dead_ms);
		return;
	}
	if (!c->got_msg && c->opts.first_msg_ms &&
	    now - c->open_ms >= c->opts.first_msg_ms) {
		ctl_conn_close(c, NP_ETIMEOUT, LOGLEVEL_WARN, "no complete "
		    "message within %u ms of the TLS handshake",
		    c->opts.first_msg_ms);
		return;
	}
	if (c->opts.keepalive_ms && now >= c->next_ping_ms) {
		if (c->opts.ping_when_quiet && silent < c->opts.keepalive_ms &&
		    now - c->last_ping_ms < (uint64_t)CTL_RTT_REFRESH *
		    c->opts.keepalive_ms) {
			/* The peer's own keepalives came: look again one
			 * interval after the last of them. */
			c->next_ping_ms = c->last_rx_ms + c->opts.keepalive_ms;
		} else {
			ctl_conn_send_ping(c);
			c->next_ping_ms = now + c->opts.keepalive_ms;
		}
	}
	if (c->state == CTL_OPEN)
		ctl_conn_arm(c);
}

/* Handles one decoded frame; PING and PONG stay inside this module. */
static void
ctl_conn_dispatch(struct ctl_conn *c, const struct proto_msg *m)
{
	struct proto_msg reply;

	switch (m->type) {
	case PROTO_PING:
		memset(&reply, 0, sizeof(reply));
		reply.type = PROTO_PONG;
		reply.nonce = m->nonce;
		reply.time_ms = m->time_ms;
		(void)ctl_conn_send(c, &reply);
		return;
	case PROTO_PONG:
		if (m->nonce == c->ping_nonce && c->ping_sent_ms) {
			c->rtt_ms = (uint32_t)(loop_now_ms() - c->ping_sent_ms);
			c->ping_sent_ms = 0;
			metric_observe(metrics_family(METRIC_HISTOGRAM,
			    "netport_control_rtt_seconds", "round trips of "
			    "control-session keepalives", NULL,
			    metrics_rtt_buckets, metrics_rtt_nbuckets), NULL,
			    c->rtt_ms / 1000.0);
		}
		return;
	default:
		if (c->cbs.msg)
			c->cbs.msg(c, m, c->cbs.arg);
	}
}

static void
ctl_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdrbytes[PROTO_HDR_LEN];
	struct proto_hdr h;
	struct proto_msg m;
	const char *why;
	size_t avail, flen;
	uint8_t *p;
	int i, r;

	for (i = 0; i < CTL_MAX_FRAMES_PER_READ; i++) {
		if (c->state != CTL_OPEN)
			return;
		avail = evbuffer_get_length(in);
		if (avail < PROTO_HDR_LEN)
			return;
		evbuffer_copyout(in, hdrbytes, sizeof(hdrbytes));
		if ((r = proto_hdr_decode(hdrbytes, sizeof(hdrbytes),
		    &h)) == NP_EVERSION) {
			/* Say why before closing: a newer peer can tell. */
			ctl_conn_fail(c, PROTO_E_VERSION, "protocol version %u "
			    "not supported (this side speaks %u)", hdrbytes[0],
			    PROTO_VERSION);
			return;
		}
		if (r != 0) {
			ctl_conn_close(c, r, LOGLEVEL_WARN, "bad frame header "
			    "(version %u, type %u, length %u): %s",
			    hdrbytes[0], hdrbytes[1],
			    (unsigned)(hdrbytes[2] << 8 | hdrbytes[3]),
			    np_strerror(r));
			return;
		}
		flen = PROTO_HDR_LEN + (size_t)h.len;
		if (avail < flen)
			return;
		if ((p = evbuffer_pullup(in, (ssize_t)flen)) == NULL) {
			ctl_conn_close(c, -ENOMEM, LOGLEVEL_ERROR,
			    "out of memory reading a frame");
			return;
		}
		if ((r = proto_decode(p, flen, &m, &why)) != 0) {
			ctl_conn_close(c, r, LOGLEVEL_WARN, "malformed %s "
			    "frame (type %u, %zu bytes): %s",
			    proto_type_name(h.type), h.type, flen, why);
			return;
		}
		evbuffer_drain(in, flen);
		/* Only a whole frame counts as a sign of life: a peer that
		 * drips bytes of one must not keep its session forever. */
		c->last_rx_ms = loop_now_ms();
		c->got_msg = 1;
		ctl_conn_dispatch(c, &m);
	}
	/* Yielded with frames left: come back after other connections. */
	if (c->state == CTL_OPEN && evbuffer_get_length(in) >= PROTO_HDR_LEN)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

static void
ctl_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;

	if (c->state == CTL_DRAINING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		ctl_conn_close_str(c, c->fail_err, c->fail_level,
		    c->fail_reason);
}

/*
 * The first real OpenSSL error libevent recorded for bev.  libevent puts
 * the SSL_get_error() code (a small number of library 0) in front of the
 * queue it drained; those say nothing, so they are skipped.
 */
static unsigned long
ctl_conn_tls_error(struct bufferevent *bev)
{
	unsigned long e, first = 0;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (first == 0 && ERR_GET_LIB(e) != 0)
			first = e;
	return first;
}

/*
 * The peer's verdict on our own certificate, when its alert (e, from the
 * error queue) is one: NP_EREVOKED for certificate_revoked (we are on its
 * CRL), NP_EUNTRUSTED for unknown_ca (our chain does not lead to a CA it
 * trusts; a CA of the same name but another key gets this too, since
 * certificates name their issuer's key).  0 for anything else.
 *
 * Deliberately not verdicts: bad_certificate and certificate_unknown
 * (also sent for a certificate that is not valid yet, i.e. for a clock
 * that is off, which heals by itself), certificate_expired (also what an
 * expired CRL on the peer gets us: its fault, not ours) and decrypt_error
 * (also a failed handshake signature).  A caller that backs off for long
 * on a verdict must not do so for a passing fault.
 */
static int
ctl_conn_refusal(unsigned long e)
{
	if (e == 0 || ERR_GET_LIB(e) != ERR_LIB_SSL)
		return 0;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
		return NP_EREVOKED;
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return NP_EUNTRUSTED;
	default:
		return 0;
	}
}

/*
 * A server that refuses our certificate sends its alert and closes.  In
 * TLS 1.3 our HELLO is on its way by then, and a socket closed with unread
 * data answers it with a reset; our write can meet that reset before we
 * have read the alert, which still waits in our socket.  So on an error
 * before the first message, read what is left: the alert, if there is
 * one, lands in the error queue.  Returns its error code, or 0.
 */
static unsigned long
ctl_conn_late_alert(struct ctl_conn *c)
{
	unsigned char byte;
	unsigned long e = 0;
	int n;

	if (c->state != CTL_OPEN || c->got_msg)
		return 0;
	ERR_clear_error();
	if ((n = SSL_read(c->ssl, &byte, 1)) <= 0 &&
	    SSL_get_error(c->ssl, n) == SSL_ERROR_SSL)
		e = ERR_peek_error();
	ERR_clear_error();
	return e;
}

/*
 * Closes an open session whose read or write failed, with the reason: e
 * is the first OpenSSL error of the failure (0: none), sock_err the
 * socket's errno (0: none).
 */
static void
ctl_conn_open_failed(struct ctl_conn *c, unsigned long e, int sock_err)
{
	char reason[300];
	int refusal = ctl_conn_refusal(e);

	if (e) {
		/* A peer that exits closes TCP without a TLS close_notify. */
		if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ctl_conn_close(c, NP_ECLOSED, LOGLEVEL_INFO, "peer "
			    "closed the connection");
			return;
		}
		/* In TLS 1.3 the client is done with its handshake before
		 * the server has judged its certificate: a refusal comes
		 * as the first thing read on an open connection. */
		ERR_error_string_n(e, reason, sizeof(reason));
		ctl_conn_close(c, refusal ? refusal : NP_ETLS, LOGLEVEL_WARN,
		    "TLS error: %s", reason);
		return;
	}
	ctl_conn_close(c, sock_err ? -sock_err : NP_ECLOSED, LOGLEVEL_WARN,
	    "%s", sock_err ? strerror(sock_err) : "connection error");
}

static void
ctl_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *c = arg;
	char reason[300], key[340];
	unsigned long e;
	int dns_err, sock_err, refusal;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CTL_HANDSHAKE)
			ctl_conn_handshake_done(c);
		return;
	}
	if (c->state == CTL_CLOSED)
		return;
	if (c->state == CTL_DRAINING) {
		ctl_conn_close_str(c, c->fail_err, c->fail_level,
		    c->fail_reason);
		return;
	}
	sock_err = EVUTIL_SOCKET_ERROR();
	e = ctl_conn_tls_error(bev);
	if (e == 0 && sock_err != 0)
		e = ctl_conn_late_alert(c);
	refusal = ctl_conn_refusal(e);
	if (c->state == CTL_HANDSHAKE) {
		dns_err = bufferevent_socket_get_dns_error(bev);
		if (dns_err) {
			ctl_conn_close(c, NP_ENOTFOUND, LOGLEVEL_WARN,
			    "cannot resolve %s: %s", c->remote,
			    evutil_gai_strerror(dns_err));
			return;
		}
		/* Our own verdict on the peer first, then the library's. */
		tls_failure_reason(c->ssl, reason, sizeof(reason));
		if (strncmp(reason, "no detail", 9) == 0 || reason[0] == '\0') {
			if (e)
				ERR_error_string_n(e, reason, sizeof(reason));
			else if (sock_err)
				snprintf(reason, sizeof(reason), "%s",
				    strerror(sock_err));
			else
				snprintf(reason, sizeof(reason), "connection "
				    "closed by the peer");
		}
		snprintf(key, sizeof(key), "TLS handshake failed: %s", reason);
		ctl_conn_close_keyed(c, refusal ? refusal : e ? NP_ETLS :
		    sock_err ? -sock_err : NP_ECLOSED, LOGLEVEL_WARN, key,
		    "TLS handshake with %s failed: %s", c->remote, reason);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		ctl_conn_close(c, NP_ECLOSED, LOGLEVEL_INFO, "peer closed "
		    "the connection");
		return;
	}
	ctl_conn_open_failed(c, e, sock_err);
}

int
ctl_conn_is_open(const struct ctl_conn *c)
{
	return c->state == CTL_OPEN;
}

const struct np_identity *
ctl_conn_peer(const struct ctl_conn *c)
{
	return &c->peer;
}

X509 *
ctl_conn_peer_cert(const struct ctl_conn *c)
{
	return c->peer_cert;
}

const struct log_ctx *
ctl_conn_log(const struct ctl_conn *c)
{
	return &c->log;
}

const char *
ctl_conn_remote(const struct ctl_conn *c)
{
	return c->remote;
}

uint32_t
ctl_conn_rtt_ms(const struct ctl_conn *c)
{
	return c->rtt_ms;
}

void
ctl_conn_set_data(struct ctl_conn *c, void *data)
{
	c->data = data;
}

void *
ctl_conn_data(const struct ctl_conn *c)
{
	return c->data;
}
