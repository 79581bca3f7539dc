/* SPDX-License-Identifier: MIT */
/*
 * Stream multiplexing inside a tunnel (docs/PROTOCOL.md, "Tunnel").
 *
 * Every frame is an 8-byte header and a payload:
 *
 *	u8 type | u8 flags | u16 payload length | u32 stream id
 *
 * Payloads are at most 16 KiB, except DGRAM frames, which carry one whole
 * datagram of up to 65,507 bytes.
 *
 * Streams opened by the tunnel's initiator have odd ids, those opened by
 * the acceptor even ids; id 0 is the tunnel itself.  Flow control is per
 * stream and credit based: a sender may have at most MUX_INITIAL_WINDOW
 * bytes of a stream's DATA unacknowledged, plus whatever WINDOW frames
 * from the receiver have added since.
 *
 * Every frame but ACK and RESUME is counted in its direction's sequence
 * (the bytes of those frames since the tunnel began): ACK tells the
 * sender how much of it has been received, so that it can drop what it
 * keeps for a replay; RESUME, the first frame on a tunnel's new path,
 * tells it from where to replay what the old path lost, and which of the
 * initiator's paths this is (RESUMEs on two paths can arrive out of
 * order).
 *
 * This module is the pure codec: bytes in, struct out, or an error.
 */
#ifndef NETPORT_CORE_MUX_H
#define NETPORT_CORE_MUX_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/identity.h"

#define MUX_HDR_LEN		8
/* One frame's payload fits one TLS record: 16 KiB. */
#define MUX_MAX_PAYLOAD		16384
/*
 * A DGRAM frame carries one whole UDP datagram, never split or merged: up
 * to the largest IPv4 UDP payload.
 */
#define MUX_MAX_DGRAM		65507
/* Credit every stream starts with, each way. */
#define MUX_INITIAL_WINDOW	(256 * 1024)
/* Most credit a receiver may grant (bounds a sender's buffering). */
#define MUX_MAX_WINDOW		(16 * 1024 * 1024)
#define MUX_REASON_MAX		200

enum mux_type {
	MUX_DATA = 0,		/* payload: stream bytes; flag FIN */
	MUX_OPEN = 1,		/* payload: u8 n + rule name [+ dest] */
	MUX_WINDOW = 2,		/* payload: u32 credit increment */
	MUX_RESET = 3,		/* payload: u16 code + reason text */
	MUX_PING = 4,		/* stream 0; payload: 8 opaque bytes; flag ACK */
	MUX_GOAWAY = 5,		/* stream 0; payload: u16 code + reason text */
	MUX_DGRAM = 6,		/* payload: one datagram of a datagram flow */
	MUX_ACK = 7,		/* stream 0; payload: u64 bytes received */
	MUX_RESUME = 8,		/* stream 0; payload: u64 bytes received,
				 * u32 path number */
	MUX_TYPE_MAX = 8,
};

#define MUX_FLAG_FIN	(1u << 0)	/* DATA: no more bytes this way */
#define MUX_FLAG_ACK	(1u << 1)	/* PING: this is the answer */
#define MUX_FLAG_DGRAM	(1u << 2)	/* OPEN: a datagram flow (UDP) */

/* Why a stream was reset (RESET) or a tunnel is going away (GOAWAY). */
#define MUX_RESETS(X)							\
	X(REFUSED,	1, "target refused the connection")		\
	X(RULE_REVOKED,	2, "rule revoked or expired")			\
	X(PEER_GONE,	3, "the other side went away")			\
	X(PROTOCOL,	4, "protocol error")				\
	X(FLOW_CONTROL,	5, "flow control violated")			\
	X(NOT_ALLOWED,	6, "not allowed by the service portal")		\
	X(TIMEOUT,	7, "timed out")					\
	X(SHUTDOWN,	8, "portal shutting down")			\
	X(UNREACHABLE,	9, "target unreachable")			\
	X(INTERNAL,	10, "internal error")				\
	X(TUNNEL_FAILED, 11, "tunnel could not be established")		\
	X(IDLE,		12, "tunnel idle")

enum mux_reset {
#define MUX_RESET_ENUM(name, value, text) MUX_R_##name = (value),
	MUX_RESETS(MUX_RESET_ENUM)
#undef MUX_RESET_ENUM
};

