/* SPDX-License-Identifier: MIT */
/*
 * Direct-path candidates as they come in HELLO and TUNNEL_GRANT: any text
 * either parses into a kind and an endpoint that format back to a string
 * which parses to the same, or is refused; nothing crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/candidate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[PROTO_CANDIDATE_MAX + 1], again[PROTO_CANDIDATE_MAX + 1];
	struct candidate c, d;
	const char *why;

	if (size > PROTO_CANDIDATE_MAX)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (candidate_parse(text, &c, &why) != 0)
		return 0;
	candidate_format(&c, again, sizeof(again));
	if (candidate_parse(again, &d, &why) != 0 || d.kind != c.kind ||
	    d.ep.port != c.ep.port || strcmp(d.ep.host, c.ep.host) != 0)
		abort();	/* does not round-trip */
	return 0;
}
