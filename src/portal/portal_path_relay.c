/* SPDX-License-Identifier: MIT */
/*
 * The relay path: both portals dial the relay that the server's grant
 * names, present the ticket (core/relay_hs.h), and once the relay answers
 * "paired" run TLS end to end over that connection; the relay only splices
 * ciphertext.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/err.h"
#include "portal/portal_path_sock.h"
#include "portal/portal_tunnel.h"

/* Sends (the rest of) the ticket; the answer is awaited on EV_READ. */
static void
path_relay_send_hs(struct sock_path *sp)
{
	int r;

	if ((r = sock_path_send_buf(sp, sp->hs, sp->hs_len,
	    &sp->hs_sent)) != 0)
		sock_path_fail(sp, "sending the ticket to relay %s: %s",
		    sp->base.addr, strerror(-r));
}

static void
path_relay_connected(struct sock_path *sp)
{
	path_relay_send_hs(sp);
}

static void
path_relay_reply(struct sock_path *sp)
{
	unsigned status;
	ssize_t n;

	/* Exactly the answer: what follows belongs to TLS. */
	n = recv(sp->fd, sp->hs_reply + sp->hs_got,
	    RELAY_REPLY_LEN - sp->hs_got, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		sock_path_fail(sp, "relay %s closed the connection before "
		    "pairing%s%s", sp->base.addr, n < 0 ? ": " : "",
		    n < 0 ? strerror(errno) : "");
		return;
	}
	sp->hs_got += (size_t)n;
	if (sp->hs_got < RELAY_REPLY_LEN)
		return;
	if (relay_hs_decode_reply(sp->hs_reply, &status) != 0) {
		sock_path_fail(sp, "relay %s sent a bad reply", sp->base.addr);
		return;
	}
	if (status != RELAY_OK) {
		sock_path_fail(sp, "relay %s refused: %s", sp->base.addr,
		    relay_status_text(status));
		return;
	}
	sock_path_start_tls(sp);
}

static void
path_relay_preamble_ev(struct sock_path *sp, short what)
{
	if ((what & EV_WRITE) && sp->hs_sent < sp->hs_len) {
		path_relay_send_hs(sp);
		if (sp->state != SOCK_PREAMBLE)
			return;
	}
	/* The relay answers only once the ticket is whole. */
	if ((what & EV_READ) && sp->hs_sent == sp->hs_len)
		path_relay_reply(sp);
}

static const struct sock_path_kind path_relay_kind = {
	.name = "relay",
	.phases = { "resolving the relay", "connecting to the relay",
	    "waiting for the relay to pair" },
	.connected = path_relay_connected,
	.preamble_ev = path_relay_preamble_ev,
	.fini = NULL,
};

struct path *
path_relay_new(struct tunnel *t, const struct proto_msg *g, char *why,
    size_t whylen)
{
	struct conf_endpoint ep;
	struct sock_path *sp;
	char epwhy[128];
	int rc;

	if (conf_endpoint_parse(g->relay, 1, 65535, &ep, epwhy,
	    sizeof(epwhy)) != 0) {
		snprintf(why, whylen, "bad relay address %s: %s", g->relay,
		    epwhy);
		return NULL;
	}
	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	(void)sock_path_init(sp, t, &path_relay_kind, ep.host, ep.port);
	snprintf(sp->base.addr, sizeof(sp->base.addr), "%s", g->relay);
	snprintf(sp->base.via, sizeof(sp->base.via), "%s", g->relay_name);
	rc = relay_hs_encode(sp->initiator ? PROTO_SIDE_CLIENT :
	    PROTO_SIDE_SERVICE, g->ticket, g->ticket_len, sp->hs,
	    sizeof(sp->hs), &sp->hs_len);
	if (rc != 0) {
		snprintf(why, whylen, "the grant's ticket cannot be presented "
		    "(%zu bytes): %s", g->ticket_len, np_strerror(rc));
		path_free(&sp->base);
		return NULL;
	}
	return &sp->base;
}
