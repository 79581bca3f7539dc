/* SPDX-License-Identifier: MIT */
/*
 * The relay handshake (docs/PROTOCOL.md, "Relay handshake"): what a portal
 * sends first on a connection to a relay (or, for a direct path, to the
 * peer portal), and the relay's 4-byte answer.
 *
 *	request:  "NPR" | u8 version (1) | u8 side | u16 n | n bytes ticket
 *	answer:   "NPR" | u8 status
 *
 * side is PROTO_SIDE_CLIENT (1) for the tunnel's initiator and
 * PROTO_SIDE_SERVICE (2) for its acceptor.  A portal that punches through
 * NAT (it dials the peer from its direct listener's port, while the peer
 * does the same: TCP simultaneous open) marks its request with version
 * RELAY_VERSION_PUNCH: on such a connection each side may be the other's
 * listener too, and a status byte never has the high bit set, so the
 * fourth byte tells a request from an answer.  This module is the pure codec,
 * shared by every speaker of the handshake: bytes in, struct or error out.
 */
#ifndef NETPORT_CORE_RELAY_HS_H
#define NETPORT_CORE_RELAY_HS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ticket.h"

#define RELAY_MAGIC		"NPR"
#define RELAY_VERSION		1
#define RELAY_VERSION_PUNCH	0x81	/* version 1, sent by a puncher */
/* The fixed part of a request, before the ticket. */
#define RELAY_HS_HDR_LEN	7
#define RELAY_HS_MAX		(RELAY_HS_HDR_LEN + TICKET_MAX_LEN)
/* The answer: "NPR" and a status byte. */
#define RELAY_REPLY_LEN		4

/*
 * Over UDP (docs/PROTOCOL.md, "Relay over UDP") a portal registers with
 * RELAY_UDP_REGISTER and a request, repeated until the relay answers with
 * RELAY_UDP_ANSWER and an answer (status OK once both portals are there,
 * WAITING before); then every other datagram is forwarded blind.
 */
#define RELAY_UDP_REGISTER	0x82
#define RELAY_UDP_ANSWER	0x83

/* The statuses of an answer: value, name, what a portal logs. */
#define RELAY_STATUSES(X)						\
	X(OK,		0, "paired")					\
	X(E_MALFORMED,	1, "malformed handshake")			\
	X(E_SIGNATURE,	2, "ticket signature or key invalid")		\
	X(E_EXPIRED,	3, "ticket expired")				\
	X(E_REPLAY,	4, "ticket already used")			\
	X(E_WRONG_RELAY, 5, "ticket is for another relay")		\
	X(E_PAIR_TIMEOUT, 6, "the other portal did not arrive in time")	\
	X(E_CAPACITY,	7, "relay at capacity")				\
	X(WAITING,	8, "waiting for the other portal")

enum relay_status {
#define RELAY_STATUS_ENUM(name, value, text) RELAY_##name = (value),
	RELAY_STATUSES(RELAY_STATUS_ENUM)
#undef RELAY_STATUS_ENUM
};

/* A decoded request; ticket points into the input (borrowed). */
struct relay_hs {
	uint8_t		 side;		/* PROTO_SIDE_CLIENT or _SERVICE */
	int		 punch;		/* RELAY_VERSION_PUNCH */
	const uint8_t	*ticket;
	size_t		 ticket_len;
};

/*
 * How many more bytes the request whose first n bytes are at p needs
 * (*need is 0 once it is whole), so that a reader takes exactly the
 * request and never a byte of what follows it.  Returns 0, or NP_EPROTO
 * with *why (static text) when what is there already cannot be a request.
 */
int	relay_hs_need(const uint8_t *p, size_t n, size_t *need,
	    const char **why);

/*
 * Reads from the non-blocking socket fd what the request in p (*n bytes
 * so far, p of RELAY_HS_MAX bytes) still needs, never a byte of what
 * follows it: the one reader of requests, for the relay and for a
 * portal's direct listener.  Returns 1 once the request is whole, 0 when
 * more must come, or -1 with *why (static text, or strerror's) when the
 * bytes cannot be a request, the peer closed, or the read failed.
 */
int	relay_hs_read(int fd, uint8_t *p, size_t *n, const char **why);

/*
 * Decodes a whole request of exactly n bytes.  Returns 0, NP_ESHORT, or
 * NP_EPROTO with *why.  The ticket itself is not checked here (ticket.h).
 */
int	relay_hs_decode(const uint8_t *p, size_t n, struct relay_hs *out,
	    const char **why);

/*
 * Encodes a request into out (cap bytes), its length in *len.  Returns 0,
 * -EINVAL (bad side, empty or oversized ticket) or NP_ETOOBIG (cap).
 */
int	relay_hs_encode(uint8_t side, const uint8_t *ticket, size_t ticket_len,
	    uint8_t *out, size_t cap, size_t *len);
/* The same, marked as sent by a puncher (RELAY_VERSION_PUNCH). */
int	relay_hs_encode_punch(uint8_t side, const uint8_t *ticket,
	    size_t ticket_len, uint8_t *out, size_t cap, size_t *len);
/*
 * For a puncher, which reads either a listener's answer or the other
 * puncher's request (always RELAY_VERSION_PUNCH): 1 when the 4 bytes at p
 * are an answer, 0 otherwise (a request, or garbage the decoders name).
 */
int	relay_hs_is_reply(const uint8_t p[RELAY_REPLY_LEN]);

void	relay_hs_encode_reply(uint8_t out[RELAY_REPLY_LEN],
	    enum relay_status status);
/*
 * Decodes an answer; the status byte is returned as is in *status (an
 * unknown value is the peer's business: relay_status_text() says so).
 * Returns 0 or NP_EPROTO (not an answer: bad magic).
 */
int	relay_hs_decode_reply(const uint8_t p[RELAY_REPLY_LEN],
	    unsigned *status);

/* What a status means, for logs; never NULL. */
const char *relay_status_text(unsigned status);

#endif
