/* SPDX-License-Identifier: MIT */
/*
 * Tunnels: how a portal reaches a peer portal.
 *
 * Client side, the first connection under a rule makes the portal ask the
 * server for a tunnel; the grant names a relay and carries a ticket.  Both
 * portals dial the relay, present the ticket (docs/PROTOCOL.md, "Relay
 * handshake"), and once the relay answers "paired" they run TLS 1.3 end to
 * end over that connection, the client side as TLS client.  Each checks
 * that the peer's certificate names exactly the portal the server named.
 * Then streams flow (portal_stream.c); PINGs measure the round trip and
 * detect a dead path; an idle tunnel is closed.
 *
 * The tunnel only needs a connected socket under its TLS: the relay is one
 * way to get it, a direct connection between the portals will be another.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "core/err.h"
#include "core/log.h"
#include "core/tls.h"
#include "portal/portal_tunnel.h"

/* Records read per wake-up before other tunnels and streams get a turn. */
#define TUNNEL_READ_ROUNDS	64
/*
 * A tunnel without streams for this long gives its buffers back (and
 * again at each keepalive tick while it stays idle).  Not at once: a
 * client making one short connection after another would pay for the
 * buffers at every connection.
 */
#define TUNNEL_RELEASE_MS	1000
/*
 * Frame and record buffers beyond this size are what a bulk transfer left:
 * a tunnel that goes idle gives them back at once, without waiting for the
 * idle release.  Short connections never grow them this far.  (t->rx is
 * not one of them: it is always its full size, so it waits for the idle
 * release like OpenSSL's buffers.)
 */
#define TUNNEL_BULK_BUF		(256 * 1024)

static const char *const tunnel_state_names[] = {
	[TUN_REQUESTING] = "waiting for the server's grant",
	[TUN_RESOLVING] = "resolving the relay",
	[TUN_DIALING] = "connecting to the relay",
	[TUN_RELAY_HS] = "waiting for the relay to pair",
	[TUN_TLS] = "TLS handshake with the peer",
	[TUN_OPEN] = "open",
	[TUN_CLOSED] = "closed",
};

static const char *const relay_status_text[] = {
	"paired", "malformed handshake", "ticket signature or key invalid",
	"ticket expired", "ticket already used", "ticket is for another relay",
	"the other portal did not arrive in time", "relay at capacity",
};

static void	tunnel_ev_cb(evutil_socket_t fd, short what, void *arg);
static void	tunnel_flush_cb(evutil_socket_t fd, short what, void *arg);
static void	tunnel_read(struct tunnel *t);
static void	tunnel_arm(struct tunnel *t);

static int
tunnel_stream_eq(const struct hmap_node *n, const void *key)
{
	const struct stream *s = hmap_entry_const(n, struct stream, node);

	return s->id == *(const uint32_t *)key;
}

struct stream *
tunnel_find_stream(struct tunnel *t, uint32_t id)
{
	struct hmap_node *n;

	n = hmap_find(&t->streams, hmap_hash_bytes(&id, sizeof(id)),
	    tunnel_stream_eq, &id);
	return n ? hmap_entry(n, struct stream, node) : NULL;
}

/* 1 when received bytes wait that no socket event will announce. */
static int
tunnel_rx_pending(struct tunnel *t)
{
	return tls_rx_pending(&t->rx) > 0 || SSL_has_pending(t->ssl);
}

static void
tunnel_free(void *arg)
{
	struct tunnel *t = arg;

	if (t->rev)
		event_free(t->rev);
	if (t->wev)
		event_free(t->wev);
	if (t->flush_ev)
		event_free(t->flush_ev);
	loop_timer_free(t->timer);
	SSL_free(t->ssl);
	if (t->fd >= 0)
		close(t->fd);
	buf_release(&t->in);
	buf_release(&t->out);
	buf_release(&t->cipher);
	buf_release(&t->rx.buf);
	hmap_release(&t->streams);
	free(t);
}

int
tunnel_out_full(const struct tunnel *t)
{
	return buf_len(&t->out) >= TUNNEL_OUT_HIGH;
}

void
tunnel_block(struct tunnel *t, struct stream *s)
{
	if (s->queue)
		return;
	TAILQ_INSERT_TAIL(&t->blocked, s, qentry);
	s->queue = STREAM_Q_BLOCKED;
}

