/* SPDX-License-Identifier: MIT */
/*
 * Tunnel frame decoder over a stream of frames, as a portal reads them:
 * headers first, then whole frames.  No input may crash or read out of
 * bounds; a decoded frame re-encodes (control frames) to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mux.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_roundtrip(const uint8_t *p, size_t n, const struct mux_frame *f)
{
	struct buf b;
	int r = 0;

	buf_init(&b, MUX_HDR_LEN + MUX_MAX_DGRAM);
	switch (f->hdr.type) {
	case MUX_OPEN:
		r = (f->hdr.flags & MUX_FLAG_DGRAM) ?
		    mux_put_open_dgram(&b, f->hdr.stream, f->rule, &f->dest) :
		    mux_put_open(&b, f->hdr.stream, f->rule, &f->dest);
		break;
	case MUX_DGRAM:
		r = mux_put_dgram(&b, f->hdr.stream, f->data, f->hdr.len);
		break;
	case MUX_WINDOW:
		r = mux_put_window(&b, f->hdr.stream, f->increment);
		break;
	case MUX_PING:
		r = mux_put_ping(&b, f->hdr.flags, f->ping);
		break;
	case MUX_ACK:
		r = mux_put_ack(&b, f->seq);
		break;
	case MUX_RESUME:
		r = mux_put_resume(&b, f->seq, f->path_no);
		break;
	default:
		buf_release(&b);
		return;
	}
	if (r != 0 || buf_len(&b) != n || memcmp(buf_data(&b), p, n) != 0)
		abort();
	buf_release(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mux_frame f;
	struct mux_hdr h;
	const char *why;
	size_t off = 0, flen;

	while (size - off >= MUX_HDR_LEN) {
		if (mux_hdr_decode(data + off, size - off, &h) != 0)
			return 0;
		flen = MUX_HDR_LEN + (size_t)h.len;
		if (flen > size - off)
			return 0;
		if (mux_decode(data + off, flen, &f, &why) == 0)
			fuzz_check_roundtrip(data + off, flen, &f);
		off += flen;
	}
	return 0;
}
