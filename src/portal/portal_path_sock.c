/* SPDX-License-Identifier: MIT */
/*
 * Paths over a stream socket: dialling, then TLS 1.3 with the peer portal
 * over the connected socket, and the record I/O the tunnel uses.
 *
 * TLS runs on our own BIOs (core/tls_bio.c): records are read with one
 * large recv() into sp->rx, and written records gather in sp->cipher so
 * that all a tunnel's frames of one wake-up leave with one send().  The
 * peer's certificate must name exactly the portal the server named
 * (tls_expect_peer), and the CA and CRL checks are those of the context.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "core/err.h"
#include "core/log.h"
#include "portal/portal_path_sock.h"
#include "portal/portal_tunnel.h"

/* Ciphertext taken from the socket with one recv(), at most. */
#define SOCK_PATH_RX_MAX	(256 * 1024)
/*
 * Ciphertext waiting for the socket: write() takes plaintext only while
 * less than HIGH is queued, at most CHUNK at a time, so MAX is never hit.
 */
#define SOCK_PATH_CIPHER_HIGH	(512 * 1024)
#define SOCK_PATH_WRITE_CHUNK	(256 * 1024)
#define SOCK_PATH_CIPHER_MAX	(2 * 1024 * 1024)

static const struct path_ops sock_path_ops;

static void	sock_path_ev_cb(evutil_socket_t fd, short what, void *arg);
static void	sock_path_resolved_cb(int err, const struct sockaddr *sa,
		    socklen_t salen, void *arg);

static struct sock_path *
sock_path_of(const struct path *p)
{
	return (struct sock_path *)(uintptr_t)p;
}

int
sock_path_init(struct sock_path *sp, struct tunnel *t,
    const struct sock_path_kind *kind, const char *host, uint16_t port)
{
	sp->base.ops = &sock_path_ops;
	sp->base.t = t;
	sp->base.state = PATH_SETUP;
	sp->base.kind = kind->name;
	sp->base.started_ms = loop_now_ms();
	sp->kind = kind;
	sp->portal = tunnel_portal(t);
	sp->initiator = tunnel_is_initiator(t);
	sp->fd = -1;
	sp->failed_in = SOCK_DONE;
	snprintf(sp->host, sizeof(sp->host), "%s", host);
	sp->port = port;
	buf_init(&sp->cipher, SOCK_PATH_CIPHER_MAX);
	tls_rx_init(&sp->rx, -1, SOCK_PATH_RX_MAX);
	return 0;
}

int
sock_path_init_fd(struct sock_path *sp, struct tunnel *t,
    const struct sock_path_kind *kind, int fd, const char *remote)
{
	struct event_base *base;

	(void)sock_path_init(sp, t, kind, "", 0);
	snprintf(sp->base.addr, sizeof(sp->base.addr), "%s", remote);
	base = loop_base(sp->portal->loop);
	sp->fd = fd;
	sp->rev = event_new(base, fd, EV_READ | EV_PERSIST, sock_path_ev_cb,
	    sp);
	sp->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, sock_path_ev_cb,
	    sp);
	return sp->rev == NULL || sp->wev == NULL ? -ENOMEM : 0;
}

/* Stops every event and lookup: nothing of sp runs after this. */
static void
sock_path_stop(struct sock_path *sp)
{
	sp->state = SOCK_DONE;
	net_resolve_cancel(sp->dns);
	sp->dns = NULL;
	if (sp->rev)
		event_del(sp->rev);
	if (sp->wev)
		event_del(sp->wev);
}

void
sock_path_fail(struct sock_path *sp, const char *fmt, ...)
{
	va_list ap;

	if (sp->state == SOCK_DONE)
		return;
	va_start(ap, fmt);
	vsnprintf(sp->base.why, sizeof(sp->base.why), fmt, ap);
	va_end(ap);
	sp->failed_in = sp->state;
	sock_path_stop(sp);
	ERR_clear_error();
	sp->base.state = PATH_FAILED;
	tunnel_path_failed(sp->base.t, &sp->base);
}

int
sock_path_send_buf(struct sock_path *sp, const uint8_t *b, size_t len,
    size_t *sent)
{
	ssize_t n;

	while (*sent < len) {
		n = send(sp->fd, b + *sent, len - *sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			event_add(sp->wev, NULL);
			return 0;
		}
		if (n < 0)
			return -errno;
		*sent += (size_t)n;
	}
	event_del(sp->wev);
	return 0;
}

/*
 * Sends the queued TLS records.  Returns 0 (all sent, or the rest waits for
 * the socket to take it: the write event is armed), or -errno.
 */
