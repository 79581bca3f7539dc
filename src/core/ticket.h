/* SPDX-License-Identifier: MIT */
/*
 * Relay tickets.  The server mints one ticket per tunnel and gives the same
 * bytes to both portals; each presents it to the relay, which pairs the two
 * connections that carry the same tunnel id.  The server signs tickets with
 * an Ed25519 key whose public half it sends to relays over their control
 * session, so a relay can verify a ticket and nobody without the server's
 * private key can make one.
 *
 * Wire form (docs/PROTOCOL.md, "Tickets"):
 *	u8 version | 8 key id | 16 tunnel id | u64 issued | u64 expires |
 *	u8 len + relay name | u8 len + initiator name | u8 len + acceptor name |
 *	64 Ed25519 signature over everything before it
 *
 * Decoding is pure; signing and verifying use OpenSSL.
 */
#ifndef NETPORT_CORE_TICKET_H
#define NETPORT_CORE_TICKET_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/identity.h"

#define TICKET_VERSION		1
#define TICKET_KEY_ID_LEN	8
#define TICKET_TUNNEL_ID_LEN	16
#define TICKET_SIG_LEN		64
#define TICKET_PUB_LEN		32
/* 1 + 8 + 16 + 8 + 8 + 3 * (1 + 63) + 64 */
#define TICKET_MAX_LEN		297

struct ticket {
	uint8_t		key_id[TICKET_KEY_ID_LEN];
	uint8_t		tunnel_id[TICKET_TUNNEL_ID_LEN];
	uint64_t	issued;		/* unix seconds */
	uint64_t	expires;	/* unix seconds */
	char		relay[NP_NAME_MAX + 1];
	char		initiator[NP_NAME_MAX + 1];	/* client-side portal */
	char		acceptor[NP_NAME_MAX + 1];	/* service-side portal */
};

/* A signing key (server) or a verifying key (relay). */
struct ticket_key {
	EVP_PKEY	*pkey;		/* owned */
	uint8_t		 pub[TICKET_PUB_LEN];
	uint8_t		 id[TICKET_KEY_ID_LEN];	/* SHA-256(pub)[0..8] */
	int		 can_sign;
};

/* A fresh random signing key; 0 or NP_ECRYPTO. */
int	ticket_key_generate(struct ticket_key *key)
	    __attribute__((warn_unused_result));
/* A verifying key from a public key; 0 or NP_ECRYPTO. */
int	ticket_key_from_public(struct ticket_key *key,
	    const uint8_t pub[TICKET_PUB_LEN])
	    __attribute__((warn_unused_result));
void	ticket_key_free(struct ticket_key *key);

/*
 * Encodes and signs t with key (t->key_id is set from the key).  Appends
 * the ticket bytes to out.  Returns 0, NP_ENAME for an invalid name,
 * NP_ECRYPTO, or a buf error.
 */
int	ticket_sign(struct ticket *t, const struct ticket_key *key,
	    struct buf *out) __attribute__((warn_unused_result));

/*
 * Parses ticket bytes without checking the signature.  Returns 0 or
 * NP_EPROTO (bad length, version, or name).  Pure.
 */
int	ticket_decode(const uint8_t *p, size_t n, struct ticket *out);

/*
 * Parses and verifies: the key id must match key, the signature must
 * verify, and now (unix seconds) must lie in [issued - skew, expires).
 * Returns 0, NP_EPROTO, NP_ESIGNATURE or NP_EEXPIRED.
 */
int	ticket_verify(const uint8_t *p, size_t n, const struct ticket_key *key,
	    uint64_t now, struct ticket *out);

#endif