void
tunnel_stream_gone(struct tunnel *t, struct stream *s)
{
	if (s->queue == STREAM_Q_WAITING) {
		TAILQ_REMOVE(&t->waiting, s, qentry);
		t->nwaiting--;
	} else if (s->queue == STREAM_Q_BLOCKED)
		TAILQ_REMOVE(&t->blocked, s, qentry);
	s->queue = 0;
	if (s->id && tunnel_find_stream(t, s->id) == s) {
		hmap_remove(&t->streams, &s->node);
		t->nstreams--;
	}
	if (t->nstreams == 0 && t->nwaiting == 0 && t->idle_since_ms == 0) {
		t->idle_since_ms = loop_now_ms();
		t->released = 0;
		if (t->state == TUN_OPEN) {
			tunnel_arm(t);	/* for the release of its buffers */
			/* The flush gives back what a transfer grew. */
			tunnel_flush_soon(t);
		}
	}
}

/* Resets every stream of a dying tunnel, locally only. */
static void
tunnel_abort_streams(struct tunnel *t, uint16_t code, const char *why)
{
	struct hmap_node *n, *next;
	struct stream *s;
	size_t iter = 0;

	while ((s = TAILQ_FIRST(&t->waiting)) != NULL)
		stream_reset(s, code, "%s", why);
	for (n = hmap_first(&t->streams, &iter); n; n = next) {
		next = hmap_next(&t->streams, n, &iter);
		stream_reset(hmap_entry(n, struct stream, node), code, "%s",
		    why);
	}
}