static int
sock_path_push_cipher(struct sock_path *sp)
{
	size_t sent = 0;
	int rc;

	rc = sock_path_send_buf(sp, buf_data(&sp->cipher),
	    buf_len(&sp->cipher), &sent);
	buf_consume(&sp->cipher, sent);
	return rc;
}

static void
sock_path_tls_step(struct sock_path *sp)
{
	char why[256];
	int r, err;

	ERR_clear_error();
	r = SSL_do_handshake(sp->ssl);
	err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(sp->ssl, r);
	if (err == SSL_ERROR_NONE || err == SSL_ERROR_WANT_READ) {
		if ((r = sock_path_push_cipher(sp)) != 0) {
			sock_path_fail(sp, "TLS handshake: sending to %s %s: %s",
			    sp->base.kind, sp->base.addr, strerror(-r));
			return;
		}
		if (err == SSL_ERROR_NONE) {
			/* An acceptor of another version would not choose. */
			if (!tls_alpn_is(sp->ssl, TLS_ALPN_TUNNEL)) {
				sock_path_fail(sp, "the peer portal speaks "
				    "another tunnel protocol (not %s): a "
				    "different netport version",
				    TLS_ALPN_TUNNEL);
				return;
			}
			sp->state = SOCK_UP;
			sp->base.state = PATH_UP;
			tunnel_path_up(sp->base.t, &sp->base);
		}
		return;
	}
	/* The alert OpenSSL wrote tells the peer why: send it. */
	(void)send(sp->fd, buf_data(&sp->cipher), buf_len(&sp->cipher),
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	buf_reset(&sp->cipher);
	tls_failure_reason(sp->ssl, why, sizeof(why));
	/*
	 * A direct peer got past the listener with a valid ticket, or
	 * answered our dial as paired: a failed handshake then means a peer
	 * that is not who the server named (or a broken one).  That is worth
	 * a line in the log, not only in netport status.
	 */
	if (why[0] && strcmp(sp->base.kind, "direct") == 0)
		log_warn(NULL, "direct path %s %s to portal/%s refused: TLS "
		    "handshake failed: %s; the tunnel does not use it",
		    sp->base.via, sp->base.addr, tunnel_peer(sp->base.t), why);
	sock_path_fail(sp, "TLS handshake with the peer failed: %s",
	    why[0] ? why : "connection closed");
}

void
sock_path_start_tls(struct sock_path *sp)
{
	struct np_identity peer;
	struct portal *p = sp->portal;
	BIO *rbio, *wbio;

	sp->state = SOCK_TLS;
	sp->ssl = SSL_new(sp->initiator ? p->tls_initiator : p->tls_acceptor);
	sp->rx.fd = sp->fd;
	if (sp->ssl == NULL || identity_set(&peer, NP_ROLE_PORTAL,
	    tunnel_peer(sp->base.t)) != 0 ||
	    tls_expect_peer(sp->ssl, &peer) != 0 ||
	    (rbio = tls_bio_from_rx(&sp->rx)) == NULL) {
		sock_path_fail(sp, "cannot set up TLS");
		return;
	}
	if ((wbio = tls_bio_to_buf(&sp->cipher)) == NULL) {
		BIO_free(rbio);
		sock_path_fail(sp, "cannot set up TLS");
		return;
	}
	/* Reads come from sp->rx; writes gather in sp->cipher. */
	SSL_set_bio(sp->ssl, rbio, wbio);
	if (sp->initiator)
		SSL_set_connect_state(sp->ssl);
	else
		SSL_set_accept_state(sp->ssl);
	sock_path_tls_step(sp);
}

static void
sock_path_dialed(struct sock_path *sp)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(sp->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		sock_path_fail(sp, "connect to %s %s: %s", sp->base.kind,
		    sp->base.addr, strerror(err));
		return;
	}
	net_tune_tcp(sp->fd);
	sp->state = SOCK_PREAMBLE;
	event_del(sp->wev);
	sp->kind->connected(sp);
}

