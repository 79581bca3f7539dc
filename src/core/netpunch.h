/* SPDX-License-Identifier: MIT */
/*
 * netpunch's wire format, for `netport punch` (src/punch/): UDP datagrams
 * "SIGNATURE PAYLOAD", where SIGNATURE is the ascii85 text (Go's
 * encoding/ascii85: no delimiters, an all-zero group of 4 bytes is "z",
 * the text zero-padded to its full length) of
 *
 *	seed:  SHA-224(secret || payload)		35 characters
 *	hmac:  HMAC-SHA256(key secret, payload)		40 characters
 *
 * and PAYLOAD is one of
 *
 *	"a".."z"		a peer's slot, to the control node
 *	"i|SLOT|HOST:PORT"	the control node: where the partner slot is
 *	"x", "y", "z"		peer to peer: ping, pong, close
 *
 * Pure code: bytes in, bytes or an error out.  Signatures are compared in
 * constant time.
 */
#ifndef NETPORT_CORE_NETPUNCH_H
#define NETPORT_CORE_NETPUNCH_H

#include <stddef.h>
#include <stdint.h>

/* netpunch reads at most 1024 bytes of payload. */
#define NETPUNCH_PAYLOAD_MAX	1024
#define NETPUNCH_SIG_MAX	40
#define NETPUNCH_DGRAM_MAX	(NETPUNCH_SIG_MAX + 1 + NETPUNCH_PAYLOAD_MAX)

enum netpunch_scheme {
	NETPUNCH_SEED,		/* SHA-224 of secret and payload */
	NETPUNCH_HMAC,		/* HMAC-SHA256 */
};

/* The length of a scheme's signature text. */
size_t	netpunch_sig_len(enum netpunch_scheme scheme);
const char *netpunch_scheme_name(enum netpunch_scheme scheme);

/*
 * Go's ascii85 encoding of n bytes into out (at least (n + 3) / 4 * 5
 * bytes); returns the number of characters written.
 */
size_t	netpunch_ascii85(const uint8_t *in, size_t n, char *out);

/*
 * Writes "SIGNATURE PAYLOAD" into out (cap bytes), its length in *len.
 * Returns 0, -EINVAL (empty or oversized payload), NP_ETOOBIG (cap), or
 * NP_ETLS (the digest failed).
 */
int	netpunch_seal(enum netpunch_scheme scheme, const uint8_t *secret,
	    size_t secret_len, const uint8_t *payload, size_t payload_len,
	    uint8_t *out, size_t cap, size_t *len);

/*
 * Checks a datagram's signature under either scheme.  Returns 0 with the
 * scheme it was signed with and the payload (pointing into dgram), or
 * NP_EPROTO with *why: too short, or no valid signature.
 */
int	netpunch_open(const uint8_t *dgram, size_t n, const uint8_t *secret,
	    size_t secret_len, enum netpunch_scheme *scheme,
	    const uint8_t **payload, size_t *payload_len, const char **why);

/* A payload a peer receives. */
enum netpunch_kind {
	NETPUNCH_PEER_INFO,	/* "i|SLOT|HOST:PORT" */
	NETPUNCH_PING,		/* "x" */
	NETPUNCH_PONG,		/* "y" */
	NETPUNCH_CLOSE,		/* "z" */
};

struct netpunch_msg {
	enum netpunch_kind	kind;
	char			slot;		/* PEER_INFO */
	char			addr[NETPUNCH_PAYLOAD_MAX]; /* PEER_INFO */
};

/*
 * Parses what a peer receives.  Returns 0, or NP_EPROTO with *why for a
 * payload that is none of the above (netpunch ignores such payloads).
 * Like netpunch, only the first byte counts for x, y and z.
 */
int	netpunch_parse_peer(const uint8_t *p, size_t n,
	    struct netpunch_msg *out, const char **why);

/* What the control node accepts: exactly one letter a..z; else -1. */
int	netpunch_parse_slot(const uint8_t *p, size_t n);

#endif