void
tunnel_close(struct tunnel *t, uint16_t code, const char *fmt, ...)
{
	struct portal *p = t->p;
	char why[256];
	va_list ap;

	if (t->state == TUN_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_info(&t->log, "tunnel %s to portal/%s closed (%s): %s (rtt %u ms)",
	    t->tid[0] ? t->tid : "-", t->peer, tunnel_state_names[t->state],
	    why, t->rtt_ms);
	if (t->state == TUN_OPEN) {
		/* Tell the peer why, if the path still takes it. */
		buf_reset(&t->out);
		if (mux_put_goaway(&t->out, code, why) == 0 &&
		    buf_len(&t->cipher) < TUNNEL_CIPHER_HIGH) {
			ERR_clear_error();
			(void)SSL_write(t->ssl, buf_data(&t->out),
			    (int)buf_len(&t->out));
			(void)SSL_shutdown(t->ssl);
			(void)send(t->fd, buf_data(&t->cipher),
			    buf_len(&t->cipher), MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		buf_reset(&t->out);
	}
	t->state = TUN_CLOSED;
	net_resolve_cancel(t->dns);
	t->dns = NULL;
	if (t->rev)
		event_del(t->rev);
	if (t->wev)
		event_del(t->wev);
	event_del(t->flush_ev);
	loop_timer_cancel(t->timer);
	tunnel_abort_streams(t, code, why);
	ERR_clear_error();
	TAILQ_REMOVE(&p->tunnels, t, entry);
	loop_defer_free(p->loop, &t->defer, tunnel_free, t);
}

static struct tunnel *
tunnel_new(struct portal *p, const char *peer, int initiator)
{
	struct tunnel *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	/* Same priority as the I/O events: runs after those already due. */
	t->flush_ev = event_new(loop_base(p->loop), -1, 0, tunnel_flush_cb, t);
	if (t->flush_ev == NULL) {
		free(t);
		return NULL;
	}
	t->p = p;
	t->fd = -1;
	t->initiator = initiator;
	t->next_stream = initiator ? 1 : 2;
	snprintf(t->peer, sizeof(t->peer), "%s", peer);
	snprintf(t->peer_str, sizeof(t->peer_str), "portal/%s", peer);
	t->log.conn_id = loop_next_conn_id();
	t->log.peer = t->peer_str;
	buf_init(&t->in, TUNNEL_IN_MAX);
	buf_init(&t->out, TUNNEL_OUT_MAX);
	buf_init(&t->cipher, TUNNEL_CIPHER_MAX);
	tls_rx_init(&t->rx, -1, TUNNEL_RX_MAX);
	hmap_init(&t->streams);
	TAILQ_INIT(&t->waiting);
	TAILQ_INIT(&t->blocked);
	TAILQ_INIT(&t->udp_done);
	t->created_ms = loop_now_ms();
	t->window_budget = TUNNEL_WINDOW_BUDGET;
	return t;
}

/*
 * An open tunnel's timer: the earliest of the next PING and the dead-path
 * deadline (last receive + tunnel.dead_timeout), so that a dead path is
 * found at its deadline, not at the next keepalive tick after it.
 */
static void
tunnel_arm(struct tunnel *t)
{
	uint64_t now = loop_now_ms(), next = t->next_ping_ms;
	uint64_t dead = t->last_rx_ms + (uint64_t)t->p->conf->tunnel_dead_timeout;

	if (dead < next)
		next = dead;
	if (t->idle_since_ms && !t->released &&
	    t->idle_since_ms + TUNNEL_RELEASE_MS < next)
		next = t->idle_since_ms + TUNNEL_RELEASE_MS;
	loop_timer_arm(t->timer, next > now ? next - now : 0);
}

/*
 * Frees the frame and record buffers (t->in, t->out, t->cipher) that are
 * empty and larger than above; 1 when it freed any.  Never from inside
 * tunnel_read(), whose frames live in t->in while they are processed.
 */
static int
tunnel_give_back(struct tunnel *t, size_t above)
{
	struct buf *bufs[] = { &t->in, &t->out, &t->cipher };
	size_t i;
	int freed = 0;

	for (i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
		if (buf_len(bufs[i]) == 0 && bufs[i]->cap > above) {
			buf_release(bufs[i]);
			freed = 1;
		}
	}
	return freed;
}

/*
 * Gives the buffers of an idle tunnel back: ours, OpenSSL's record buffers,
 * and then the whole free pages of the heap, which after a transfer hold
 * megabytes that malloc would otherwise keep for the next one.
 */
static void
tunnel_release_buffers(struct tunnel *t)
{
	(void)tunnel_give_back(t, 0);
	if (tls_rx_pending(&t->rx) == 0)
		buf_release(&t->rx.buf);
	(void)SSL_free_buffers(t->ssl);
	malloc_trim(0);
	t->released = 1;
}

/* The setup deadline, then the keepalive / dead-path / idle tick. */
static void
tunnel_timer_cb(struct loop_timer *timer, void *arg)
{
	struct tunnel *t = arg;
	struct portal_conf *c = t->p->conf;
	uint64_t now = loop_now_ms();

	if (t->state != TUN_OPEN) {
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "not up within %lld ms",
		    c->tunnel_setup_timeout);
		return;
	}
	if (now - t->last_rx_ms >= (uint64_t)c->tunnel_dead_timeout) {
		tunnel_close(t, MUX_R_PEER_GONE, "nothing received for %llu "
		    "ms (tunnel.dead_timeout)",
		    (unsigned long long)(now - t->last_rx_ms));
		return;
	}
	/* Only the side that opens streams decides that a tunnel is idle. */
	if (t->initiator && t->idle_since_ms &&
	    now - t->idle_since_ms >= (uint64_t)c->tunnel_idle_timeout) {
		tunnel_close(t, MUX_R_IDLE, "no streams for %lld ms "
		    "(tunnel.idle_timeout)", c->tunnel_idle_timeout);
		return;
	}
	if (t->idle_since_ms &&
	    now - t->idle_since_ms >= TUNNEL_RELEASE_MS)
		tunnel_release_buffers(t);
	if (now >= t->next_ping_ms) {
		t->ping_value = now;
		t->ping_sent_ms = now;
		t->next_ping_ms = now + (uint64_t)c->tunnel_keepalive;
		if (mux_put_ping(&t->out, 0, t->ping_value) != 0) {
			tunnel_close(t, MUX_R_INTERNAL, "cannot queue a ping");
			return;
		}
		if (tunnel_flush(t) != 0)
			return;
	}
	tunnel_arm(t);
}

static void
tunnel_opened(struct tunnel *t)
{
	struct stream *s;

	t->state = TUN_OPEN;
	t->last_rx_ms = loop_now_ms();
	if (t->nstreams == 0 && t->nwaiting == 0)
		t->idle_since_ms = t->last_rx_ms;
	log_info(&t->log, "tunnel %s to portal/%s up via relay %s (%s, %s, "
	    "%llu ms)", t->tid, t->peer, t->relay, SSL_get_version(t->ssl),
	    SSL_get_cipher_name(t->ssl),
	    (unsigned long long)(loop_now_ms() - t->created_ms));
	loop_timer_cancel(t->timer);
	t->next_ping_ms = t->last_rx_ms + (uint64_t)t->p->conf->tunnel_keepalive;
	tunnel_arm(t);
	/*
	 * The record that finished the handshake may have arrived together
	 * with the peer's first frames: they sit in t->rx and no socket event
	 * will announce them.
	 */
	if (tunnel_rx_pending(t)) {
		tunnel_read(t);
		if (t->state != TUN_OPEN)
			return;
	}
	while ((s = TAILQ_FIRST(&t->waiting)) != NULL) {
		TAILQ_REMOVE(&t->waiting, s, qentry);
		t->nwaiting--;
		s->queue = 0;
		stream_start(s);
		if (t->state != TUN_OPEN)
			return;
	}
	tunnel_flush(t);
}

/*
 * Sends the queued TLS records.  Returns 0 (all sent, or the rest waits for
 * the socket to take it: the write event is armed), or -errno.
 */
static int
tunnel_push(struct tunnel *t)
{
	ssize_t n;

	while (buf_len(&t->cipher) > 0) {
		n = send(t->fd, buf_data(&t->cipher), buf_len(&t->cipher),
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				event_add(t->wev, NULL);
				return 0;
			}
			return -errno;
		}
		buf_consume(&t->cipher, (size_t)n);
	}
	event_del(t->wev);
	return 0;
}

static void
tunnel_tls_step(struct tunnel *t)
{
	char why[300];
	int r, err;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
	if (err == SSL_ERROR_NONE || err == SSL_ERROR_WANT_READ) {
		if ((r = tunnel_push(t)) != 0) {
			tunnel_close(t, MUX_R_TUNNEL_FAILED, "TLS handshake: "
			    "sending to relay %s: %s", t->relay, strerror(-r));
			return;
		}
		if (err == SSL_ERROR_NONE)
			tunnel_opened(t);
		return;
	}
	switch (err) {
	default:
		/* The alert OpenSSL wrote tells the peer why: send it. */
		(void)send(t->fd, buf_data(&t->cipher), buf_len(&t->cipher),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		buf_reset(&t->cipher);
		tls_failure_reason(t->ssl, why, sizeof(why));
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "TLS handshake with the "
		    "peer failed: %s", why[0] ? why : "connection closed");
	}
}

static void
tunnel_start_tls(struct tunnel *t)
{
	struct np_identity peer;
	BIO *rbio, *wbio;

	t->state = TUN_TLS;
	t->ssl = SSL_new(t->initiator ? t->p->tls_initiator :
	    t->p->tls_acceptor);
	t->rx.fd = t->fd;
	if (t->ssl == NULL || identity_set(&peer, NP_ROLE_PORTAL,
	    t->peer) != 0 || tls_expect_peer(t->ssl, &peer) != 0 ||
	    (rbio = tls_bio_from_rx(&t->rx)) == NULL) {
		tunnel_close(t, MUX_R_INTERNAL, "cannot set up TLS");
		return;
	}
	if ((wbio = tls_bio_to_buf(&t->cipher)) == NULL) {
		BIO_free(rbio);
		tunnel_close(t, MUX_R_INTERNAL, "cannot set up TLS");
		return;
	}
	/* Reads come from t->rx; writes gather in t->cipher. */
	SSL_set_bio(t->ssl, rbio, wbio);
	if (t->initiator)
		SSL_set_connect_state(t->ssl);
	else
		SSL_set_accept_state(t->ssl);
	tunnel_tls_step(t);
}

/* Sends the relay handshake: "NPR" 1 | side | u16 n | ticket. */
static int
tunnel_send_relay_hs(struct tunnel *t)
{
	uint8_t hs[7 + PROTO_TICKET_MAX];
	size_t n = 7 + t->ticket_len;
	ssize_t w;

	memcpy(hs, "NPR\x01", 4);
	hs[4] = t->initiator ? 1 : 2;
	hs[5] = (uint8_t)(t->ticket_len >> 8);
	hs[6] = (uint8_t)t->ticket_len;
	memcpy(hs + 7, t->ticket, t->ticket_len);
	while (t->hs_sent < n) {
		w = send(t->fd, hs + t->hs_sent, n - t->hs_sent, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			event_add(t->wev, NULL);
			return 0;
		}
		if (w < 0)
			return -errno;
		t->hs_sent += (size_t)w;
	}
	event_del(t->wev);
	t->state = TUN_RELAY_HS;
	return 0;
}

static void
tunnel_relay_reply(struct tunnel *t)
{
	ssize_t n;

	/* Exactly four bytes: what follows belongs to TLS. */
	n = recv(t->fd, t->hs_reply + t->hs_got, 4 - t->hs_got, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "relay %s closed the "
		    "connection before pairing%s%s", t->relay, n < 0 ? ": " : "",
		    n < 0 ? strerror(errno) : "");
		return;
	}
	t->hs_got += (size_t)n;
	if (t->hs_got < 4)
		return;
	if (memcmp(t->hs_reply, "NPR", 3) != 0) {
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "relay %s sent a bad "
		    "reply", t->relay);
		return;
	}
	if (t->hs_reply[3] != 0) {
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "relay %s refused: %s",
		    t->relay, t->hs_reply[3] < sizeof(relay_status_text) /
		    sizeof(relay_status_text[0]) ?
		    relay_status_text[t->hs_reply[3]] : "unknown status");
		return;
	}
	tunnel_start_tls(t);
}