static void
sock_path_resolved_cb(int err, const struct sockaddr *sa, socklen_t salen,
    void *arg)
{
	struct sock_path *sp = arg;
	struct event_base *base = loop_base(sp->portal->loop);
	int r;

	sp->dns = NULL;
	if (sp->state != SOCK_RESOLVING)
		return;
	if (err) {
		sock_path_fail(sp, "cannot resolve %s %s: %s", sp->base.kind,
		    sp->base.addr, evutil_gai_strerror(err));
		return;
	}
	sp->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (sp->fd < 0) {
		sock_path_fail(sp, "socket: %s", strerror(errno));
		return;
	}
	(void)net_mark_socket(sp->fd);
	if (sp->bind_port != 0 && (r = net_bind_shared_port(sp->fd,
	    sa->sa_family, sp->bind_port)) != 0) {
		sock_path_fail(sp, "cannot dial from port %u: %s",
		    sp->bind_port, strerror(-r));
		return;
	}
	sp->rev = event_new(base, sp->fd, EV_READ | EV_PERSIST,
	    sock_path_ev_cb, sp);
	sp->wev = event_new(base, sp->fd, EV_WRITE | EV_PERSIST,
	    sock_path_ev_cb, sp);
	if (sp->rev == NULL || sp->wev == NULL) {
		sock_path_fail(sp, "out of memory");
		return;
	}
	sp->state = SOCK_DIALING;
	if (connect(sp->fd, sa, salen) != 0 && errno != EINPROGRESS) {
		sock_path_fail(sp, "connect to %s %s: %s", sp->base.kind,
		    sp->base.addr, strerror(errno));
		return;
	}
	event_add(sp->rev, NULL);
	event_add(sp->wev, NULL);
}

/* Resolves and dials; failures are reported to the tunnel. */
static void
sock_path_start(struct path *p)
{
	struct sock_path *sp = sock_path_of(p);

	/* A connection accepted and vetted by the direct listener. */
	if (sp->fd >= 0) {
		event_add(sp->rev, NULL);
		sock_path_start_tls(sp);
		return;
	}
	sp->state = SOCK_RESOLVING;
	sp->dns = net_resolve_start(sp->portal->loop, sp->host, sp->port,
	    sock_path_resolved_cb, sp);
}

static void
sock_path_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sock_path *sp = arg;
	int r;

	switch (sp->state) {
	case SOCK_DIALING:
		if (what & EV_WRITE)
			sock_path_dialed(sp);
		return;
	case SOCK_PREAMBLE:
		sp->kind->preamble_ev(sp, what);
		return;
	case SOCK_TLS:
		if ((what & EV_WRITE) &&
		    (r = sock_path_push_cipher(sp)) != 0) {
			sock_path_fail(sp, "TLS handshake: sending to %s %s: %s",
			    sp->base.kind, sp->base.addr, strerror(-r));
			return;
		}
		if (what & EV_READ) {
			tls_rx_readable(&sp->rx);
			sock_path_tls_step(sp);
		}
		return;
	case SOCK_UP:
		if (what & EV_READ) {
			tls_rx_readable(&sp->rx);
			sp->write_wants_read = 0;
			tunnel_path_readable(sp->base.t, &sp->base);
			if (sp->state != SOCK_UP)
				return;
		}
		tunnel_path_writable(sp->base.t, &sp->base);
		return;
	default:
		return;
	}
}

/* ---- struct path_ops over TLS on the socket ---- */

static ssize_t
sock_path_read(struct path *p, uint8_t *dst, size_t cap)
{
	struct sock_path *sp = sock_path_of(p);
	char why[256];
	int n, err;

	if (sp->state != SOCK_UP)
		return NP_ECLOSED;
	n = SSL_read(sp->ssl, dst, (int)cap);
	if (n > 0)
		return n;
	err = SSL_get_error(sp->ssl, n);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(p->why, sizeof(p->why), "the peer closed the tunnel");
		return NP_ECLOSED;
	case SSL_ERROR_SYSCALL:
		snprintf(p->why, sizeof(p->why), "connection through %s %s %s",
		    p->kind, p->addr, errno ? strerror(errno) : "closed");
		return -EPIPE;
	default:
		/* OpenSSL 3 reports a plain EOF (no close_notify) as an SSL
		 * error: the path died, nobody misbehaved. */
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			snprintf(p->why, sizeof(p->why), "connection through "
			    "%s %s closed", p->kind, p->addr);
			return -EPIPE;
		}
		tls_drain_errors(why, sizeof(why));
		snprintf(p->why, sizeof(p->why), "TLS error: %s", why);
		return NP_ETLS;
	}
}

static ssize_t
sock_path_write(struct path *p, const uint8_t *src, size_t len)
{
	struct sock_path *sp = sock_path_of(p);
	char why[200];
	size_t taken = 0, chunk;
	int n;

	/*
	 * SSL_write() returns after each record (partial writes), and a
	 * successful one leaves the error queue empty: clear it once.
	 */
	ERR_clear_error();
	while (taken < len && !sp->write_wants_read &&
	    buf_len(&sp->cipher) < SOCK_PATH_CIPHER_HIGH) {
		chunk = len - taken < SOCK_PATH_WRITE_CHUNK ? len - taken :
		    SOCK_PATH_WRITE_CHUNK;
		n = SSL_write(sp->ssl, src + taken, (int)chunk);
		if (n > 0) {
			taken += (size_t)n;
			continue;
		}
		if (SSL_get_error(sp->ssl, n) == SSL_ERROR_WANT_READ) {
			sp->write_wants_read = 1;
			break;
		}
		tls_drain_errors(why, sizeof(why));
		snprintf(p->why, sizeof(p->why), "TLS write failed: %s", why);
		return NP_ETLS;
	}
	return (ssize_t)taken;
}

