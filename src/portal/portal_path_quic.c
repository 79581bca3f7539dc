/* SPDX-License-Identifier: MIT */
/*
 * A direct path over QUIC (portal_path_quic.h has the protocol): probes
 * until the peer answers, then a QUIC connection by ngtcp2 with TLS 1.3 by
 * GnuTLS, and the tunnel's bytes on one bidirectional stream.
 *
 * Sending: write() copies the tunnel's plaintext into a ring that never
 * moves, because ngtcp2 keeps pointers to stream data until the peer
 * acknowledges it (it retransmits from them); acknowledged bytes free the
 * ring's head.  Receiving: stream data is copied into rx, and the flow
 * control window opens as the tunnel reads, so rx never holds more than
 * one window.  One timer serves both the probes and ngtcp2's expiry
 * (loss detection, acknowledgements, pacing, idle timeout).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <jansson.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "core/buf.h"
#include "core/candidate.h"
#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "core/proto.h"
#include "core/tls.h"
#include "portal/portal_impl.h"
#include "portal/portal_path_quic.h"
#include "portal/portal_tunnel.h"

/* Probes go out this often until the peer answers. */
#define QUIC_PROBE_EVERY_MS	200
/* Stream and connection flow control window, and rx's bound. */
#define QUIC_WINDOW		(8u * 1024 * 1024)
/* Stream data kept until acknowledged: write() takes no more. */
#define QUIC_TX_RING		(4u * 1024 * 1024)
/*
 * The tunnel may write while less than this waits for ngtcp2 to take it:
 * enough that a congestion window never finds the ring empty (an empty
 * ring marks the connection app-limited, and BBR then learns nothing of
 * the path's rate), little enough that frames do not queue for long.
 */
#define QUIC_TX_HIGH		(512u * 1024)
/* A path the peer stops answering is given up after this long. */
#define QUIC_IDLE_TIMEOUT_S	30
/* Packets written per flush before the loop gets a turn. */
#define QUIC_FLUSH_BURST	128
/* Largest datagram we send (a 1500-byte MTU less IPv6 and UDP). */
#define QUIC_MAX_UDP_PAYLOAD	1452
/*
 * UDP GSO (UDP_SEGMENT): packets of one size leave in one sendmsg() of
 * up to 64 of them, which the kernel (or the NIC) cuts, instead of one
 * system call per 1452 bytes.
 */
#define QUIC_GSO_SEGS		64
#define QUIC_GSO_BYTES		(QUIC_GSO_SEGS * QUIC_MAX_UDP_PAYLOAD)
/*
 * The largest frame sent as a QUIC DATAGRAM: what fits in one packet
 * beside a short header (1 + the peer's 12-byte connection id + up to 4
 * bytes of packet number), the AEAD tag (16) and the frame's type and
 * length (3).  A 1400-byte UDP payload (8 more for the frame header) fits;
 * larger ones go in the stream.
 */
#define QUIC_DGRAM_MAX		(QUIC_MAX_UDP_PAYLOAD - 1 - QUIC_SCID_LEN - 4 - \
				    16 - 3)
/* DATAGRAM frames waiting for the congestion window; the oldest go. */
#define QUIC_DGRAM_QUEUE_N	512
#define QUIC_DGRAM_QUEUE_BYTES	(512 * 1024)
/* TLS 1.3 only, its AEAD suites, the groups the TLS paths offer. */
#define QUIC_PRIORITY							\
	"%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:"	\
	"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"	\
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1"

static const struct path_ops quic_path_ops;

static void	quic_notify_writable(struct quic_path *qp);
static void	quic_spray_send(struct quic_path *qp);
static void	quic_own_read_cb(evutil_socket_t fd, short what, void *arg);
static void	quic_own_write_cb(evutil_socket_t fd, short what, void *arg);
static void	quic_spray_free(struct quic_spray *sp);
static void	quic_relay_resolved_cb(int err, const struct sockaddr *sa,
		    socklen_t salen, void *arg);

static struct quic_path *
quic_of(const struct path *p)
{
	return (struct quic_path *)(uintptr_t)p;
}

static ngtcp2_tstamp
quic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ngtcp2_tstamp)ts.tv_sec * NGTCP2_SECONDS +
	    (ngtcp2_tstamp)ts.tv_nsec;
}

/* ---- the parts shared with the registry ---- */

int
quic_path_owns_cid(const struct quic_path *qp, const uint8_t *cid,
    size_t len)
{
	size_t i;

	if (qp->conn == NULL || qp->st == QUIC_DONE)
		return 0;
	for (i = 0; i < qp->nscids; i++)
		if (qp->scids[i].datalen == len &&
		    memcmp(qp->scids[i].data, cid, len) == 0)
			return 1;
	return 0;
}

int
quic_path_is_at(const struct quic_path *qp, const struct sockaddr *sa,
    socklen_t len)
{
	return net_sockaddr_same(sa, (const struct sockaddr *)&qp->peer);
}

struct tunnel *
quic_path_tunnel(const struct quic_path *qp)
{
	return qp->base.t;
}

/* ---- failing, timers, sending ---- */

/* Stops all I/O; the path stays registered (and silent) until freed. */
static void
quic_stop(struct quic_path *qp)
{
	qp->st = QUIC_DONE;
	loop_timer_cancel(qp->timer);
	net_resolve_cancel(qp->dns);
	qp->dns = NULL;
	quic_spray_free(qp->spray);
	qp->spray = NULL;
	if (qp->own_rev != NULL)
		event_del(qp->own_rev);
	if (qp->own_wev != NULL)
		event_del(qp->own_wev);
}

