/* SPDX-License-Identifier: MIT */
/*
 * Control protocol v1: the messages between portals or relays and the
 * server, inside their mutual-TLS control connection.  docs/PROTOCOL.md is
 * the reference; bump PROTO_VERSION and that document together.
 *
 * A frame is an 8-byte header followed by a payload of attributes:
 *
 *	u8 version | u8 type | u16 payload length | u32 request id
 *	payload: { u8 tag | u16 length | value } ...
 *
 * This module is pure code: bytes in, struct out, or an error.  Decoding
 * never allocates: struct proto_msg has a bounded slot for every attribute,
 * so a decoded message is freed by dropping it.
 */
#ifndef NETPORT_CORE_PROTO_H
#define NETPORT_CORE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/identity.h"

#define PROTO_VERSION		1
#define PROTO_HDR_LEN		8
/*
 * The largest payload.  The biggest message (a rule or a grant) is well
 * under 1 KiB; 16 KiB leaves room for growth and still bounds what a peer
 * can make us buffer before a frame is complete.
 */
#define PROTO_MAX_PAYLOAD	16384

/* Attribute value limits. */
#define PROTO_NAME_MAX		NP_NAME_MAX	/* rule and portal names */
#define PROTO_ADDR_MAX		263		/* "[" 255 "]:" 65535 */
#define PROTO_TEXT_MAX		255		/* software, error message */
#define PROTO_TICKET_MAX	512
#define PROTO_KEY_LEN		32		/* Ed25519 public key */
#define PROTO_TUNNEL_ID_LEN	16
#define PROTO_MAX_ADVERTISE	8
/* A rule's port set, "80,443,8000-8100" (PORTSET_TEXT_MAX). */
#define PROTO_PORTS_MAX		768
/* A capture rule's address range, "ffff:...:ffff/128" (PREFIX_TEXT_MAX). */
#define PROTO_RANGE_MAX		49
/* A direct-path candidate: "KIND HOST:PORT" (kind: lan, public, ...). */
#define PROTO_CANDIDATE_MAX	(PROTO_ADDR_MAX + 16)

#define PROTO_TYPES(X)						\
	X(HELLO,		1)					\
	X(WELCOME,		2)					\
	X(PING,			3)					\
	X(PONG,			4)					\
	X(ERROR,		5)					\
	X(RULES_BEGIN,		6)					\
	X(RULE,			7)					\
	X(RULES_END,		8)					\
	X(TUNNEL_REQUEST,	9)					\
	X(TUNNEL_GRANT,		10)					\
	X(RELAY_LOAD,		11)					\
	X(PEER_REVOKED,		12)					\
	X(CANDIDATES,		13)

enum proto_type {
#define PROTO_TYPE_ENUM(name, value) PROTO_##name = (value),
	PROTO_TYPES(PROTO_TYPE_ENUM)
#undef PROTO_TYPE_ENUM
	PROTO_TYPE_MAX = 13,
};

/* Error codes carried in an ERROR message (attribute CODE). */
#define PROTO_ERRORS(X)							\
	X(BAD_REQUEST,	1, "malformed or unexpected message")		\
	X(DENIED,	2, "denied by policy")				\
	X(UNKNOWN_RULE,	3, "no such rule for this portal")		\
	X(PEER_OFFLINE,	4, "the other portal is not connected")		\
	X(NO_RELAY,	5, "no relay is available")			\
	X(EXPIRED,	6, "the rule has expired")			\
	X(INTERNAL,	7, "internal server error")			\
	X(VERSION,	8, "unsupported protocol version")		\
	X(REVOKED,	9, "certificate revoked")			\
	X(SHUTDOWN,	10, "server is shutting down")

enum proto_error {
#define PROTO_ERR_ENUM(name, value, text) PROTO_E_##name = (value),
	PROTO_ERRORS(PROTO_ERR_ENUM)
#undef PROTO_ERR_ENUM
};

/* RULE side and TUNNEL_GRANT side. */
enum proto_side {
	PROTO_SIDE_CLIENT = 1,		/* listens; initiates tunnels */
	PROTO_SIDE_SERVICE = 2,		/* connects to targets; accepts */
};

/* IP protocol numbers. */
enum proto_ipproto {
	PROTO_TCP = 6,
	PROTO_UDP = 17,
};

/*
 * Attributes: tag, field, kind, limit.  Tags are never reused; an unknown
 * tag is skipped, so a newer peer can add optional attributes.
 */