static int
sock_path_push(struct path *p)
{
	struct sock_path *sp = sock_path_of(p);
	int r;

	if ((r = sock_path_push_cipher(sp)) != 0)
		snprintf(p->why, sizeof(p->why), "sending to %s %s: %s",
		    p->kind, p->addr, strerror(-r));
	return r;
}

static int
sock_path_pending(const struct path *p)
{
	const struct sock_path *sp = sock_path_of(p);

	return tls_rx_pending(&sp->rx) > 0 || SSL_has_pending(sp->ssl);
}

/*
 * 1 when nothing waits for the socket and write() would take bytes.  While
 * ciphertext waits, the socket's write event comes and says writable.
 */
static int
sock_path_writable(const struct path *p)
{
	const struct sock_path *sp = sock_path_of(p);

	return sp->state == SOCK_UP && !sp->write_wants_read &&
	    buf_len(&sp->cipher) == 0;
}

/*
 * Gives an idle path's buffers back: ours and OpenSSL's record buffers.
 * They are allocated again on the next use.
 */
static void
sock_path_release(struct path *p)
{
	struct sock_path *sp = sock_path_of(p);

	if (buf_len(&sp->cipher) == 0)
		buf_release(&sp->cipher);
	if (tls_rx_pending(&sp->rx) == 0)
		buf_release(&sp->rx.buf);
	if (sp->ssl)
		(void)SSL_free_buffers(sp->ssl);
}

static void
sock_path_close(struct path *p, const uint8_t *last, size_t len)
{
	struct sock_path *sp = sock_path_of(p);

	/*
	 * Without last bytes the path just stops: no TLS close, so that the
	 * peer takes the end of the transport for a lost path, not for the
	 * end of the tunnel.
	 */
	if (sp->state == SOCK_UP && last != NULL &&
	    buf_len(&sp->cipher) < SOCK_PATH_CIPHER_HIGH) {
		ERR_clear_error();
		if (len)
			(void)SSL_write(sp->ssl, last, (int)len);
		(void)SSL_shutdown(sp->ssl);
		(void)send(sp->fd, buf_data(&sp->cipher), buf_len(&sp->cipher),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		ERR_clear_error();
	}
	sock_path_stop(sp);
}

static const char *
sock_path_phase(const struct path *p)
{
	const struct sock_path *sp = sock_path_of(p);
	enum sock_path_state st = sp->state;

	if (st == SOCK_DONE)
		st = sp->failed_in;
	switch (st) {
	case SOCK_RESOLVING:
	case SOCK_DIALING:
	case SOCK_PREAMBLE:
		return sp->kind->phases[st];
	case SOCK_TLS:
		return "TLS handshake with the peer";
	case SOCK_UP:
		return "open";
	default:
		return "closed";
	}
}

static void
sock_path_tls_info(const struct path *p, char *buf, size_t n)
{
	const struct sock_path *sp = sock_path_of(p);

	snprintf(buf, n, "%s, %s", sp->ssl ? SSL_get_version(sp->ssl) : "-",
	    sp->ssl ? SSL_get_cipher_name(sp->ssl) : "-");
}

static void
sock_path_free(struct path *p)
{
	struct sock_path *sp = sock_path_of(p);

	net_resolve_cancel(sp->dns);
	if (sp->kind->fini)
		sp->kind->fini(sp);
	if (sp->rev)
		event_free(sp->rev);
	if (sp->wev)
		event_free(sp->wev);
	SSL_free(sp->ssl);
	if (sp->fd >= 0)
		close(sp->fd);
	buf_release(&sp->cipher);
	buf_release(&sp->rx.buf);
	OPENSSL_cleanse(sp->hs, sizeof(sp->hs));
	free(sp);
}

static const struct path_ops sock_path_ops = {
	.start = sock_path_start,
	.read = sock_path_read,
	.write = sock_path_write,
	.push = sock_path_push,
	.pending = sock_path_pending,
	.writable = sock_path_writable,
	.release = sock_path_release,
	.close = sock_path_close,
	.phase = sock_path_phase,
	.tls_info = sock_path_tls_info,
	.free = sock_path_free,
};