/* Sends one datagram to the peer (or the relay); 0 or -errno. */
static int
quic_sendto(struct quic_path *qp, const uint8_t *d, size_t n)
{
	ssize_t r;

	if (qp->own_fd < 0)
		return portal_quic_send(qp->q, (struct sockaddr *)&qp->peer,
		    qp->peer_len, d, n);
	do
		r = send(qp->own_fd, d, n, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/*
 * Sends n bytes of packets, each seg bytes but the last: one GSO send,
 * or one datagram each where the kernel refuses GSO.  0 or -errno (the
 * whole batch is then unsent: a partial GSO send does not happen).
 */
static int
quic_send_batch(struct quic_path *qp, const uint8_t *d, size_t n, size_t seg)
{
	union {
		struct cmsghdr	 h;
		uint8_t		 b[CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	uint16_t gso = (uint16_t)seg;
	size_t off;
	ssize_t r;
	int rc;

	if (n <= seg || qp->no_gso) {
		for (off = 0; off < n; off += seg)
			if ((rc = quic_sendto(qp, d + off, n - off < seg ?
			    n - off : seg)) != 0 && off == 0)
				return rc;	/* later ones: lost, as on a net */
		return 0;
	}
	memset(&msg, 0, sizeof(msg));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = (void *)(uintptr_t)d;
	iov.iov_len = n;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (qp->own_fd < 0) {
		msg.msg_name = &qp->peer;
		msg.msg_namelen = qp->peer_len;
	}
	msg.msg_control = ctl.b;
	msg.msg_controllen = sizeof(ctl.b);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(gso));
	memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
	do
		r = sendmsg(qp->own_fd >= 0 ? qp->own_fd : qp->q->fd, &msg,
		    MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r >= 0)
		return 0;
	if (errno == EAGAIN || errno == ENOBUFS)
		return -errno;
	/* No GSO here (an old kernel, a device without it): one by one. */
	qp->no_gso = 1;
	return quic_send_batch(qp, d, n, seg);
}

/* Tells the peer, once, that this connection is over. */
static void
quic_send_close(struct quic_path *qp)
{
	uint8_t pkt[QUIC_MAX_UDP_PAYLOAD];
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n;

	if (qp->conn == NULL || ngtcp2_conn_is_in_closing_period(qp->conn) ||
	    ngtcp2_conn_is_in_draining_period(qp->conn))
		return;
	ngtcp2_path_storage_zero(&ps);
	n = ngtcp2_conn_write_connection_close(qp->conn, &ps.path, &pi, pkt,
	    sizeof(pkt), &qp->ccerr, quic_now());
	if (n > 0)
		(void)quic_sendto(qp, pkt, (size_t)n);
}

static void quic_fail(struct quic_path *qp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
quic_fail(struct quic_path *qp, const char *fmt, ...)
{
	va_list ap;

	if (qp->st == QUIC_DONE)
		return;
	va_start(ap, fmt);
	vsnprintf(qp->base.why, sizeof(qp->base.why), fmt, ap);
	va_end(ap);
	quic_send_close(qp);
	quic_stop(qp);
	qp->base.state = PATH_FAILED;
	tunnel_path_failed(qp->base.t, &qp->base);
}

/* Fails the path for an ngtcp2 error, with the peer's words if it sent
 * any (a TLS alert, a CONNECTION_CLOSE). */
static void
quic_fail_ngtcp2(struct quic_path *qp, int rv, const char *doing)
{
	ngtcp2_connection_close_error peer;
	char reason[128] = "";

	if (qp->st == QUIC_DONE)
		return;
	ngtcp2_connection_close_error_set_transport_error_liberr(&qp->ccerr,
	    rv, NULL, 0);
	if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_CLOSING) {
		ngtcp2_conn_get_connection_close_error(qp->conn, &peer);
		if (peer.reasonlen > 0)
			snprintf(reason, sizeof(reason), ": %.*s",
			    (int)(peer.reasonlen < 100 ? peer.reasonlen : 100),
			    (const char *)peer.reason);
		if (peer.type ==
		    NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION &&
		    peer.error_code == 1) {
			quic_fail(qp, "the peer dropped this QUIC path");
			return;
		}
		quic_fail(qp, "the peer closed the QUIC connection (%s %llu)%s",
		    peer.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION ?
		    "application error" : "transport error",
		    (unsigned long long)peer.error_code, reason);
		return;
	}
	if (rv == NGTCP2_ERR_IDLE_CLOSE) {
		quic_fail(qp, "no packet from the peer for %d s (QUIC idle "
		    "timeout)", QUIC_IDLE_TIMEOUT_S);
		return;
	}
	if (qp->st == QUIC_HANDSHAKE && qp->base.why[0] != '\0') {
		char why[sizeof(qp->base.why)];

		snprintf(why, sizeof(why), "%s", qp->base.why);
		qp->base.why[0] = '\0';
		quic_fail(qp, "TLS handshake with the peer failed: %s", why);
		return;
	}
	quic_fail(qp, "QUIC %s: %s", doing, ngtcp2_strerror(rv));
}

static void
quic_arm(struct quic_path *qp)
{
	ngtcp2_tstamp exp, now;

	if (qp->st == QUIC_DONE)
		return;
	if (qp->conn == NULL) {
		loop_timer_arm(qp->timer, QUIC_PROBE_EVERY_MS);
		return;
	}
	exp = ngtcp2_conn_get_expiry(qp->conn);
	if (exp == UINT64_MAX) {
		loop_timer_cancel(qp->timer);
		return;
	}
	now = quic_now();
	/* Pacing asks for the next packet in microseconds, not ms. */
	loop_timer_arm_us(qp->timer, exp <= now ? 0 :
	    (exp - now + NGTCP2_MICROSECONDS - 1) / NGTCP2_MICROSECONDS);
}

/* The unsent part of the ring as at most two pieces. */
static size_t
quic_unsent(const struct quic_path *qp, ngtcp2_vec v[2])
{
	uint64_t from = qp->tx_sent, left = qp->tx_end - qp->tx_sent;
	size_t at = (size_t)(from % QUIC_TX_RING), first;

	if (left == 0 || qp->ring == NULL)
		return 0;
	first = QUIC_TX_RING - at;
	if (first >= left) {
		v[0].base = qp->ring + at;
		v[0].len = (size_t)left;
		return 1;
	}
	v[0].base = qp->ring + at;
	v[0].len = first;
	v[1].base = qp->ring;
	v[1].len = (size_t)(left - first);
	return 2;
}

/*
 * Sends one packet ngtcp2 wrote.  When the socket's buffer is full the
 * packet is kept and the path waits for the socket (portal_quic.c wakes
 * it): a packet dropped here would be a loss the path inflicted on
 * itself, and the congestion control would back off for nothing.
 * Returns 0, or 1 when the path must stop writing.
 */
static int
quic_send_pkt(struct quic_path *qp, const uint8_t *pkt, size_t n, size_t seg)
{
	int r = quic_send_batch(qp, pkt, n, seg);

	if (r != -EAGAIN && r != -ENOBUFS)
		return 0;	/* sent, or lost like on any network */
	if (qp->pend == NULL && (qp->pend = malloc(QUIC_GSO_BYTES)) == NULL)
		return 0;	/* lost; QUIC sends it again */
	if (pkt != qp->pend)
		memmove(qp->pend, pkt, n);
	qp->pend_len = n;
	qp->pend_seg = seg;
	qp->blocked = 1;
	if (qp->own_fd >= 0)
		event_add(qp->own_wev, NULL);
	else
		portal_quic_wait_writable(qp->q);
	return 1;
}

/*
 * Writes what ngtcp2 will send now: stream data while the congestion
 * and flow control windows allow, acknowledgements, retransmissions.
 * Returns 0, or -1 once the path failed.
 */
static int
quic_flush(struct quic_path *qp)
{
	static uint8_t batch[QUIC_GSO_BYTES];
	size_t blen = 0, bseg = 0, room;
	uint8_t *pkt;
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n, taken;
	ngtcp2_vec v[2];
	ngtcp2_tstamp now = quic_now();
	const struct dgram *d;
	size_t nv;
	int i, accepted;

	if (qp->st == QUIC_DONE || qp->conn == NULL || qp->in_input ||
	    qp->draining || qp->blocked)
		return qp->st == QUIC_DONE ? -1 : 0;
	if (qp->pend_len > 0) {
		blen = qp->pend_len;
		qp->pend_len = 0;
		if (quic_send_pkt(qp, qp->pend, blen, qp->pend_seg) != 0)
			return 0;
		blen = 0;
	}
	ngtcp2_path_storage_zero(&ps);
	for (i = 0; i < QUIC_FLUSH_BURST; i++) {
		/*
		 * The next packet goes at the end of the batch, no larger than
		 * the batch's segment (GSO cuts every seg bytes); a full
		 * batch, or one that ended with a shorter packet, goes first.
		 */
		room = bseg == 0 ? QUIC_MAX_UDP_PAYLOAD : bseg;
		if (bseg != 0 && (blen % bseg != 0 ||
		    blen + bseg > sizeof(batch) ||
		    blen / bseg >= QUIC_GSO_SEGS)) {
			if (quic_send_pkt(qp, batch, blen, bseg) != 0)
				goto blocked;
			blen = bseg = 0;
			room = QUIC_MAX_UDP_PAYLOAD;
		}
		pkt = batch + blen;
		if ((d = dgramq_peek(&qp->dg_out)) != NULL &&
		    qp->st == QUIC_UP) {
			/* Datagrams first: they are what latency matters to. */
			v[0].base = (uint8_t *)(uintptr_t)d->data;
			v[0].len = d->len;
			accepted = 0;
			n = ngtcp2_conn_writev_datagram(qp->conn, &ps.path, &pi,
			    pkt, room, &accepted, 0, 0, v, 1, now);
			if (n < 0 && n != NGTCP2_ERR_INVALID_ARGUMENT) {
				quic_fail_ngtcp2(qp, (int)n, "sending");
				return -1;
			}
			if (accepted || n == NGTCP2_ERR_INVALID_ARGUMENT) {
				if (accepted)
					qp->dg_sent++;
				else
					qp->dg_out.dropped++;
				dgramq_pop(&qp->dg_out);
			}
			if (n == 0)
				break;		/* congestion window full */
			if (n > 0) {
				if (bseg == 0)
					bseg = (size_t)n;
				blen += (size_t)n;
				continue;
			}
		}
		nv = qp->sid >= 0 ? quic_unsent(qp, v) : 0;
		taken = -1;
		n = ngtcp2_conn_writev_stream(qp->conn, &ps.path, &pi, pkt,
		    room, &taken, 0, nv > 0 ? qp->sid : -1, v, nv, now);
		if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED ||
		    n == NGTCP2_ERR_STREAM_SHUT_WR) {
			/* The peer's window is shut: other frames only. */
			n = ngtcp2_conn_writev_stream(qp->conn, &ps.path, &pi,
			    pkt, room, NULL, 0, -1, NULL, 0, now);
			taken = -1;
		}
		if (n < 0) {
			quic_fail_ngtcp2(qp, (int)n, "sending");
			return -1;
		}
		if (n == 0)
			break;
		if (taken > 0)
			qp->tx_sent += (uint64_t)taken;
		if (bseg == 0)
			bseg = (size_t)n;
		blen += (size_t)n;
	}
	if (blen > 0 && quic_send_pkt(qp, batch, blen, bseg) != 0)
		goto blocked;
	ngtcp2_conn_update_pkt_tx_time(qp->conn, now);
	quic_arm(qp);
	return 0;
blocked:
	/* The batch waits in qp->pend for the socket. */
	ngtcp2_conn_update_pkt_tx_time(qp->conn, now);
	quic_arm(qp);
	return 0;
}

void
quic_path_unblock(struct quic_path *qp)
{
	qp->blocked = 0;
	if (quic_flush(qp) == 0)
		quic_notify_writable(qp);
}

/* ---- probes ---- */

static void
quic_send_probe(struct quic_path *qp, uint8_t first)
{
	qp->probe[0] = qp->relayed ? RELAY_UDP_REGISTER : first;
	if (qp->relayed && qp->own_fd < 0)
		return;		/* the relay's address is still resolving */
	if (qp->spray != NULL) {
		quic_spray_send(qp);
		return;
	}
	if (quic_sendto(qp, qp->probe, qp->probe_len) == 0)
		qp->q->probes_out++;
}

static void quic_client_start(struct quic_path *qp);

void
quic_path_on_probe(struct quic_path *qp, int ask)
{
	uint64_t now = loop_now_ms();

	if (qp->st == QUIC_DONE)
		return;
	if (!ask && qp->rtt_ms == 0 && qp->probe_sent_ms != 0)
		qp->rtt_ms = now - qp->probe_sent_ms + 1;
	if (!qp->vetted)
		log_debug(tunnel_log(qp->base.t), "QUIC path %s (%s): the "
		    "peer's probe came (%s)", qp->base.addr, qp->base.via,
		    ask ? "asking" : "answering");
	qp->vetted = 1;
	/* Answer, but not faster than probes come: no ping-pong storm. */
	if (ask && qp->st == QUIC_PROBING &&
	    now - qp->answer_sent_ms >= QUIC_PROBE_EVERY_MS / 4) {
		qp->answer_sent_ms = now;
		quic_send_probe(qp, QUIC_PROBE_ANSWER);
	}
	if (qp->initiator && qp->st == QUIC_PROBING)
		quic_client_start(qp);
}

/* ---- ngtcp2 callbacks ---- */

static ngtcp2_conn *
quic_get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct quic_path *)ref->user_data)->conn;
}

