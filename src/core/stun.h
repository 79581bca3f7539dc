/* SPDX-License-Identifier: MIT */
/*
 * STUN Binding (RFC 5389), the part netport needs: a portal asks the
 * server from a UDP socket, and the server answers with the address and
 * port it saw, the portal's reflexive UDP address (its NAT's mapping).
 * The real wire format, so that any STUN client or server can stand in:
 *
 *	u16 type | u16 length | u32 magic cookie 0x2112A442 | 12 bytes id
 *	attributes: { u16 type | u16 length | value, padded to 4 bytes }
 *
 * Only Binding requests and success responses, with XOR-MAPPED-ADDRESS
 * (or the older MAPPED-ADDRESS when reading).  Other attributes are
 * skipped (MESSAGE-INTEGRITY, FINGERPRINT, SOFTWARE, a CHANGE-REQUEST):
 * nothing here authenticates, the address is a hint that a path's own TLS
 * handshake checks.  Pure code: bytes in, struct or error out.
 */
#ifndef NETPORT_CORE_STUN_H
#define NETPORT_CORE_STUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_HDR_LEN		20
#define STUN_COOKIE		0x2112A442u
#define STUN_ID_LEN		12
#define STUN_BINDING_REQUEST	0x0001
#define STUN_BINDING_SUCCESS	0x0101
/* The largest message read; a binding answer is well under it. */
#define STUN_MAX		548
/* A response with XOR-MAPPED-ADDRESS of an IPv6 address. */
#define STUN_RESPONSE_MAX	(STUN_HDR_LEN + 4 + 20)

struct stun_msg {
	uint16_t		type;
	uint8_t			id[STUN_ID_LEN];
	int			has_mapped;
	struct sockaddr_storage	mapped;	/* AF_INET or AF_INET6, port set */
};

/*
 * Parses one message of exactly n bytes.  Returns 0, or NP_EPROTO with
 * *why (static text): not STUN (bits, cookie, length), a truncated or
 * overlong attribute, a bad address.
 */
int	stun_parse(const uint8_t *p, size_t n, struct stun_msg *out,
	    const char **why);

/* A Binding request with transaction id (20 bytes, no attributes). */
void	stun_encode_request(uint8_t out[STUN_HDR_LEN],
	    const uint8_t id[STUN_ID_LEN]);

/*
 * A Binding success response to request id, telling mapped (AF_INET or
 * AF_INET6; an IPv4-mapped IPv6 address is told as IPv4) as
 * XOR-MAPPED-ADDRESS.  Returns its length, or 0 for another family.
 */
size_t	stun_encode_response(uint8_t out[STUN_RESPONSE_MAX],
	    const uint8_t id[STUN_ID_LEN], const struct sockaddr *mapped);

#endif