static void
tunnel_dialed(struct tunnel *t)
{
	socklen_t len = sizeof(int);
	int err = 0, r;

	if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "connect to relay %s: %s",
		    t->relay, strerror(err));
		return;
	}
	net_tune_tcp(t->fd);
	if ((r = tunnel_send_relay_hs(t)) != 0)
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "sending the ticket to "
		    "relay %s: %s", t->relay, strerror(-r));
}

static void
tunnel_resolved_cb(int err, const struct sockaddr *sa, socklen_t salen,
    void *arg)
{
	struct tunnel *t = arg;
	struct event_base *base = loop_base(t->p->loop);

	t->dns = NULL;
	if (t->state != TUN_RESOLVING)
		return;
	if (err) {
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "cannot resolve relay %s: "
		    "%s", t->relay, evutil_gai_strerror(err));
		return;
	}
	t->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (t->fd < 0) {
		tunnel_close(t, MUX_R_INTERNAL, "socket: %s", strerror(errno));
		return;
	}
	t->rev = event_new(base, t->fd, EV_READ | EV_PERSIST, tunnel_ev_cb, t);
	t->wev = event_new(base, t->fd, EV_WRITE | EV_PERSIST, tunnel_ev_cb,
	    t);
	if (t->rev == NULL || t->wev == NULL) {
		tunnel_close(t, MUX_R_INTERNAL, "out of memory");
		return;
	}
	t->state = TUN_DIALING;
	if (connect(t->fd, sa, salen) != 0 && errno != EINPROGRESS) {
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "connect to relay %s: %s",
		    t->relay, strerror(errno));
		return;
	}
	event_add(t->rev, NULL);
	event_add(t->wev, NULL);
}