/*
 * The destination an OPEN may name after the rule: u16 port, then the
 * address (4 or 16 bytes) or nothing.  A port-range rule's stream names
 * its port, a capture rule's stream its address and port; the service
 * portal checks both against the rule before it connects.
 */
struct mux_dest {
	uint16_t	port;		/* 0: no destination */
	uint8_t		family;		/* 0: the port only; AF_INET, AF_INET6 */
	uint8_t		addr[16];
};

struct mux_hdr {
	uint8_t		type;
	uint8_t		flags;
	uint16_t	len;
	uint32_t	stream;
};

/* A decoded frame; data and reason point into the input (borrowed). */
struct mux_frame {
	struct mux_hdr	 hdr;
	const uint8_t	*data;		/* DATA, DGRAM */
	char		 rule[NP_NAME_MAX + 1];	/* OPEN */
	struct mux_dest	 dest;		/* OPEN */
	uint32_t	 increment;	/* WINDOW */
	uint16_t	 code;		/* RESET, GOAWAY */
	char		 reason[MUX_REASON_MAX + 1];	/* RESET, GOAWAY */
	uint64_t	 ping;		/* PING */
	uint64_t	 seq;		/* ACK, RESUME */
	uint32_t	 path_no;	/* RESUME */
};

/* A RESUME frame's length, header included. */
#define MUX_RESUME_LEN	(MUX_HDR_LEN + 12)

/* NP_ESHORT, or NP_EPROTO (unknown type) / NP_ETOOBIG (length). */
int	mux_hdr_decode(const uint8_t *p, size_t n, struct mux_hdr *out);

/*
 * Decodes one whole frame of exactly n bytes, checking what each type's
 * payload must be.  Returns 0, NP_ESHORT, NP_ETOOBIG or NP_EPROTO with
 * *why (static text) saying which rule was broken.
 */
int	mux_decode(const uint8_t *p, size_t n, struct mux_frame *out,
	    const char **why);

/* Writes an 8-byte header. */
void	mux_hdr_encode(uint8_t out[MUX_HDR_LEN], uint8_t type, uint8_t flags,
	    uint16_t len, uint32_t stream);

/* Appenders for the control frames; 0 or a buf error (or NP_ENAME). */
/* OPEN of a byte stream; dest may be NULL (the rule's own target). */
int	mux_put_open(struct buf *b, uint32_t stream, const char *rule,
	    const struct mux_dest *dest) __attribute__((warn_unused_result));
int	mux_put_window(struct buf *b, uint32_t stream, uint32_t increment)
	    __attribute__((warn_unused_result));
int	mux_put_reset(struct buf *b, uint32_t stream, uint16_t code,
	    const char *reason) __attribute__((warn_unused_result));
int	mux_put_ping(struct buf *b, uint8_t flags, uint64_t value)
	    __attribute__((warn_unused_result));
int	mux_put_goaway(struct buf *b, uint16_t code, const char *reason)
	    __attribute__((warn_unused_result));
/* OPEN of a datagram flow. */
int	mux_put_open_dgram(struct buf *b, uint32_t stream, const char *rule,
	    const struct mux_dest *dest) __attribute__((warn_unused_result));
/* A DGRAM frame with one datagram of n bytes (n <= MUX_MAX_DGRAM). */
int	mux_put_dgram(struct buf *b, uint32_t stream, const void *p, size_t n)
	    __attribute__((warn_unused_result));
/* ACK of seq bytes received. */
int	mux_put_ack(struct buf *b, uint64_t seq)
	    __attribute__((warn_unused_result));
/*
 * RESUME on the initiator's path number path_no (the acceptor answers
 * with the same), seq bytes received.
 */
int	mux_put_resume(struct buf *b, uint64_t seq, uint32_t path_no)
	    __attribute__((warn_unused_result));
/* 1 for the frames counted in the sequence (all but ACK and RESUME). */
static inline int
mux_is_sequenced(uint8_t type)
{
	return type != MUX_ACK && type != MUX_RESUME;
}
/* An empty DATA frame with FIN. */
int	mux_put_fin(struct buf *b, uint32_t stream)
	    __attribute__((warn_unused_result));

const char *mux_reset_text(unsigned code);

#endif
