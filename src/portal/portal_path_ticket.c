/* SPDX-License-Identifier: MIT */
/*
 * Paths that begin with the grant's ticket (core/relay_hs.h):
 *
 *  - relay: both portals dial the relay the server's grant names, present
 *    the ticket, and once the relay answers "paired" run TLS end to end
 *    over that connection; the relay only splices ciphertext.
 *  - direct: a portal dials one of the peer's candidates (its direct
 *    listener, portal_direct.c), presents the same ticket, and once the
 *    peer answers "paired" runs TLS with it: no third party on the path.
 *    A connection the direct listener accepted and vetted is a direct
 *    path too, already past the ticket.
 *  - punch: a direct dial to a reflexive or public candidate (the peer
 *    is behind NAT, or a stateful firewall) leaves from this portal's
 *    direct listener port, while the peer dials ours from its own: each outgoing SYN opens the sender's NAT
 *    for the other's, and where the NATs keep the port (endpoint-
 *    independent mapping) the two SYNs cross and make one connection
 *    (TCP simultaneous open).  Both sides then sent a request; each reads
 *    the other's where it expected an answer, vets it like the listener
 *    would (the same ticket, the other side), answers it, and reads the
 *    answer to its own.  Had one SYN reached the peer's listener instead,
 *    the listener answers, and the dial goes on as any direct one.
 *
 * Either way the TLS roles are the tunnel's, whoever dialled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/candidate.h"
#include "core/conf.h"
#include "core/err.h"
#include "portal/portal_impl.h"
#include "portal/portal_path_sock.h"
#include "portal/portal_tunnel.h"

/* Sends (the rest of) the ticket; the answer is awaited on EV_READ. */
static void
path_ticket_send(struct sock_path *sp)
{
	int r;

	if ((r = sock_path_send_buf(sp, sp->hs, sp->hs_len,
	    &sp->hs_sent)) != 0)
		sock_path_fail(sp, "sending the ticket to %s %s: %s",
		    sp->base.kind, sp->base.addr, strerror(-r));
}

static void
path_ticket_connected(struct sock_path *sp)
{
	path_ticket_send(sp);
}

/*
 * A punch: the other puncher's request, read after its first 4 bytes
 * (taken for an answer), exactly and no further.  Once whole, it must
 * present our ticket for the other side; it is answered "paired", and the
 * answer to our own request is read next.  0 while it is under way.
 */
static int
path_punch_request(struct sock_path *sp)
{
	struct relay_hs hs;
	uint8_t reply[RELAY_REPLY_LEN];
	const char *why;
	size_t want;
	ssize_t n;

	if (relay_hs_need(sp->peer_hs, sp->peer_hs_len, &want, &why) != 0) {
		sock_path_fail(sp, "the peer at %s sent a bad request: %s",
		    sp->base.addr, why);
		return -1;
	}
	if (want > 0) {
		n = recv(sp->fd, sp->peer_hs + sp->peer_hs_len, want, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			sock_path_fail(sp, "the peer at %s closed the "
			    "connection during its request", sp->base.addr);
			return -1;
		}
		sp->peer_hs_len += (size_t)n;
		if (relay_hs_need(sp->peer_hs, sp->peer_hs_len, &want,
		    &why) != 0 || want > 0)
			return path_punch_request(sp);
	}
	if (relay_hs_decode(sp->peer_hs, sp->peer_hs_len, &hs, &why) != 0 ||
	    !hs.punch || hs.side == sp->hs[4] ||
	    hs.ticket_len != sp->hs_len - RELAY_HS_HDR_LEN ||
	    memcmp(hs.ticket, sp->hs + RELAY_HS_HDR_LEN, hs.ticket_len) != 0) {
		sock_path_fail(sp, "the peer at %s presented another tunnel's "
		    "ticket", sp->base.addr);
		return -1;
	}
	relay_hs_encode_reply(reply, RELAY_OK);
	if (send(sp->fd, reply, sizeof(reply), MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)sizeof(reply)) {
		sock_path_fail(sp, "cannot answer the peer at %s",
		    sp->base.addr);
		return -1;
	}
	sp->peer_reading = 0;
	sp->peer_answered = 1;
	snprintf(sp->base.via, sizeof(sp->base.via), "punched");
	return 0;
}