static void
quic_rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	(void)ctx;
	(void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

static int
quic_new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token,
    size_t cidlen, void *user_data)
{
	struct quic_path *qp = user_data;

	if (cidlen != QUIC_SCID_LEN || qp->nscids == QUIC_MAX_SCIDS ||
	    gnutls_rnd(GNUTLS_RND_NONCE, cid->data, cidlen) != 0 ||
	    gnutls_rnd(GNUTLS_RND_NONCE, token,
	    NGTCP2_STATELESS_RESET_TOKENLEN) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	cid->datalen = cidlen;
	qp->scids[qp->nscids++] = *cid;
	return 0;
}

static int
quic_recv_data_cb(ngtcp2_conn *conn, uint32_t flags, int64_t sid,
    uint64_t offset, const uint8_t *data, size_t len, void *user_data,
    void *stream_user_data)
{
	struct quic_path *qp = user_data;

	if (qp->sid < 0)
		qp->sid = sid;
	if (sid != qp->sid)
		return NGTCP2_ERR_CALLBACK_FAILURE;	/* one stream only */
	if (len > 0 && buf_append(&qp->rx, data, len) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (flags & NGTCP2_STREAM_DATA_FLAG_FIN)
		qp->rx_fin = 1;
	return 0;
}

static int
quic_recv_dgram_cb(ngtcp2_conn *conn, uint32_t flags, const uint8_t *data,
    size_t len, void *user_data)
{
	struct quic_path *qp = user_data;

	/* Handed to the tunnel once ngtcp2 is done with this packet. */
	(void)dgramq_push(&qp->dg_in, data, len, NULL, 0);
	qp->dg_recv++;
	return 0;
}

static int
quic_acked_cb(ngtcp2_conn *conn, int64_t sid, uint64_t offset, uint64_t len,
    void *user_data, void *stream_user_data)
{
	struct quic_path *qp = user_data;

	/* ngtcp2 reports the acknowledged prefix in order. */
	if (offset + len > qp->tx_acked)
		qp->tx_acked = offset + len;
	return 0;
}

static int
quic_stream_open_cb(ngtcp2_conn *conn, int64_t sid, void *user_data)
{
	struct quic_path *qp = user_data;

	if (qp->sid < 0 && !qp->initiator)
		qp->sid = sid;
	return 0;
}

static int
quic_stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t sid,
    uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct quic_path *qp = user_data;

	if (sid == qp->sid)
		qp->rx_fin = 1;
	return 0;
}

static int
quic_handshake_done_cb(ngtcp2_conn *conn, void *user_data)
{
	struct quic_path *qp = user_data;

	if (!qp->verified)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (qp->initiator && qp->sid < 0 &&
	    ngtcp2_conn_open_bidi_stream(conn, &qp->sid, NULL) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/* GnuTLS received the peer's chain: the checks of every path. */
static int
quic_verify_cb(gnutls_session_t s)
{
	ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
	struct quic_path *qp = ref->user_data;
	const gnutls_datum_t *certs;
	const uint8_t *der[8];
	size_t len[8], i;
	unsigned n = 0;
	struct np_identity want;
	SSL_CTX *ctx;

	certs = gnutls_certificate_get_peers(s, &n);
	if (n > 8)
		n = 8;
	for (i = 0; i < n; i++) {
		der[i] = certs[i].data;
		len[i] = certs[i].size;
	}
	ctx = qp->initiator ? qp->portal->tls_initiator :
	    qp->portal->tls_acceptor;
	if (identity_set(&want, NP_ROLE_PORTAL, tunnel_peer(qp->base.t)) !=
	    0) {
		snprintf(qp->base.why, sizeof(qp->base.why), "bad peer name");
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	if (tls_verify_chain_der(ctx, &want, der, len, n, qp->base.why,
	    sizeof(qp->base.why)) != 0)
		return GNUTLS_E_CERTIFICATE_ERROR;
	qp->verified = 1;
	return 0;
}

static void
quic_callbacks(ngtcp2_callbacks *cb, int client)
{
	memset(cb, 0, sizeof(*cb));
	if (client) {
		cb->client_initial = ngtcp2_crypto_client_initial_cb;
		cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
	} else
		cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
	cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
	cb->encrypt = ngtcp2_crypto_encrypt_cb;
	cb->decrypt = ngtcp2_crypto_decrypt_cb;
	cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
	cb->update_key = ngtcp2_crypto_update_key_cb;
	cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
	cb->delete_crypto_cipher_ctx =
	    ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
	cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
	cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
	cb->rand = quic_rand_cb;
	cb->get_new_connection_id = quic_new_cid_cb;
	cb->recv_stream_data = quic_recv_data_cb;
	cb->acked_stream_data_offset = quic_acked_cb;
	cb->stream_open = quic_stream_open_cb;
	cb->stream_close = quic_stream_close_cb;
	cb->handshake_completed = quic_handshake_done_cb;
	cb->recv_datagram = quic_recv_dgram_cb;
}

static void
quic_settings(struct quic_path *qp, ngtcp2_settings *s,
    ngtcp2_transport_params *tp)
{
	ngtcp2_settings_default(s);
	s->initial_ts = quic_now();
	s->cc_algo = (ngtcp2_cc_algo)qp->q->cc_algo;
	s->max_tx_udp_payload_size = QUIC_MAX_UDP_PAYLOAD;
	s->max_window = QUIC_WINDOW;
	s->max_stream_window = QUIC_WINDOW;
	/* The probes measured the round trip: no need to guess 333 ms. */
	if (qp->rtt_ms > 0)
		s->initial_rtt = qp->rtt_ms * NGTCP2_MILLISECONDS;
	ngtcp2_transport_params_default(tp);
	tp->initial_max_stream_data_bidi_local = QUIC_WINDOW;
	tp->initial_max_stream_data_bidi_remote = QUIC_WINDOW;
	tp->initial_max_data = QUIC_WINDOW;
	/* The client opens the one stream; the server opens none. */
	tp->initial_max_streams_bidi = qp->initiator ? 0 : 1;
	tp->initial_max_streams_uni = 0;
	tp->max_idle_timeout = QUIC_IDLE_TIMEOUT_S * NGTCP2_SECONDS;
	/* DATAGRAM frames (RFC 9221) for the datagrams of udp rules. */
	tp->max_datagram_frame_size = 65535;
	/* Portals do not move mid-connection: a new address is a new path. */
	tp->disable_active_migration = 1;
}

/* The TLS session of a QUIC connection, its peer checked by
 * quic_verify_cb.  0 or -1 (why set). */
static int
quic_tls_new(struct quic_path *qp)
{
	static const gnutls_datum_t alpn = {
		(unsigned char *)(uintptr_t)TLS_ALPN_TUNNEL,
		sizeof(TLS_ALPN_TUNNEL) - 1,
	};
	unsigned flags = qp->initiator ? GNUTLS_CLIENT : GNUTLS_SERVER;

	if (gnutls_init(&qp->tls, flags | GNUTLS_NO_END_OF_EARLY_DATA) != 0)
		return -1;
	if (gnutls_priority_set_direct(qp->tls, QUIC_PRIORITY, NULL) != 0 ||
	    (qp->initiator ?
	    ngtcp2_crypto_gnutls_configure_client_session(qp->tls) :
	    ngtcp2_crypto_gnutls_configure_server_session(qp->tls)) != 0 ||
	    gnutls_credentials_set(qp->tls, GNUTLS_CRD_CERTIFICATE,
	    qp->q->cred) != 0 ||
	    gnutls_alpn_set_protocols(qp->tls, &alpn, 1,
	    GNUTLS_ALPN_MANDATORY) != 0)
		return -1;
	if (!qp->initiator)
		gnutls_certificate_server_set_request(qp->tls,
		    GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_function(qp->tls, quic_verify_cb);
	qp->ref.get_conn = quic_get_conn;
	qp->ref.user_data = qp;
	gnutls_session_set_ptr(qp->tls, &qp->ref);
	return 0;
}

static int
quic_new_scid(ngtcp2_cid *cid)
{
	cid->datalen = QUIC_SCID_LEN;
	return gnutls_rnd(GNUTLS_RND_NONCE, cid->data, QUIC_SCID_LEN);
}

static void
quic_path_of_conn(struct quic_path *qp, ngtcp2_path *path)
{
	path->local.addr = (ngtcp2_sockaddr *)&qp->local;
	path->local.addrlen = qp->local_len;
	path->remote.addr = (ngtcp2_sockaddr *)&qp->peer;
	path->remote.addrlen = qp->peer_len;
	path->user_data = NULL;
}

static void
quic_client_start(struct quic_path *qp)
{
	ngtcp2_callbacks cb;
	ngtcp2_settings s;
	ngtcp2_transport_params tp;
	ngtcp2_cid dcid, scid;
	ngtcp2_path path;
	int rv;

	qp->st = QUIC_HANDSHAKE;
	log_debug(tunnel_log(qp->base.t), "QUIC path %s (%s): starting the "
	    "handshake (client)", qp->base.addr, qp->base.via);
	quic_callbacks(&cb, 1);
	quic_settings(qp, &s, &tp);
	quic_path_of_conn(qp, &path);
	if (quic_new_scid(&scid) != 0 || quic_new_scid(&dcid) != 0) {
		quic_fail(qp, "no randomness for connection ids");
		return;
	}
	qp->scids[0] = scid;
	qp->nscids = 1;
	if ((rv = ngtcp2_conn_client_new(&qp->conn, &dcid, &scid, &path,
	    NGTCP2_PROTO_VER_V1, &cb, &s, &tp, NULL, qp)) != 0) {
		qp->conn = NULL;
		quic_fail(qp, "cannot start QUIC: %s", ngtcp2_strerror(rv));
		return;
	}
	if (quic_tls_new(qp) != 0) {
		quic_fail(qp, "cannot set up TLS for QUIC");
		return;
	}
	ngtcp2_conn_set_tls_native_handle(qp->conn, qp->tls);
	(void)quic_flush(qp);
}

int
quic_path_accept(struct quic_path *qp, const uint8_t *pkt, size_t len)
{
	ngtcp2_callbacks cb;
	ngtcp2_settings s;
	ngtcp2_transport_params tp;
	ngtcp2_pkt_hd hd;
	ngtcp2_cid scid;
	ngtcp2_path path;
	int rv;

	if (qp->initiator || qp->st != QUIC_PROBING || !qp->vetted ||
	    ngtcp2_accept(&hd, pkt, len) != 0)
		return -1;
	qp->st = QUIC_HANDSHAKE;
	log_debug(tunnel_log(qp->base.t), "QUIC path %s (%s): the peer's "
	    "Initial came (server)", qp->base.addr, qp->base.via);
	quic_callbacks(&cb, 0);
	quic_settings(qp, &s, &tp);
	tp.original_dcid = hd.dcid;
	quic_path_of_conn(qp, &path);
	if (quic_new_scid(&scid) != 0) {
		quic_fail(qp, "no randomness for connection ids");
		return 0;
	}
	/* The client's Initials name its own pick until it hears ours. */
	qp->scids[0] = scid;
	qp->scids[1] = hd.dcid;
	qp->nscids = 2;
	if ((rv = ngtcp2_conn_server_new(&qp->conn, &hd.scid, &scid, &path,
	    hd.version, &cb, &s, &tp, NULL, qp)) != 0) {
		qp->conn = NULL;
		quic_fail(qp, "cannot start QUIC: %s", ngtcp2_strerror(rv));
		return 0;
	}
	if (quic_tls_new(qp) != 0) {
		quic_fail(qp, "cannot set up TLS for QUIC");
		return 0;
	}
	ngtcp2_conn_set_tls_native_handle(qp->conn, qp->tls);
	quic_path_input(qp, pkt, len);
	return 0;
}

/* The peer sent CONNECTION_CLOSE with application error 0: its tunnel
 * closed the path, as a TLS close would. */
static int
quic_peer_closed_cleanly(struct quic_path *qp)
{
	ngtcp2_connection_close_error peer;

	ngtcp2_conn_get_connection_close_error(qp->conn, &peer);
	return peer.type ==
	    NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION &&
	    peer.error_code == 0;
}

static int
quic_has_room(const struct quic_path *qp)
{
	return qp->sid >= 0 && qp->tx_end - qp->tx_sent < QUIC_TX_HIGH &&
	    qp->tx_end - qp->tx_acked < QUIC_TX_RING;
}

/* From an event, never from inside a write: the tunnel may write more. */
static void
quic_notify_writable(struct quic_path *qp)
{
	if (qp->st == QUIC_UP && !qp->draining && qp->want_writable &&
	    quic_has_room(qp)) {
		qp->want_writable = 0;
		tunnel_path_writable(qp->base.t, &qp->base);
	}
}

/* After packets came in: up, readable, writable, as it now stands. */
static void
quic_after_input(struct quic_path *qp)
{
	struct tunnel *t = qp->base.t;
	const struct dgram *d;

	if (qp->st == QUIC_HANDSHAKE &&
	    ngtcp2_conn_get_handshake_completed(qp->conn)) {
		if (!qp->verified) {
			quic_fail(qp, "TLS handshake with the peer ended "
			    "without its certificate");
			return;
		}
		qp->st = QUIC_UP;
		qp->base.state = PATH_UP;
		tunnel_path_up(t, &qp->base);
		if (qp->st == QUIC_DONE)
			return;
	}
	if (qp->st != QUIC_UP)
		return;
	while ((d = dgramq_peek(&qp->dg_in)) != NULL) {
		tunnel_path_dgram(t, &qp->base, d->data, d->len);
		if (qp->st != QUIC_UP)
			return;
		dgramq_pop(&qp->dg_in);
	}
	if (buf_len(&qp->rx) > 0 || qp->rx_fin) {
		tunnel_path_readable(t, &qp->base);
		if (qp->st != QUIC_UP)
			return;
	}
	quic_notify_writable(qp);
}

void
quic_path_input(struct quic_path *qp, const uint8_t *pkt, size_t len)
{
	ngtcp2_path path;
	ngtcp2_pkt_info pi = { 0 };
	int rv;

	if (qp->st == QUIC_DONE || qp->conn == NULL)
		return;
	quic_path_of_conn(qp, &path);
	qp->in_input = 1;
	rv = ngtcp2_conn_read_pkt(qp->conn, &path, &pi, pkt, len, quic_now());
	qp->in_input = 0;
	if (rv == NGTCP2_ERR_DRAINING && qp->st == QUIC_UP &&
	    quic_peer_closed_cleanly(qp)) {
		/* What came before the close is the tunnel's, then the end. */
		qp->rx_fin = 1;
		qp->draining = 1;
		loop_timer_cancel(qp->timer);
		quic_after_input(qp);
		return;
	}
	if (rv != 0) {
		quic_fail_ngtcp2(qp, rv, "receiving");
		return;
	}
	quic_after_input(qp);
	(void)quic_flush(qp);
}

static void
quic_timer_cb(struct loop_timer *timer, void *arg)
{
	struct quic_path *qp = arg;
	int rv;

	if (qp->st == QUIC_DONE || qp->draining)
		return;
	if (qp->conn == NULL) {
		/* An address no one named gets answers only (below). */
		if (!qp->learned) {
			qp->probe_sent_ms = loop_now_ms();
			quic_send_probe(qp, QUIC_PROBE_ASK);
			quic_arm(qp);
		}
		return;
	}
	if ((rv = ngtcp2_conn_handle_expiry(qp->conn, quic_now())) != 0) {
		quic_fail_ngtcp2(qp, rv, "timer");
		return;
	}
	if (quic_flush(qp) == 0)
		quic_notify_writable(qp);
}

/* ---- path_ops ---- */

static void
quic_start(struct path *p)
{
	struct quic_path *qp = quic_of(p);

	if (!qp->registered) {
		portal_quic_add(qp->q, qp);
		qp->registered = 1;
	}
	if (qp->relayed) {
		/* Answered at once for an IP literal (then dns stays NULL). */
		qp->dns = net_resolve_start(qp->portal->loop, qp->host,
		    qp->port, quic_relay_resolved_cb, qp);
		return;
	}
	/*
	 * An address learned from a probe was named by no one the portal
	 * trusts: it gets one answer per probe it sends (quic_path_on_probe),
	 * never a stream of probes of our own.
	 */
	if (qp->learned)
		return;
	qp->probe_sent_ms = loop_now_ms();
	quic_send_probe(qp, QUIC_PROBE_ASK);
	quic_arm(qp);
}

static ssize_t
quic_read(struct path *p, uint8_t *dst, size_t cap)
{
	struct quic_path *qp = quic_of(p);
	size_t n = buf_len(&qp->rx);

	if (qp->st == QUIC_DONE) {
		snprintf(p->why, sizeof(p->why), "QUIC path closed");
		return NP_EPROTO;
	}
	if (n == 0)
		return qp->rx_fin ? NP_ECLOSED : 0;
	if (n > cap)
		n = cap;
	memcpy(dst, buf_data(&qp->rx), n);
	buf_consume(&qp->rx, n);
	if (qp->draining)
		return (ssize_t)n;
	/* The window opens by what the tunnel took. */
	(void)ngtcp2_conn_extend_max_stream_offset(qp->conn, qp->sid, n);
	ngtcp2_conn_extend_max_offset(qp->conn, n);
	if (!qp->in_input)
		loop_timer_arm(qp->timer, 0);	/* MAX_DATA soon */
	return (ssize_t)n;
}

static ssize_t
quic_write(struct path *p, const uint8_t *src, size_t len)
{
	struct quic_path *qp = quic_of(p);
	size_t room, at, first;

	if (qp->st != QUIC_UP || qp->draining) {
		snprintf(p->why, sizeof(p->why), "QUIC path %s",
		    qp->draining ? "closed by the peer" : "not up");
		return NP_EPROTO;
	}
	if (qp->ring == NULL && (qp->ring = malloc(QUIC_TX_RING)) == NULL)
		return -ENOMEM;
	room = QUIC_TX_RING - (size_t)(qp->tx_end - qp->tx_acked);
	if (len > room)
		len = room;
	at = (size_t)(qp->tx_end % QUIC_TX_RING);
	first = QUIC_TX_RING - at < len ? QUIC_TX_RING - at : len;
	memcpy(qp->ring + at, src, first);
	memcpy(qp->ring, src + first, len - first);
	qp->tx_end += len;
	if (!quic_has_room(qp))
		qp->want_writable = 1;
	return (ssize_t)len;
}

static int
quic_push(struct path *p)
{
	struct quic_path *qp = quic_of(p);

	if (qp->st == QUIC_DONE)
		return NP_EPROTO;
	if (quic_flush(qp) != 0)
		return NP_EPROTO;
	if (!quic_has_room(qp))
		qp->want_writable = 1;
	return 0;
}

static int
quic_pending(const struct path *p)
{
	const struct quic_path *qp = quic_of(p);

	return buf_len(&qp->rx) > 0 || qp->rx_fin;
}

static int
quic_writable(const struct path *p)
{
	const struct quic_path *qp = quic_of(p);

	return qp->st == QUIC_UP && !qp->draining && quic_has_room(qp);
}

static void
quic_release(struct path *p)
{
	struct quic_path *qp = quic_of(p);

	if (qp->ring != NULL && qp->tx_acked == qp->tx_end) {
		free(qp->ring);
		qp->ring = NULL;
	}
	if (buf_len(&qp->rx) == 0)
		buf_release(&qp->rx);
}

static void
quic_close(struct path *p, const uint8_t *last, size_t len)
{
	struct quic_path *qp = quic_of(p);

	if (qp->st == QUIC_DONE)
		return;
	if (qp->st == QUIC_UP && last != NULL && len > 0 &&
	    quic_write(p, last, len) == (ssize_t)len)
		(void)quic_flush(qp);
	/* Application error 0: closed by the tunnel; 1: path dropped. */
	ngtcp2_connection_close_error_set_application_error(&qp->ccerr,
	    last != NULL ? 0 : 1, NULL, 0);
	quic_send_close(qp);
	quic_stop(qp);
}

static const char *
quic_phase(const struct path *p)
{
	const struct quic_path *qp = quic_of(p);

	switch (qp->st) {
	case QUIC_PROBING:
		return qp->vetted ? "waiting for the peer's QUIC handshake" :
		    "probing the peer's UDP address";
	case QUIC_HANDSHAKE:
		return "QUIC and TLS handshake with the peer";
	case QUIC_UP:
		return "up";
	default:
		return "closed";
	}
}

static void
quic_tls_info(const struct path *p, char *buf, size_t n)
{
	const struct quic_path *qp = quic_of(p);
	const char *cipher = NULL;

	if (qp->tls != NULL)
		cipher = gnutls_cipher_get_name(gnutls_cipher_get(qp->tls));
	snprintf(buf, n, "QUIC, TLSv1.3, %s", cipher ? cipher : "?");
}

static void
quic_free(struct path *p)
{
	struct quic_path *qp = quic_of(p);

	loop_timer_free(qp->timer);
	net_resolve_cancel(qp->dns);
	quic_spray_free(qp->spray);
	if (qp->own_rev != NULL)
		event_free(qp->own_rev);
	if (qp->own_wev != NULL)
		event_free(qp->own_wev);
	if (qp->own_fd >= 0)
		close(qp->own_fd);
	if (qp->conn != NULL)
		ngtcp2_conn_del(qp->conn);
	if (qp->tls != NULL)
		gnutls_deinit(qp->tls);
	/* Last: it may free the set and the credentials tls used. */
	if (qp->registered)
		portal_quic_remove(qp->q, qp);
	free(qp->ring);
	free(qp->pend);
	buf_release(&qp->rx);
	dgramq_clear(&qp->dg_out);
	dgramq_clear(&qp->dg_in);
	free(qp);
}

static int
quic_send_dgram(struct path *p, const uint8_t *hdr, size_t hlen,
    const void *data, size_t len)
{
	struct quic_path *qp = quic_of(p);
	uint8_t frame[QUIC_DGRAM_MAX];

	if (qp->st != QUIC_UP || qp->draining || hlen + len > sizeof(frame) ||
	    ngtcp2_conn_get_remote_transport_params(qp->conn)->
	    max_datagram_frame_size < hlen + len)
		return -EMSGSIZE;
	memcpy(frame, hdr, hlen);
	memcpy(frame + hlen, data, len);
	if (dgramq_push(&qp->dg_out, frame, hlen + len, NULL, 0) != 0)
		return -ENOMEM;
	if (!qp->in_input)
		(void)quic_flush(qp);
	return 0;
}

static const struct path_ops quic_path_ops = {
	.start = quic_start,
	.read = quic_read,
	.write = quic_write,
	.push = quic_push,
	.pending = quic_pending,
	.writable = quic_writable,
	.release = quic_release,
	.close = quic_close,
	.phase = quic_phase,
	.tls_info = quic_tls_info,
	.free = quic_free,
	.send_dgram = quic_send_dgram,
};

/* ---- constructors ---- */

static struct quic_path *
quic_alloc(struct tunnel *t, char *why, size_t whylen)
{
	struct portal *p = tunnel_portal(t);
	struct quic_path *qp;
	const uint8_t *ticket;
	size_t ticket_len, n;

	if (p->quic == NULL) {
		snprintf(why, whylen, "QUIC paths are off");
		return NULL;
	}
	ticket_len = tunnel_ticket(t, &ticket);
	if (ticket_len == 0) {
		snprintf(why, whylen, "no ticket for direct paths");
		return NULL;
	}
	if ((qp = calloc(1, sizeof(*qp))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	qp->base.ops = &quic_path_ops;
	qp->base.t = t;
	qp->base.state = PATH_SETUP;
	qp->base.kind = "direct";
	qp->base.quic = 1;
	qp->base.started_ms = loop_now_ms();
	qp->portal = p;
	qp->q = p->quic;
	qp->initiator = tunnel_is_initiator(t);
	qp->sid = -1;
	qp->own_fd = -1;
	memcpy(&qp->local, &p->quic->local, p->quic->local_len);
	qp->local_len = p->quic->local_len;
	buf_init(&qp->rx, QUIC_WINDOW + 65536);
	dgramq_init(&qp->dg_out, QUIC_DGRAM_QUEUE_N, QUIC_DGRAM_QUEUE_BYTES);
	dgramq_init(&qp->dg_in, QUIC_DGRAM_QUEUE_N, QUIC_DGRAM_QUEUE_BYTES);
	if ((qp->timer = loop_timer_new(p->loop, quic_timer_cb, qp)) == NULL ||
	    relay_hs_encode_punch(qp->initiator ? PROTO_SIDE_CLIENT :
	    PROTO_SIDE_SERVICE, ticket, ticket_len, qp->probe + 1,
	    sizeof(qp->probe) - 1, &n) != 0) {
		snprintf(why, whylen, "out of memory");
		quic_free(&qp->base);
		return NULL;
	}
	qp->probe_len = 1 + n;
	return qp;
}

struct path *
path_quic_new(struct tunnel *t, const char *host, uint16_t port,
    const char *via, char *why, size_t whylen)
{
	struct conf_endpoint ep;
	struct quic_path *qp;

	if ((qp = quic_alloc(t, why, whylen)) == NULL)
		return NULL;
	memset(&ep, 0, sizeof(ep));
	snprintf(ep.host, sizeof(ep.host), "%s", host);
	ep.port = port;
	if (net_resolve(&ep, SOCK_DGRAM, &qp->peer, &qp->peer_len) != 0 ||
	    (qp->peer.ss_family == AF_INET6 && qp->q->family == AF_INET)) {
		snprintf(why, whylen, "cannot reach %s over UDP", host);
		quic_free(&qp->base);
		return NULL;
	}
	portal_udp_map_v4(qp->portal, &qp->peer, &qp->peer_len);
	conf_endpoint_format(&ep, qp->base.addr, sizeof(qp->base.addr));
	snprintf(qp->base.via, sizeof(qp->base.via), "%s/quic", via);
	qp->base.lan = strcmp(via, candidate_kind_name(CAND_LAN)) == 0 ||
	    strcmp(via, candidate_kind_name(CAND_LOOPBACK)) == 0;
	return &qp->base;
}

struct path *
path_quic_learned(struct tunnel *t, const struct sockaddr *from,
    socklen_t fromlen)
{
	struct quic_path *qp;
	char why[128];

	if ((qp = quic_alloc(t, why, sizeof(why))) == NULL ||
	    fromlen > sizeof(qp->peer)) {
		if (qp != NULL)
			quic_free(&qp->base);
		return NULL;
	}
	memcpy(&qp->peer, from, fromlen);
	qp->peer_len = fromlen;
	net_addr_format(from, qp->base.addr, sizeof(qp->base.addr));
	snprintf(qp->base.via, sizeof(qp->base.via), "peer/quic");
	qp->base.lan = net_addr_str_is_local(qp->base.addr);
	qp->learned = 1;
	return &qp->base;
}

/*
 * fd, connected to the peer (or the relay), becomes the path's socket:
 * its address for ngtcp2, its events, its buffers.  0, or -1 after
 * failing the path (fd is the path's then, and closed with it).
 */
static int
quic_own_socket(struct quic_path *qp, int fd)
{
	struct event_base *base = loop_base(qp->portal->loop);

	qp->own_fd = fd;
	qp->local_len = sizeof(qp->local);
	if (connect(fd, (struct sockaddr *)&qp->peer, qp->peer_len) != 0 ||
	    getsockname(fd, (struct sockaddr *)&qp->local,
	    &qp->local_len) != 0 ||
	    (qp->own_rev = event_new(base, fd, EV_READ | EV_PERSIST,
	    quic_own_read_cb, qp)) == NULL ||
	    (qp->own_wev = event_new(base, fd, EV_WRITE, quic_own_write_cb,
	    qp)) == NULL || event_add(qp->own_rev, NULL) != 0) {
		quic_fail(qp, "cannot set up a UDP socket for %s: %s",
		    qp->base.addr, strerror(errno));
		return -1;
	}
	net_udp_buffers(fd, NET_UDP_BUFFER);
	return 0;
}

/* ---- birthday probing ---- */

struct quic_spray_sock {
	struct quic_path	*qp;		/* borrowed */
	int			 fd;
	struct event		*ev;
};

struct quic_spray {
	size_t			 n;
	struct quic_spray_sock	 s[QUIC_SPRAY_SOCKETS];
};

static void
quic_spray_free(struct quic_spray *sp)
{
	size_t i;

	if (sp == NULL)
		return;
	for (i = 0; i < sp->n; i++) {
		if (sp->s[i].ev != NULL)
			event_free(sp->s[i].ev);
		if (sp->s[i].fd >= 0)
			close(sp->s[i].fd);
	}
	free(sp);
}

static void
quic_spray_send(struct quic_path *qp)
{
	size_t i;

	for (i = 0; i < qp->spray->n; i++)
		if (sendto(qp->spray->s[i].fd, qp->probe, qp->probe_len,
		    MSG_DONTWAIT, (struct sockaddr *)&qp->peer,
		    qp->peer_len) >= 0)
			qp->q->probes_out++;
}

/*
 * One of the sockets heard the peer: a probe with this tunnel's ticket,
 * from the other side.  That socket becomes the path's, connected to the
 * peer; the others are closed.
 */
static void
quic_spray_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct quic_spray_sock *ss = arg;
	struct quic_path *qp = ss->qp;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	uint8_t in[QUIC_PROBE_MAX];
	ssize_t n;
	int ask;

	n = recvfrom(fd, in, sizeof(in), MSG_DONTWAIT,
	    (struct sockaddr *)&from, &fromlen);
	if (n < 0)
		return;
	if (!net_sockaddr_same((struct sockaddr *)&from,
	    (struct sockaddr *)&qp->peer) ||
	    portal_quic_probe_tunnel(qp->q, in, (size_t)n, &ask) !=
	    qp->base.t)
		return;
	fd = ss->fd;
	ss->fd = -1;
	quic_spray_free(qp->spray);
	qp->spray = NULL;
	if (quic_own_socket(qp, fd) != 0)
		return;
	log_info(tunnel_log(qp->base.t), "QUIC path %s: a birthday probe got "
	    "through both NATs (local port %u)", qp->base.addr,
	    net_local_port(qp->own_fd));
	quic_path_on_probe(qp, ask);
}

struct path *
path_quic_spray_new(struct tunnel *t, const char *host, uint16_t port,
    char *why, size_t whylen)
{
	struct event_base *base;
	struct quic_path *qp;
	struct quic_spray *sp;
	struct path *p;
	size_t i;

	if ((p = path_quic_new(t, host, port, "birthday", why,
	    whylen)) == NULL)
		return NULL;
	qp = quic_of(p);
	base = loop_base(qp->portal->loop);
	/* Sockets of its own, of the family of the peer's address as the
	 * shared socket writes it (IPv4 maps into a dual-stack socket). */
	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		snprintf(why, whylen, "out of memory");
		quic_free(p);
		return NULL;
	}
	qp->spray = sp;
	for (i = 0; i < QUIC_SPRAY_SOCKETS; i++) {
		sp->s[i].fd = socket(qp->peer.ss_family, SOCK_DGRAM |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (sp->s[i].fd < 0)
			break;
		(void)net_mark_socket(sp->s[i].fd);
		sp->s[i].qp = qp;
		sp->n = i + 1;
		if ((sp->s[i].ev = event_new(base, sp->s[i].fd,
		    EV_READ | EV_PERSIST, quic_spray_read_cb,
		    &sp->s[i])) == NULL || event_add(sp->s[i].ev, NULL) != 0)
			break;
	}
	if (sp->n < QUIC_SPRAY_SOCKETS / 2) {
		snprintf(why, whylen, "cannot open %d UDP sockets",
		    QUIC_SPRAY_SOCKETS);
		quic_free(p);
		return NULL;
	}
	return p;
}

/* ---- through a relay over UDP ---- */

static void
quic_relay_answer(struct quic_path *qp, const uint8_t *d)
{
	unsigned status;

	if (relay_hs_decode_reply(d + 1, &status) != 0)
		return;
	if (status == RELAY_WAITING)
		return;
	if (status != RELAY_OK) {
		quic_fail(qp, "the relay refused the UDP registration: %s",
		    relay_status_text(status));
		return;
	}
	/* Paired: what comes from the relay now is the peer's. */
	quic_path_on_probe(qp, 0);
}

static void
quic_own_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct quic_path *qp = arg;
	static uint8_t in[65536];
	ssize_t n;
	int budget, ask;

	for (budget = 256; budget > 0 && qp->st != QUIC_DONE; budget--) {
		/* Connected: only the relay's (or the peer's) datagrams. */
		if ((n = recv(fd, in, sizeof(in), MSG_DONTWAIT)) < 0)
			break;
		if (qp->relayed && n == 1 + RELAY_REPLY_LEN &&
		    in[0] == RELAY_UDP_ANSWER) {
			quic_relay_answer(qp, in);
			continue;
		}
		/* A birthday socket: the peer's probes, vetted as any. */
		if (!qp->relayed && portal_quic_is_probe(in, (size_t)n)) {
			if (portal_quic_probe_tunnel(qp->q, in, (size_t)n,
			    &ask) == qp->base.t)
				quic_path_on_probe(qp, ask);
			continue;
		}
		if (qp->conn == NULL) {
			if (quic_path_accept(qp, in, (size_t)n) != 0)
				qp->q->stray_packets++;
			continue;
		}
		quic_path_input(qp, in, (size_t)n);
	}
}

static void
quic_own_write_cb(evutil_socket_t fd, short what, void *arg)
{
	quic_path_unblock(arg);
}

/* The relay's address is known: a socket connected to it, then
 * registrations. */
static void
quic_relay_resolved_cb(int err, const struct sockaddr *sa, socklen_t salen,
    void *arg)
{
	struct quic_path *qp = arg;
	int fd;

	qp->dns = NULL;
	if (err != 0 || sa == NULL || salen > sizeof(qp->peer)) {
		quic_fail(qp, "cannot resolve the relay %s: %s", qp->base.addr,
		    err ? evutil_gai_strerror(err) : "no address");
		return;
	}
	memcpy(&qp->peer, sa, salen);
	qp->peer_len = salen;
	if ((fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0) {
		quic_fail(qp, "cannot reach the relay %s over UDP: %s",
		    qp->base.addr, strerror(errno));
		return;
	}
	(void)net_mark_socket(fd);
	if (quic_own_socket(qp, fd) != 0)
		return;
	qp->probe_sent_ms = loop_now_ms();
	quic_send_probe(qp, QUIC_PROBE_ASK);
	quic_arm(qp);
}

struct path *
path_quic_relay_new(struct tunnel *t, const struct proto_msg *g, char *why,
    size_t whylen)
{
	struct conf_endpoint ep;
	struct quic_path *qp;
	char epwhy[128];
	size_t n;

	if (conf_endpoint_parse(g->relay, 1, 65535, &ep, epwhy,
	    sizeof(epwhy)) != 0) {
		snprintf(why, whylen, "bad relay address %s: %s", g->relay,
		    epwhy);
		return NULL;
	}
	if ((qp = quic_alloc(t, why, whylen)) == NULL)
		return NULL;
	/* Not a punch: the relay pairs registrations, as it pairs dials. */
	if (relay_hs_encode(qp->initiator ? PROTO_SIDE_CLIENT :
	    PROTO_SIDE_SERVICE, g->ticket, g->ticket_len, qp->probe + 1,
	    sizeof(qp->probe) - 1, &n) != 0) {
		snprintf(why, whylen, "cannot encode the registration");
		quic_free(&qp->base);
		return NULL;
	}
	qp->probe_len = 1 + n;
	qp->relayed = 1;
	qp->base.kind = "relay";
	snprintf(qp->base.addr, sizeof(qp->base.addr), "%s", g->relay);
	snprintf(qp->base.via, sizeof(qp->base.via), "%.*s/quic",
	    (int)(sizeof(qp->base.via) - sizeof("/quic")), g->relay_name);
	memcpy(qp->host, ep.host, sizeof(ep.host));
	qp->port = ep.port;
	return &qp->base;
}

json_t *
quic_path_status(const struct quic_path *qp)
{
	ngtcp2_conn_stat st;

	if (qp->conn == NULL || qp->st != QUIC_UP)
		return json_pack("{s:s, s:s, s:s}", "peer", qp->base.addr,
		    "via", qp->base.via, "phase", quic_phase(&qp->base));
	ngtcp2_conn_get_conn_stat(qp->conn, &st);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "peer", qp->base.addr, "via", qp->base.via, "phase", "up",
	    "smoothed_rtt_us", (json_int_t)(st.smoothed_rtt / 1000),
	    "cwnd", (json_int_t)st.cwnd, "bytes_in_flight",
	    (json_int_t)st.bytes_in_flight, "delivery_rate_bps",
	    (json_int_t)(st.delivery_rate_sec * 8), "datagrams_out",
	    (json_int_t)qp->dg_sent, "datagrams_in", (json_int_t)qp->dg_recv,
	    "datagrams_dropped", (json_int_t)(qp->dg_out.dropped +
	    qp->dg_in.dropped));
}
