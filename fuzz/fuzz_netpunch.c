/* SPDX-License-Identifier: MIT */
/*
 * netpunch datagrams as `netport punch` receives them from anyone on the
 * network: the first byte picks the secret's length (so that the fuzzer
 * also reaches valid signatures of short secrets), the rest is the
 * datagram.  A datagram either opens (its payload lies inside it, and
 * sealing that payload again gives the same bytes) or is refused; its
 * payload parses as a peer's message, a slot, or is refused; nothing
 * crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/netpunch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t secret[] = "TheSecretWord";
	uint8_t again[NETPUNCH_DGRAM_MAX];
	enum netpunch_scheme scheme;
	struct netpunch_msg m;
	const uint8_t *p;
	const char *why;
	size_t n, slen, len;

	if (size < 1)
		return 0;
	slen = data[0] % sizeof(secret);
	data++;
	size--;
	if (netpunch_open(data, size, secret, slen, &scheme, &p, &n,
	    &why) == 0) {
		if (p < data || p + n != data + size || n == 0)
			abort();	/* the payload is not the datagram's tail */
		if (netpunch_seal(scheme, secret, slen, p, n, again,
		    sizeof(again), &len) != 0 || len != size ||
		    memcmp(again, data, len) != 0)
			abort();	/* does not seal back to the same bytes */
		(void)netpunch_parse_peer(p, n, &m, &why);
		(void)netpunch_parse_slot(p, n);
	}
	(void)netpunch_parse_peer(data, size, &m, &why);
	if (netpunch_parse_peer(data, size, &m, &why) == 0 &&
	    m.kind == NETPUNCH_PEER_INFO && strlen(m.addr) == 0)
		abort();	/* peer info without an address */
	return 0;
}