/* Starts the path to the relay named by a grant. */
static void
tunnel_dial(struct tunnel *t, const struct proto_msg *g)
{
	static const char hex[] = "0123456789abcdef";
	struct conf_endpoint ep;
	char why[128];
	size_t i;

	for (i = 0; i < PROTO_TUNNEL_ID_LEN; i++) {
		t->tid[2 * i] = hex[g->tunnel_id[i] >> 4];
		t->tid[2 * i + 1] = hex[g->tunnel_id[i] & 15];
	}
	t->tid[2 * PROTO_TUNNEL_ID_LEN] = '\0';
	snprintf(t->relay, sizeof(t->relay), "%s", g->relay);
	memcpy(t->ticket, g->ticket, g->ticket_len);
	t->ticket_len = g->ticket_len;
	log_info(&t->log, "tunnel %s to portal/%s granted (rule %s, %s "
	    "side): relay %s at %s", t->tid, t->peer, g->rule[0] ? g->rule :
	    "-", t->initiator ? "client" : "service", g->relay_name, g->relay);
	if (conf_endpoint_parse(g->relay, 1, 65535, &ep, why,
	    sizeof(why)) != 0) {
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "bad relay address %s: %s",
		    g->relay, why);
		return;
	}
	t->state = TUN_RESOLVING;
	t->dns = net_resolve_start(t->p->loop, ep.host, ep.port,
	    tunnel_resolved_cb, t);
}

/*
 * Hands a DATA frame to its stream together with the DATA frames of the
 * same stream right behind it in t->in, so that the stream writes them
 * with one syscall.  Returns how many bytes of t->in that covered.
 */
static size_t
tunnel_take_data(struct tunnel *t, const struct mux_frame *first, size_t need)
{
	struct iovec iov[TUNNEL_DATA_BATCH];
	const uint8_t *p = buf_data(&t->in);
	size_t avail = buf_len(&t->in), total = first->hdr.len, next;
	struct mux_frame f;
	struct mux_hdr h;
	const char *why;
	int n = 1, fin = (first->hdr.flags & MUX_FLAG_FIN) != 0;

	iov[0].iov_base = (void *)(uintptr_t)first->data;
	iov[0].iov_len = first->hdr.len;
	while (!fin && n < TUNNEL_DATA_BATCH && avail - need >= MUX_HDR_LEN) {
		if (mux_hdr_decode(p + need, avail - need, &h) != 0 ||
		    h.type != MUX_DATA || h.stream != first->hdr.stream)
			break;
		next = MUX_HDR_LEN + (size_t)h.len;
		if (avail - need < next ||
		    mux_decode(p + need, next, &f, &why) != 0)
			break;	/* incomplete, or bad: the main loop decides */
		iov[n].iov_base = (void *)(uintptr_t)f.data;
		iov[n++].iov_len = f.hdr.len;
		total += f.hdr.len;
		fin = (f.hdr.flags & MUX_FLAG_FIN) != 0;
		need += next;
	}
	stream_on_data(tunnel_find_stream(t, first->hdr.stream), iov, n,
	    total, fin);
	return need;
}

