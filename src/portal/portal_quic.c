/* SPDX-License-Identifier: MIT */
/*
 * The portal's QUIC paths, as a set: the GnuTLS credentials they share,
 * and the dispatch of what arrives on the portal's UDP socket (the one
 * portal_stun.c opens on the direct listener's port number) to the path
 * it belongs to.  See portal_path_quic.h for the protocol.
 *
 * A probe is vetted before any QUIC or TLS work: it must carry the ticket
 * of a tunnel the server granted to this portal, from the other side.  A
 * QUIC packet is taken by the path whose connection id it names; an
 * Initial naming none is taken only by an acceptor path whose peer's
 * probe was vetted at that very address.  Everything else is counted and
 * dropped without an answer, so a scan of the port learns nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <arpa/inet.h>

#include <jansson.h>

#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "portal/portal_impl.h"
#include "portal/portal_path_quic.h"
#include "portal/portal_tunnel.h"

/* direct.quic_cc, in the order of its choices. */
static const int quic_cc_algos[] = { NGTCP2_CC_ALGO_BBR, NGTCP2_CC_ALGO_BBR2,
    NGTCP2_CC_ALGO_CUBIC, NGTCP2_CC_ALGO_RENO };
static const char *const quic_cc_names[] = { "bbr", "bbr2", "cubic", "reno" };

static void	portal_quic_writable_cb(evutil_socket_t fd, short what,
		    void *arg);

int
portal_quic_start(struct portal *p)
{
	struct portal_quic *q;
	int r;

	if (p->conf->direct_quic == PORTAL_QUIC_OFF || p->quic != NULL)
		return 0;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	q->p = p;
	TAILQ_INIT(&q->paths);
	q->cc_algo = quic_cc_algos[p->conf->direct_quic_cc];
	if ((q->fd = portal_udp_open(p, &q->family, &q->port)) < 0) {
		r = q->fd;
		free(q);
		log_warn(NULL, "QUIC paths off: no UDP socket: %s",
		    strerror(-r));
		return r;
	}
	q->local_len = sizeof(q->local);
	if (getsockname(q->fd, (struct sockaddr *)&q->local,
	    &q->local_len) != 0) {
		r = -errno;
		free(q);
		return r;
	}
	if ((r = gnutls_certificate_allocate_credentials(&q->cred)) != 0 ||
	    (r = gnutls_certificate_set_x509_key_file(q->cred,
	    p->conf->tls_cert, p->conf->tls_key, GNUTLS_X509_FMT_PEM)) < 0) {
		log_warn(NULL, "QUIC paths off: GnuTLS cannot load tls.cert "
		    "%s and tls.key %s: %s", p->conf->tls_cert,
		    p->conf->tls_key, gnutls_strerror(r));
		if (q->cred != NULL)
			gnutls_certificate_free_credentials(q->cred);
		free(q);
		return NP_ETLS;
	}
	/* Kept packets go out when the socket has room again. */
	q->wev = event_new(loop_base(p->loop), q->fd, EV_WRITE,
	    portal_quic_writable_cb, q);
	p->quic = q;
	log_info(NULL, "QUIC paths on UDP port %u (congestion control %s)",
	    q->port, quic_cc_names[p->conf->direct_quic_cc]);
	return 0;
}

static void
portal_quic_free(struct portal_quic *q)
{
	if (q->wev != NULL)
		event_free(q->wev);
	gnutls_certificate_free_credentials(q->cred);
	free(q);
}

static void
portal_quic_writable_cb(evutil_socket_t fd, short what, void *arg)
{
	struct portal_quic *q = arg;
	struct quic_path *qp, *next;

	/* A path may fail (and be freed after this turn) while flushing. */
	for (qp = TAILQ_FIRST(&q->paths); qp != NULL; qp = next) {
		next = TAILQ_NEXT(qp, entry);
		if (qp->blocked)
			quic_path_unblock(qp);
	}
}

