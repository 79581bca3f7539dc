/* SPDX-License-Identifier: MIT */
/*
 * The QUIC path (portal_path_quic.c) and the portal's registry of QUIC
 * paths (portal_quic.c), which owns what they share: the GnuTLS
 * credentials, and the dispatch of datagrams arriving on the portal's UDP
 * socket to the path they belong to.
 *
 * A QUIC path is a direct path over UDP.  Before any QUIC packet, the two
 * portals send each other probes: one datagram carrying the tunnel's
 * ticket, the same request a direct TCP dial presents (core/relay_hs.h,
 * which starts "NPR"), behind a first byte of 0x80 (please answer) or
 * 0x81 (an answer): where a QUIC long header has its version, a probe has
 * "NPR", so the two never mix.  A
 * probe opens each side's NAT toward the other (UDP hole punching) and
 * proves that the sender holds the ticket the server just granted: the
 * acceptor takes a QUIC Initial only from an address whose probe it
 * vetted, so the UDP socket never becomes an open QUIC server.  The
 * tunnel's initiator is the QUIC client: it starts the handshake at the
 * first probe it receives from the peer.  Inside QUIC, TLS 1.3 (GnuTLS,
 * the TLS library ngtcp2 is built for in Debian) checks the peer with
 * tls_verify_chain_der(), the same CA, CRL and pinned peer name as every
 * path.  The tunnel's frames travel on one bidirectional stream.
 */
#ifndef NETPORT_PORTAL_PATH_QUIC_H
#define NETPORT_PORTAL_PATH_QUIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "core/buf.h"
#include "core/dgramq.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/proto.h"
#include "core/queue.h"
#include "core/relay_hs.h"
#include "portal/portal_path.h"

/* First bytes of a probe: asks for an answer, or is one. */
#define QUIC_PROBE_ASK		0x80
#define QUIC_PROBE_ANSWER	0x81
#define QUIC_PROBE_MAX		(1 + RELAY_HS_MAX)
/* Our connection ids: fixed length, so short headers can be matched. */
#define QUIC_SCID_LEN		12
/* Connection ids a path answers to (ours, and ones we issued). */
#define QUIC_MAX_SCIDS		8

struct portal;
struct quic_spray;

enum quic_state {
	QUIC_PROBING,		/* probes out, no QUIC yet */
	QUIC_HANDSHAKE,		/* QUIC and TLS under way */
	QUIC_UP,
	QUIC_DONE,		/* failed or closed: no more I/O */
};

struct quic_path {
	struct path		 base;
	TAILQ_ENTRY(quic_path)	 entry;		/* in portal_quic.paths */
	struct portal		*portal;	/* borrowed */
	struct portal_quic	*q;		/* borrowed */
	int			 initiator;	/* QUIC client */
	enum quic_state		 st;
	int			 registered;
	struct sockaddr_storage	 peer;
	socklen_t		 peer_len;
	struct loop_timer	*timer;

	/* Probing. */
	uint8_t			 probe[QUIC_PROBE_MAX];
	size_t			 probe_len;
	int			 vetted;	/* the peer's probe came */
	uint64_t		 probe_sent_ms, answer_sent_ms;
	uint64_t		 rtt_ms;	/* probe to answer; 0: none */

	/* QUIC. */
	ngtcp2_conn		*conn;
	gnutls_session_t	 tls;
	ngtcp2_crypto_conn_ref	 ref;
	ngtcp2_cid		 scids[QUIC_MAX_SCIDS];
	size_t			 nscids;
	int64_t			 sid;		/* the stream; -1: none yet */
	int			 verified;	/* the peer's chain passed */
	ngtcp2_connection_close_error ccerr;	/* what we tell on close */
	int			 in_input;	/* inside read_pkt */
	int			 draining;	/* the peer closed: no more out */
	/*
	 * Packets the socket had no room for (one batch, as written for
	 * UDP GSO: pend_seg bytes each but the last), sent first when it
	 * has; allocated on first need.
	 */
	uint8_t			*pend;
	size_t			 pend_len, pend_seg;
	int			 no_gso;	/* the kernel refused UDP_SEGMENT */
	int			 blocked;	/* waiting for the socket */

	/*
	 * Through a relay over UDP: a socket of its own, connected to the
	 * relay (whose answers and forwarded packets come only there), and
	 * registrations instead of probes.  own_fd < 0: the portal's shared
	 * socket.
	 */
	int			 own_fd;
	int			 relayed;	/* registrations, not probes */
	int			 learned;	/* the address came in a probe */
	struct quic_spray	*spray;		/* birthday sockets, until one
						 * gets through */
	struct event		*own_rev, *own_wev;
	struct net_resolve	*dns;
	char			 host[CONF_HOST_MAX + 1];	/* the relay */
	uint16_t		 port;
	struct sockaddr_storage	 local;		/* the socket's address */
	socklen_t		 local_len;