/* Handles the frames in t->in; returns -1 when the tunnel closed. */
static int
tunnel_process(struct tunnel *t)
{
	struct mux_frame f;
	struct mux_hdr h;
	const char *why;
	size_t need;
	int r;

	while (buf_len(&t->in) >= MUX_HDR_LEN) {
		if ((r = mux_hdr_decode(buf_data(&t->in), buf_len(&t->in),
		    &h)) != 0) {
			tunnel_close(t, MUX_R_PROTOCOL, "bad frame header (type "
			    "%u, length %u): %s", buf_data(&t->in)[0],
			    (unsigned)(buf_data(&t->in)[2] << 8 |
			    buf_data(&t->in)[3]), np_strerror(r));
			return -1;
		}
		need = MUX_HDR_LEN + (size_t)h.len;
		if (buf_len(&t->in) < need)
			return 0;
		if (mux_decode(buf_data(&t->in), need, &f, &why) != 0) {
			tunnel_close(t, MUX_R_PROTOCOL, "malformed frame (type "
			    "%u, stream %u): %s", h.type, h.stream, why);
			return -1;
		}
		switch (f.hdr.type) {
		case MUX_DATA:
			need = tunnel_take_data(t, &f, need);
			break;
		case MUX_OPEN:
			stream_on_open(t, &f);
			break;
		case MUX_WINDOW:
			stream_on_window(tunnel_find_stream(t, f.hdr.stream),
			    f.increment);
			break;
		case MUX_RESET:
			stream_on_reset(tunnel_find_stream(t, f.hdr.stream),
			    f.code, f.reason);
			break;
		case MUX_PING:
			if (f.hdr.flags & MUX_FLAG_ACK) {
				if (f.ping == t->ping_value && t->ping_sent_ms)
					t->rtt_ms = (uint32_t)(loop_now_ms() -
					    t->ping_sent_ms);
			} else if (mux_put_ping(&t->out, MUX_FLAG_ACK,
			    f.ping) != 0) {
				tunnel_close(t, MUX_R_INTERNAL, "cannot queue "
				    "a ping answer");
				return -1;
			}
			break;
		case MUX_DGRAM:
			udp_on_dgram(tunnel_find_stream(t, f.hdr.stream), &f);
			break;
		case MUX_GOAWAY:
			if (!t->goaway)
				log_info(&t->log, "peer is closing tunnel %s: "
				    "%s%s%s", t->tid, mux_reset_text(f.code),
				    f.reason[0] ? ": " : "", f.reason);
			t->goaway = 1;
			break;
		}
		if (t->state != TUN_OPEN)
			return -1;
		buf_consume(&t->in, need);
	}
	return 0;
}

/* Closes the tunnel for an SSL_read() that failed with err (not WANT_READ). */
static void
tunnel_read_failed(struct tunnel *t, int err)
{
	char why[300];

	switch (err) {
	case SSL_ERROR_ZERO_RETURN:
		tunnel_close(t, MUX_R_PEER_GONE, "the peer closed the tunnel");
		return;
	case SSL_ERROR_SYSCALL:
		tunnel_close(t, MUX_R_PEER_GONE, "connection through relay %s "
		    "%s", t->relay, errno ? strerror(errno) : "closed");
		return;
	default:
		/* OpenSSL 3 reports a plain EOF (no close_notify) as an SSL
		 * error: the path died, nobody misbehaved. */
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			tunnel_close(t, MUX_R_PEER_GONE, "connection through "
			    "relay %s closed", t->relay);
			return;
		}
		tls_drain_errors(why, sizeof(why));
		tunnel_close(t, MUX_R_PROTOCOL, "TLS error: %s", why);
	}
}

/*
 * Decrypts records into t->in while they come and a whole one still fits,
 * and only then hands the frames on: a stream's consecutive DATA frames
 * then leave with one write to its socket instead of one per record.
 */
static void
tunnel_read(struct tunnel *t)
{
	uint8_t *p;
	int i, n, err, saved;

	/* A successful SSL_read() leaves the queue empty: clear it once. */
	ERR_clear_error();
	for (i = 0; i < TUNNEL_READ_ROUNDS; i++) {
		if (buf_reserve(&t->in, TUNNEL_RECORD_MAX, &p) != 0) {
			/* Full of frames that wait for a record's room. */
			if (tunnel_process(t) != 0)
				return;
			if (buf_reserve(&t->in, TUNNEL_RECORD_MAX, &p) != 0) {
				tunnel_close(t, MUX_R_INTERNAL, "out of memory");
				return;
			}
		}
		n = SSL_read(t->ssl, p, TUNNEL_RECORD_MAX);
		if (n > 0) {
			buf_commit(&t->in, (size_t)n);
			if (i == 0)	/* once per batch is precise enough */
				t->last_rx_ms = loop_now_ms();
			continue;
		}
		/* Frames that came before the end or the error count. */
		err = SSL_get_error(t->ssl, n);
		saved = errno;
		if (tunnel_process(t) != 0)
			return;
		if (err != SSL_ERROR_WANT_READ) {
			errno = saved;
			tunnel_read_failed(t, err);
		}
		return;
	}
	if (tunnel_process(t) != 0)
		return;
	/* Yielded with records left in our buffers: come back. */
	if (tunnel_rx_pending(t))
		event_active(t->rev, EV_READ, 0);
}