static void
path_ticket_reply(struct sock_path *sp)
{
	unsigned status;
	ssize_t n;

	if (sp->peer_reading && (path_punch_request(sp) != 0 ||
	    sp->peer_reading))
		return;
	/* Exactly the answer: what follows belongs to TLS. */
	n = recv(sp->fd, sp->hs_reply + sp->hs_got,
	    RELAY_REPLY_LEN - sp->hs_got, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		sock_path_fail(sp, "%s %s closed the connection before "
		    "pairing%s%s", sp->base.kind, sp->base.addr,
		    n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		return;
	}
	sp->hs_got += (size_t)n;
	if (sp->hs_got < RELAY_REPLY_LEN)
		return;
	if (sp->punch && !sp->peer_answered &&
	    !relay_hs_is_reply(sp->hs_reply)) {
		/* The peer punched too: its request first. */
		memcpy(sp->peer_hs, sp->hs_reply, RELAY_REPLY_LEN);
		sp->peer_hs_len = RELAY_REPLY_LEN;
		sp->hs_got = 0;
		sp->peer_reading = 1;
		path_ticket_reply(sp);
		return;
	}
	if (relay_hs_decode_reply(sp->hs_reply, &status) != 0) {
		sock_path_fail(sp, "%s %s sent a bad reply", sp->base.kind,
		    sp->base.addr);
		return;
	}
	if (status != RELAY_OK) {
		sock_path_fail(sp, "%s %s refused: %s", sp->base.kind,
		    sp->base.addr, relay_status_text(status));
		return;
	}
	sock_path_start_tls(sp);
}

static void
path_ticket_preamble_ev(struct sock_path *sp, short what)
{
	if ((what & EV_WRITE) && sp->hs_sent < sp->hs_len) {
		path_ticket_send(sp);
		if (sp->state != SOCK_PREAMBLE)
			return;
	}
	/* The answer comes only once the ticket is whole. */
	if ((what & EV_READ) && sp->hs_sent == sp->hs_len)
		path_ticket_reply(sp);
}

static const struct sock_path_kind path_relay_kind = {
	.name = "relay",
	.phases = { "resolving the relay", "connecting to the relay",
	    "waiting for the relay to pair" },
	.connected = path_ticket_connected,
	.preamble_ev = path_ticket_preamble_ev,
	.fini = NULL,
};

static const struct sock_path_kind path_direct_kind = {
	.name = "direct",
	.phases = { "resolving the peer", "connecting to the peer",
	    "waiting for the peer to accept the ticket" },
	.connected = path_ticket_connected,
	.preamble_ev = path_ticket_preamble_ev,
	.fini = NULL,
};

/*
 * A ticket path to ep, presenting g's ticket for our side of t; dialled
 * from bind_port, as a punch, unless that is 0.
 */
static struct path *
path_ticket_new(struct tunnel *t, const struct proto_msg *g,
    const struct sock_path_kind *kind, const struct conf_endpoint *ep,
    const char *addr, uint16_t bind_port, char *why, size_t whylen)
{
	struct sock_path *sp;
	int rc;

	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	(void)sock_path_init(sp, t, kind, ep->host, ep->port);
	snprintf(sp->base.addr, sizeof(sp->base.addr), "%s", addr);
	sp->bind_port = bind_port;
	sp->punch = bind_port != 0;
	rc = (sp->punch ? relay_hs_encode_punch : relay_hs_encode)(
	    sp->initiator ? PROTO_SIDE_CLIENT : PROTO_SIDE_SERVICE, g->ticket,
	    g->ticket_len, sp->hs, sizeof(sp->hs), &sp->hs_len);
	if (rc != 0) {
		snprintf(why, whylen, "the grant's ticket cannot be presented "
		    "(%zu bytes): %s", g->ticket_len, np_strerror(rc));
		path_free(&sp->base);
		return NULL;
	}
	return &sp->base;
}

struct path *
path_relay_new(struct tunnel *t, const struct proto_msg *g, char *why,
    size_t whylen)
{
	struct conf_endpoint ep;
	struct path *p;
	char epwhy[128];

	if (conf_endpoint_parse(g->relay, 1, 65535, &ep, epwhy,
	    sizeof(epwhy)) != 0) {
		snprintf(why, whylen, "bad relay address %s: %s", g->relay,
		    epwhy);
		return NULL;
	}
	if ((p = path_ticket_new(t, g, &path_relay_kind, &ep, g->relay, 0, why,
	    whylen)) != NULL)
		snprintf(p->via, sizeof(p->via), "%s", g->relay_name);
	return p;
}

struct path *
path_direct_new(struct tunnel *t, const struct proto_msg *g,
    const struct candidate *c, char *why, size_t whylen)
{
	char addr[PROTO_ADDR_MAX + 1];
	struct path *p;
	uint16_t bind_port = 0;

	/*
	 * A reflexive address: the peer is behind NAT, and punches too.  A
	 * public one may be behind a stateful firewall that lets in only
	 * what answers its own traffic: the peer's punch toward us is that
	 * traffic when our SYN leaves from the port it aims at.  A peer whose
	 * listener is open simply accepts the dial.
	 */
	if (c->kind == CAND_REFLEXIVE || c->kind == CAND_PUBLIC)
		bind_port = portal_direct_port(tunnel_portal(t));
	conf_endpoint_format(&c->ep, addr, sizeof(addr));
	if ((p = path_ticket_new(t, g, &path_direct_kind, &c->ep, addr,
	    bind_port, why, whylen)) != NULL) {
		snprintf(p->via, sizeof(p->via), "%s",
		    candidate_kind_name(c->kind));
		p->lan = c->kind == CAND_LAN || c->kind == CAND_LOOPBACK;
	}
	return p;
}

struct path *
path_direct_accepted(struct tunnel *t, int fd, const char *remote)
{
	struct sock_path *sp;

	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		close(fd);
		return NULL;
	}
	if (sock_path_init_fd(sp, t, &path_direct_kind, fd, remote) != 0) {
		path_free(&sp->base);
		return NULL;
	}
	snprintf(sp->base.via, sizeof(sp->base.via), "accepted");
	sp->base.lan = net_addr_str_is_local(remote);
	return &sp->base;
}