#define PROTO_ATTRS(X)							\
	X(1,  software,    STR,   PROTO_TEXT_MAX)			\
	X(2,  keepalive_ms, U32,  0)					\
	X(3,  dead_ms,     U32,   0)					\
	X(4,  time_ms,     U64,   0)					\
	X(5,  ticket_key,  FIXED, PROTO_KEY_LEN)			\
	X(6,  nonce,       U64,   0)					\
	X(7,  code,        U16,   0)					\
	X(8,  message,     STR,   PROTO_TEXT_MAX)			\
	X(9,  generation,  U64,   0)					\
	X(10, count,       U32,   0)					\
	X(11, rule,        STR,   PROTO_NAME_MAX)			\
	X(12, side,        U8,    0)					\
	X(13, ipproto,     U8,    0)					\
	X(14, listen,      STR,   PROTO_ADDR_MAX)			\
	X(15, peer,        STR,   PROTO_NAME_MAX)			\
	X(16, target,      STR,   PROTO_ADDR_MAX)			\
	X(17, expires,     U64,   0)					\
	X(18, tunnel_id,   FIXED, PROTO_TUNNEL_ID_LEN)			\
	X(19, relay,       STR,   PROTO_ADDR_MAX)			\
	X(20, ticket,      BYTES, PROTO_TICKET_MAX)			\
	X(21, advertise,   STRS,  PROTO_ADDR_MAX)			\
	X(22, capacity,    U32,   0)					\
	X(23, tunnels,     U32,   0)					\
	X(24, bytes,       U64,   0)					\
	X(25, relay_name,  STR,   PROTO_NAME_MAX)			\
	X(26, mode,        U16,   0)					\
	X(27, resume,      FIXED, PROTO_TUNNEL_ID_LEN)			\
	X(28, candidates,  STRS,  PROTO_CANDIDATE_MAX)			\
	X(29, direct_off,  U8,    0)					\
	X(30, stun_port,   U16,   0)					\
	X(31, ports,       STR,   PROTO_PORTS_MAX)			\
	X(32, to_range,    STR,   PROTO_RANGE_MAX)			\
	X(33, as_range,    STR,   PROTO_RANGE_MAX)			\
	X(34, spread_ms,   U32,   0)

#define PROTO_SLOT_U8(f, lim)	uint8_t f;
#define PROTO_SLOT_U16(f, lim)	uint16_t f;
#define PROTO_SLOT_U32(f, lim)	uint32_t f;
#define PROTO_SLOT_U64(f, lim)	uint64_t f;
#define PROTO_SLOT_STR(f, lim)	char f[(lim) + 1];
#define PROTO_SLOT_FIXED(f, lim) uint8_t f[lim];
#define PROTO_SLOT_BYTES(f, lim) uint8_t f[lim]; size_t f##_len;
#define PROTO_SLOT_STRS(f, lim)	char f[PROTO_MAX_ADVERTISE][(lim) + 1]; \
				size_t f##_n;
#define PROTO_SLOT_(tag, f, kind, lim)	PROTO_SLOT_##kind(f, lim)

/*
 * One message.  Zero-initialise, set type (and id for requests/replies),
 * fill the fields the type uses, and encode: attributes the type allows are
 * written when required or non-zero/non-empty.  Decoding zeroes the struct
 * first, so an absent optional attribute reads as zero or "".
 */
struct proto_msg {
	uint8_t		type;
	uint32_t	id;		/* request id; replies echo it; 0: none */
	PROTO_ATTRS(PROTO_SLOT_)
};

/* Decodes a header; NP_ESHORT, NP_EVERSION or NP_ETOOBIG. */
struct proto_hdr {
	uint8_t		version;
	uint8_t		type;
	uint16_t	len;
	uint32_t	id;
};

int	proto_hdr_decode(const uint8_t *p, size_t n, struct proto_hdr *out);

/*
 * Decodes one complete frame (header + payload, exactly n bytes).  Returns
 * 0, NP_ESHORT/NP_ETOOBIG/NP_EVERSION from the header, or NP_EPROTO for an
 * unknown type, a truncated or overlong attribute, a repeated one, one this
 * type does not allow, a missing required one, or a string that is not
 * printable ASCII.  On error *why (static text) says which.
 */
int	proto_decode(const uint8_t *p, size_t n, struct proto_msg *out,
	    const char **why);

/* Appends the frame of m to out; NP_EPROTO if m is not encodable. */
int	proto_encode(const struct proto_msg *m, struct buf *out)
	    __attribute__((warn_unused_result));

const char *proto_type_name(unsigned type);
const char *proto_error_text(unsigned code);
/* The code's name, e.g. "NO_RELAY" (a metric's label). */
const char *proto_error_name(unsigned code);

#endif
