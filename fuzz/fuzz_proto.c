/* SPDX-License-Identifier: MIT */
/*
 * Control protocol decoder.  Every input either decodes or fails with a
 * reason; what decodes must encode again to a frame that decodes to the
 * same message (the codec is its own oracle).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg m, again;
	struct proto_hdr h;
	struct buf b;
	const char *why;

	(void)proto_hdr_decode(data, size, &h);
	if (proto_decode(data, size, &m, &why) != 0)
		return 0;
	buf_init(&b, PROTO_HDR_LEN + PROTO_MAX_PAYLOAD);
	if (proto_encode(&m, &b) != 0)
		abort();
	if (proto_decode(buf_data(&b), buf_len(&b), &again, &why) != 0)
		abort();
	if (memcmp(&m, &again, sizeof(m)) != 0)
		abort();
	buf_release(&b);
	return 0;
}
