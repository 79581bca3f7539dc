/* SPDX-License-Identifier: MIT */
/*
 * STUN messages as the server's responder and a portal receive them from
 * anyone: a message either parses (and a mapped address it carries, told
 * back in a response to its transaction id, parses to the same address)
 * or is refused; nothing crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "core/stun.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[STUN_RESPONSE_MAX];
	struct stun_msg m, again;
	const struct sockaddr_in6 *in6 = (const void *)&m.mapped;
	const char *why;
	size_t n;
	int family;

	if (stun_parse(data, size, &m, &why) != 0 || !m.has_mapped)
		return 0;
	/* An IPv4-mapped IPv6 address is told back as IPv4. */
	family = m.mapped.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) ? AF_INET :
	    m.mapped.ss_family;
	n = stun_encode_response(out, m.id, (struct sockaddr *)&m.mapped);
	if (n == 0 || stun_parse(out, n, &again, &why) != 0 ||
	    !again.has_mapped || again.type != STUN_BINDING_SUCCESS ||
	    memcmp(again.id, m.id, sizeof(m.id)) != 0 ||
	    again.mapped.ss_family != family)
		abort();	/* an answer that does not parse back */
	return 0;
}