void
tunnel_flush_soon(struct tunnel *t)
{
	if (t->state != TUN_CLOSED)
		event_active(t->flush_ev, 0, 0);
}

/* An idle tunnel also gives back here what a bulk transfer grew. */
static void
tunnel_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel *t = arg;

	if (tunnel_flush(t) == 0 && t->state == TUN_OPEN && t->idle_since_ms &&
	    tunnel_give_back(t, TUNNEL_BULK_BUF))
		malloc_trim(0);
}

int
tunnel_flush(struct tunnel *t)
{
	char why[300];
	struct stream *s;
	size_t chunk;
	int n, r, rounds;

	if (t->state != TUN_OPEN)
		return t->state == TUN_CLOSED ? -1 : 0;
	for (rounds = 0; rounds < 2; rounds++) {
		/*
		 * Encrypt while the socket keeps up; then send in one go.
		 * SSL_write() returns after each record (partial writes), and a
		 * successful one leaves the error queue empty: clear it once.
		 */
		ERR_clear_error();
		while (buf_len(&t->out) > 0 && !t->write_wants_read &&
		    buf_len(&t->cipher) < TUNNEL_CIPHER_HIGH) {
			chunk = buf_len(&t->out) < TUNNEL_WRITE_CHUNK ?
			    buf_len(&t->out) : TUNNEL_WRITE_CHUNK;
			n = SSL_write(t->ssl, buf_data(&t->out), (int)chunk);
			if (n > 0) {
				buf_consume(&t->out, (size_t)n);
				continue;
			}
			if (SSL_get_error(t->ssl, n) == SSL_ERROR_WANT_READ) {
				t->write_wants_read = 1;
				break;
			}
			tls_drain_errors(why, sizeof(why));
			tunnel_close(t, MUX_R_INTERNAL, "TLS write failed: %s",
			    why);
			return -1;
		}
		if ((r = tunnel_push(t)) != 0) {
			tunnel_close(t, MUX_R_PEER_GONE, "sending to relay %s: %s",
			    t->relay, strerror(-r));
			return -1;
		}
		/* Room again: let paused streams read, then write that. */
		if (TAILQ_EMPTY(&t->blocked) ||
		    buf_len(&t->out) >= TUNNEL_OUT_LOW)
			break;
		while ((s = TAILQ_FIRST(&t->blocked)) != NULL &&
		    buf_len(&t->out) < TUNNEL_OUT_LOW) {
			TAILQ_REMOVE(&t->blocked, s, qentry);
			s->queue = 0;
			stream_resume(s);
			if (t->state != TUN_OPEN)
				return -1;
		}
	}
	/*
	 * Frames are left while the socket took every record (no write
	 * event will come): the encryption stopped at TUNNEL_CIPHER_HIGH, or
	 * the streams resumed last round added more.  Go on in the next turn
	 * of the loop, or, with every stream paused, nothing would ever send
	 * them (the tunnel would stall until its keepalive tick).
	 */
	if (buf_len(&t->cipher) == 0 && !t->write_wants_read &&
	    (buf_len(&t->out) > 0 || !TAILQ_EMPTY(&t->blocked)))
		tunnel_flush_soon(t);
	return 0;
}

static void
tunnel_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel *t = arg;

	switch (t->state) {
	case TUN_DIALING:
		if (what & EV_WRITE)
			tunnel_dialed(t);
		return;
	case TUN_RELAY_HS:
		if (what & EV_READ)
			tunnel_relay_reply(t);
		return;
	case TUN_TLS:
		if (what & EV_WRITE) {
			int r = tunnel_push(t);

			if (r != 0) {
				tunnel_close(t, MUX_R_TUNNEL_FAILED, "TLS "
				    "handshake: sending to relay %s: %s",
				    t->relay, strerror(-r));
				return;
			}
		}
		if (what & EV_READ) {
			tls_rx_readable(&t->rx);
			tunnel_tls_step(t);
		}
		return;
	case TUN_OPEN:
		if (what & EV_READ) {
			tls_rx_readable(&t->rx);
			t->write_wants_read = 0;
			tunnel_read(t);
		}
		tunnel_flush_soon(t);
		return;
	default:
		return;
	}
}

