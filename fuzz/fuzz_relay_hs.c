/* SPDX-License-Identifier: MIT */
/*
 * Relay handshake codec: whatever the bytes, the incremental reader and
 * the decoder agree, never read past the input, and a decoded request
 * encodes back to the same bytes; the answer decoder takes any 4 bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/relay_hs.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[RELAY_HS_MAX];
	struct relay_hs hs;
	const char *why;
	size_t need, n, len;
	unsigned status;
	int rc;

	/* Fed one byte at a time, as a slow peer would send it. */
	for (n = 0; n <= size; n++) {
		if (relay_hs_need(data, n, &need, &why) != 0)
			break;
		if (need == 0)
			break;
	}
	rc = relay_hs_decode(data, n <= size ? n : size, &hs, &why);
	if (rc == 0) {
		if (hs.ticket < data || hs.ticket + hs.ticket_len > data + size)
			abort();	/* borrowed pointer outside the input */
		if ((hs.punch ? relay_hs_encode_punch : relay_hs_encode)(
		    hs.side, hs.ticket, hs.ticket_len, again, sizeof(again),
		    &len) != 0 || len != n ||
		    memcmp(again, data, len) != 0)
			abort();	/* does not round-trip */
	}
	if (size >= RELAY_REPLY_LEN) {
		(void)relay_hs_decode_reply(data, &status);
		(void)relay_hs_is_reply(data);
	}
	(void)relay_status_text(size ? data[0] : 0);
	return 0;
}