	/* Stream data: ring offsets are stream offsets. */
	uint8_t			*ring;		/* QUIC_TX_RING; lazily */
	uint64_t		 tx_acked, tx_sent, tx_end;
	int			 want_writable;
	struct buf		 rx;
	int			 rx_fin;	/* the peer ended the stream */
	/* DATAGRAM frames: out, waiting for the congestion window; in,
	 * waiting to be handed over once ngtcp2 has returned. */
	struct dgramq		 dg_out, dg_in;
	uint64_t		 dg_sent, dg_recv;
	uint64_t		 peer_closed;	/* app error + 1; 0: open */
};

TAILQ_HEAD(quic_path_list, quic_path);

/* A path on the portal's shared UDP socket (not the relay's, not one of
 * its own): the registry sorts datagrams to these. */
static inline int
quic_path_on_shared_socket(const struct quic_path *qp)
{
	return qp->own_fd < 0 && !qp->relayed && qp->spray == NULL;
}

struct portal_quic {
	struct portal		*p;		/* borrowed */
	int			 fd;		/* borrowed: portal_stun's */
	int			 family;	/* of fd */
	uint16_t		 port;
	struct sockaddr_storage	 local;		/* fd's address */
	socklen_t		 local_len;
	gnutls_certificate_credentials_t cred;
	int			 cc_algo;	/* ngtcp2_cc_algo */
	struct quic_path_list	 paths;
	/* Datagrams dropped: bad probes, and QUIC of no path of ours. */
	uint64_t		 bad_probes, stray_packets;
	uint64_t		 probes_in, probes_out;
	int			 stopping;	/* freed with its last path */
	struct event		*wev;		/* fd writable again */
};

/* portal_path_quic.c: the path. */
/* A new path toward one of the peer's candidates (addr: "HOST:PORT"),
 * or toward the address a valid probe came from (from != NULL). */
struct path *path_quic_new(struct tunnel *t, const char *host, uint16_t port,
	    const char *via, char *why, size_t whylen);
struct path *path_quic_learned(struct tunnel *t, const struct sockaddr *from,
	    socklen_t fromlen);
/*
 * Birthday probing from behind a NAT that picks a new port per
 * destination: probes from QUIC_SPRAY_SOCKETS sockets of its own toward
 * the peer's address (host:port, its STUN mapping), while the peer
 * probes as many ports (portal_quic_spray_ports); the first socket the
 * peer's probe reaches becomes the path's.
 */
#define QUIC_SPRAY_SOCKETS	128
#define QUIC_SPRAY_PORTS	1024
struct path *path_quic_spray_new(struct tunnel *t, const char *host,
	    uint16_t port, char *why, size_t whylen);
/* A QUIC path through the grant's relay, paired over UDP. */
struct path *path_quic_relay_new(struct tunnel *t, const struct proto_msg *g,
	    char *why, size_t whylen);
/* Called by the registry. */
int	quic_path_owns_cid(const struct quic_path *qp, const uint8_t *cid,
	    size_t len);
int	quic_path_is_at(const struct quic_path *qp, const struct sockaddr *sa,
	    socklen_t len);
struct tunnel *quic_path_tunnel(const struct quic_path *qp);
void	quic_path_on_probe(struct quic_path *qp, int ask);
/* An Initial from the path's address: 0 when the path takes it (a vetted
 * acceptor still waiting for its handshake). */
int	quic_path_accept(struct quic_path *qp, const uint8_t *pkt, size_t len);
void	quic_path_input(struct quic_path *qp, const uint8_t *pkt, size_t len);
/* The socket has room again: sends the packet it kept, and more. */
void	quic_path_unblock(struct quic_path *qp);
/* Status: "probing" ... and counters. */
struct json_t *quic_path_status(const struct quic_path *qp);

/* portal_quic.c: the registry. */
void	portal_quic_add(struct portal_quic *q, struct quic_path *qp);
void	portal_quic_remove(struct portal_quic *q, struct quic_path *qp);
/* 1 for a probe's first bytes (0x80 or 0x81, then "NPR"). */
int	portal_quic_is_probe(const uint8_t *d, size_t n);
/*
 * The tunnel a probe of n bytes at d belongs to: a ticket this portal was
 * granted, unexpired, from the other side (counted in the statistics
 * either way); *ask says whether it asks for an answer.  NULL: not one.
 */
struct tunnel *portal_quic_probe_tunnel(struct portal_quic *q,
	    const uint8_t *d, size_t n, int *ask);
/* Wakes the paths that wait for room in the socket, once it has some. */
void	portal_quic_wait_writable(struct portal_quic *q);
/* Sends one datagram on the socket; 0 or -errno. */
int	portal_quic_send(struct portal_quic *q, const struct sockaddr *to,
	    socklen_t tolen, const uint8_t *data, size_t len);

#endif