static int
tunnel_arm_setup(struct tunnel *t)
{
	if ((t->timer = loop_timer_new(t->p->loop, tunnel_timer_cb,
	    t)) == NULL)
		return -ENOMEM;
	loop_timer_arm(t->timer, (uint64_t)t->p->conf->tunnel_setup_timeout);
	return 0;
}

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
tunnel_for_rule(struct portal *p, const struct portal_rule *rule,
    const char *who)
{
	struct tunnel *t;

	if ((t = tunnel_find_usable(p, rule->peer)) != NULL)
		return t;
	if ((t = tunnel_new(p, rule->peer, 1)) == NULL ||
	    tunnel_arm_setup(t) != 0) {
		log_error(NULL, "%s for rule %s refused: out of memory", who,
		    rule->name);
		if (t)
			tunnel_free(t);
		return NULL;
	}
	snprintf(t->rule, sizeof(t->rule), "%s", rule->name);
	t->request_id = portal_ctl_request_tunnel(p, rule->name);
	if (t->request_id == 0) {
		log_warn(&t->log, "%s for rule %s refused: no session with the "
		    "server to ask for a tunnel", who, rule->name);
		tunnel_free(t);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&p->tunnels, t, entry);
	log_debug(&t->log, "asked the server for a tunnel to portal/%s (rule "
	    "%s)", rule->peer, rule->name);
	return t;
}

int
tunnel_add_stream(struct tunnel *t, struct stream *s)
{
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
    int fd, const char *remote)
{
	struct tunnel *t;
	struct stream *s;
	struct linger l = { 1, 0 };
	char who[NET_ADDR_STR_MAX + 32];

	snprintf(who, sizeof(who), "connection from %s", remote);
	if ((t = tunnel_for_rule(p, rule, who)) == NULL)
		goto refuse;
	if (t->state != TUN_OPEN &&
	    t->nwaiting >= (size_t)p->conf->max_waiting) {
		log_warn(&t->log, "%s for rule %s refused: %zu connections "
		    "already wait for the tunnel (tunnel.max_waiting)", who,
		    rule->name, t->nwaiting);
		goto refuse;
	}
	if ((s = stream_new_client(t, rule->name, fd, remote)) == NULL) {
		log_error(&t->log, "%s for rule %s refused: out of memory", who,
		    rule->name);
		goto refuse;
	}
	(void)tunnel_add_stream(t, s);	/* room was checked above */
	tunnel_flush_soon(t);	/* with the OPENs of the rest of the batch */
	return;
refuse:
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

void
portal_tunnel_grant(struct portal *p, const struct proto_msg *m)
{
	struct tunnel *t;
	size_t i;
	int known = 0;

	if (m->side == PROTO_SIDE_CLIENT) {
		TAILQ_FOREACH(t, &p->tunnels, entry)
			if (t->state == TUN_REQUESTING &&
			    t->request_id == m->id)
				break;
		if (t == NULL || strcmp(t->peer, m->peer) != 0) {
			log_warn(NULL, "ignoring a grant for request %u to "
			    "portal/%s: no such request", m->id, m->peer);
			return;
		}
		tunnel_dial(t, m);
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
	if ((t = tunnel_new(p, m->peer, 0)) == NULL ||
	    tunnel_arm_setup(t) != 0) {
		log_error(NULL, "cannot accept a tunnel from portal/%s: out of "
		    "memory", m->peer);
		if (t)
			tunnel_free(t);
		return;
	}
	TAILQ_INSERT_TAIL(&p->tunnels, t, entry);
	tunnel_dial(t, m);
}

void
portal_tunnel_refused(struct portal *p, const struct proto_msg *m)
{
	struct tunnel *t;

	TAILQ_FOREACH(t, &p->tunnels, entry) {
		if (t->state == TUN_REQUESTING && t->request_id == m->id) {
			tunnel_close(t, MUX_R_TUNNEL_FAILED, "the server refused "
			    "(rule %s): %s%s%s", t->rule,
			    proto_error_text(m->code), m->message[0] ? ": " :
			    "", m->message);
			return;
		}
	}
	log_warn(NULL, "server error %u for unknown request %u: %s", m->code,
	    m->id, m->message);
}

void
portal_tunnel_ctl_down(struct portal *p)
{
	struct tunnel *t, *next;

	TAILQ_FOREACH_SAFE(t, &p->tunnels, entry, next)
		if (t->state == TUN_REQUESTING)
			tunnel_close(t, MUX_R_TUNNEL_FAILED, "lost the session "
			    "with the server before the grant");
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
	size_t i;

	if (!t->initiator || (s->id & 1) == 0)
		return portal_find_service_rule(p, s->rule, t->peer) != NULL;
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].side == PROTO_SIDE_CLIENT &&
		    strcmp(p->rules[i].name, s->rule) == 0 &&
		    strcmp(p->rules[i].peer, t->peer) == 0)
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
	struct tunnel *t;
	int live = 0;

	TAILQ_FOREACH(t, &p->tunnels, entry) {
		t->goaway = 1;
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