void
portal_quic_wait_writable(struct portal_quic *q)
{
	if (q->wev != NULL)
		event_add(q->wev, NULL);
}

void
portal_quic_stop(struct portal *p)
{
	struct portal_quic *q = p->quic;

	if (q == NULL)
		return;
	p->quic = NULL;
	/*
	 * The tunnels are closed, but their paths are freed at the end of
	 * the loop's turn: the last one out frees the set (their TLS
	 * sessions use its credentials).
	 */
	if (TAILQ_EMPTY(&q->paths))
		portal_quic_free(q);
	else
		q->stopping = 1;
}

void
portal_quic_add(struct portal_quic *q, struct quic_path *qp)
{
	TAILQ_INSERT_TAIL(&q->paths, qp, entry);
}

void
portal_quic_remove(struct portal_quic *q, struct quic_path *qp)
{
	TAILQ_REMOVE(&q->paths, qp, entry);
	if (q->stopping && TAILQ_EMPTY(&q->paths))
		portal_quic_free(q);
}

int
portal_quic_send(struct portal_quic *q, const struct sockaddr *to,
    socklen_t tolen, const uint8_t *data, size_t len)
{
	ssize_t n;

	do
		n = sendto(q->fd, data, len, MSG_DONTWAIT, to, tolen);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

static struct quic_path *
quic_find_at(struct portal_quic *q, const struct tunnel *t,
    const struct sockaddr *from, socklen_t fromlen)
{
	struct quic_path *qp;

	TAILQ_FOREACH(qp, &q->paths, entry)
		if (quic_path_on_shared_socket(qp) &&
		    (t == NULL || quic_path_tunnel(qp) == t) &&
		    quic_path_is_at(qp, from, fromlen))
			return qp;
	return NULL;
}

int
portal_quic_is_probe(const uint8_t *d, size_t n)
{
	/*
	 * 0x80 or 0x81, then the handshake's "NPR".  A QUIC long header
	 * (greased or not) has its version there, never "NPR".
	 */
	return n >= 4 && (d[0] == QUIC_PROBE_ASK || d[0] == QUIC_PROBE_ANSWER) &&
	    memcmp(d + 1, RELAY_MAGIC, 3) == 0;
}

struct tunnel *
portal_quic_probe_tunnel(struct portal_quic *q, const uint8_t *d, size_t n,
    int *ask)
{
	struct relay_hs hs;
	struct tunnel *t;
	const char *why;

	q->probes_in++;
	if (!portal_quic_is_probe(d, n) ||
	    relay_hs_decode(d + 1, n - 1, &hs, &why) != 0 || !hs.punch ||
	    (t = portal_direct_find_tunnel(q->p, hs.ticket, hs.ticket_len,
	    hs.side)) == NULL) {
		q->bad_probes++;
		return NULL;
	}
	*ask = d[0] == QUIC_PROBE_ASK;
	return t;
}

/* A probe: vetted by its ticket, then given to the tunnel's path at that
 * address (a new one when the address is news: the peer's NAT mapping). */
static void
quic_probe_input(struct portal_quic *q, const uint8_t *d, size_t n,
    const struct sockaddr *from, socklen_t fromlen)
{
	struct quic_path *qp;
	struct tunnel *t;
	struct path *path;
	int ask;

	if ((t = portal_quic_probe_tunnel(q, d, n, &ask)) == NULL)
		return;
	if ((qp = quic_find_at(q, t, from, fromlen)) == NULL) {
		if ((path = path_quic_learned(t, from, fromlen)) == NULL)
			return;
		tunnel_add_candidate(t, path);
		/* Refused (the tunnel has all the candidates it takes)? */
		if ((qp = quic_find_at(q, t, from, fromlen)) == NULL)
			return;
	}
	quic_path_on_probe(qp, ask);
}

void
portal_quic_input(struct portal *p, const uint8_t *d, size_t n,
    const struct sockaddr *from, socklen_t fromlen)
{
	struct portal_quic *q = p->quic;
	ngtcp2_version_cid vc;
	struct quic_path *qp;

	if (q == NULL)
		return;
	if (portal_quic_is_probe(d, n)) {
		quic_probe_input(q, d, n, from, fromlen);
		return;
	}
	if (ngtcp2_pkt_decode_version_cid(&vc, d, n, QUIC_SCID_LEN) != 0) {
		q->stray_packets++;
		return;
	}
	TAILQ_FOREACH(qp, &q->paths, entry)
		if (quic_path_on_shared_socket(qp) &&
		    quic_path_owns_cid(qp, vc.dcid, vc.dcidlen)) {
			quic_path_input(qp, d, n);
			return;
		}
	/* A long header naming no id of ours: a client's first Initial. */
	if ((d[0] & 0x80) != 0 && vc.version == NGTCP2_PROTO_VER_V1)
		TAILQ_FOREACH(qp, &q->paths, entry)
			if (quic_path_on_shared_socket(qp) &&
			    quic_path_is_at(qp, from, fromlen) &&
			    quic_path_accept(qp, d, n) == 0)
				return;
	q->stray_packets++;
}

void
portal_quic_spray_ports(struct portal *p, struct tunnel *t, const char *host,
    int count)
{
	struct portal_quic *q = p->quic;
	struct sockaddr_storage ss;
	struct conf_endpoint ep;
	uint8_t probe[QUIC_PROBE_MAX];
	const uint8_t *ticket;
	size_t ticket_len, n;
	socklen_t len;
	uint16_t port;
	int i, sent = 0;

	if (q == NULL || (ticket_len = tunnel_ticket(t, &ticket)) == 0)
		return;
	memset(&ep, 0, sizeof(ep));
	snprintf(ep.host, sizeof(ep.host), "%s", host);
	ep.port = 1;
	if (net_resolve(&ep, SOCK_DGRAM, &ss, &len) != 0 ||
	    relay_hs_encode_punch(tunnel_is_initiator(t) ? PROTO_SIDE_CLIENT :
	    PROTO_SIDE_SERVICE, ticket, ticket_len, probe + 1,
	    sizeof(probe) - 1, &n) != 0)
		return;
	portal_udp_map_v4(p, &ss, &len);
	probe[0] = QUIC_PROBE_ASK;
	/*
	 * Each probe opens this NAT toward one port of the peer's: one of
	 * them likely is a port the peer's NAT gave one of its sockets.
	 * Nothing the peer's NAT does not expect gets past it.
	 */
	for (i = 0; i < count; i++) {
		if (getrandom(&port, sizeof(port), 0) != (ssize_t)sizeof(port))
			break;
		port = (uint16_t)(1024 + port % (65536 - 1024));
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons(port);
		if (portal_quic_send(q, (struct sockaddr *)&ss, len, probe,
		    1 + n) == 0)
			sent++;
	}
	q->probes_out += (uint64_t)sent;
	log_info(tunnel_log(t), "birthday probing: %d probes to random ports "
	    "of %s (its NAT picks a port per destination)", sent, host);
}

json_t *
portal_quic_status(const struct portal *p)
{
	const struct portal_quic *q = p->quic;
	const struct quic_path *qp;
	json_t *paths;

	if (q == NULL)
		return json_null();
	if ((paths = json_array()) == NULL)
		return NULL;
	TAILQ_FOREACH(qp, &q->paths, entry)
		json_array_append_new(paths, quic_path_status(qp));
	return json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:o}", "udp_port",
	    (int)q->port, "congestion_control",
	    quic_cc_names[p->conf->direct_quic_cc], "probes_in", (json_int_t)q->probes_in,
	    "probes_out", (json_int_t)q->probes_out, "bad_probes",
	    (json_int_t)q->bad_probes, "stray_packets",
	    (json_int_t)q->stray_packets, "paths", paths);
}
