/* SPDX-License-Identifier: MIT */
/* Tunnel framing: every frame type round trips; bad frames are refused. */
#include <sys/socket.h>

#include "core/err.h"
#include "core/mux.h"
#include "t.h"

static void
t_decode_ok(struct buf *b, struct mux_frame *f)
{
	const char *why;
	int r;

	r = mux_decode(buf_data(b), buf_len(b), f, &why);
	if (r != 0)
		T_FAIL("decode: %s", why);
}

T_CASE(control_frames_roundtrip)
{
	struct mux_frame f;
	struct buf b;

	buf_init(&b, 1 << 20);
	T_EQ_INT(mux_put_open(&b, 7, "cam-ssh", NULL), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.hdr.type, MUX_OPEN);
	T_EQ_INT(f.hdr.stream, 7);
	T_EQ_STR(f.rule, "cam-ssh");
	buf_reset(&b);

	T_EQ_INT(mux_put_window(&b, 9, 65536), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.increment, 65536);
	buf_reset(&b);

	T_EQ_INT(mux_put_reset(&b, 3, MUX_R_REFUSED, "connect 127.0.0.1:22: "
	    "Connection refused"), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.code, MUX_R_REFUSED);
	T_EQ_STR(f.reason, "connect 127.0.0.1:22: Connection refused");
	buf_reset(&b);

	T_EQ_INT(mux_put_ping(&b, MUX_FLAG_ACK, 0x0102030405060708ULL), 0);
	t_decode_ok(&b, &f);
	T_ASSERT(f.ping == 0x0102030405060708ULL);
	T_EQ_INT(f.hdr.flags, MUX_FLAG_ACK);
	buf_reset(&b);

	T_EQ_INT(mux_put_goaway(&b, MUX_R_SHUTDOWN, NULL), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.code, MUX_R_SHUTDOWN);
	T_EQ_STR(f.reason, "");
	buf_reset(&b);

	T_EQ_INT(mux_put_ack(&b, 0x1122334455667788ULL), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.hdr.type, MUX_ACK);
	T_ASSERT(f.seq == 0x1122334455667788ULL);
	T_ASSERT(!mux_is_sequenced(MUX_ACK));
	buf_reset(&b);

	T_EQ_INT(mux_put_resume(&b, 42, 0xa1b2c3d4U), 0);
	T_EQ_INT(buf_len(&b), MUX_RESUME_LEN);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.hdr.type, MUX_RESUME);
	T_ASSERT(f.seq == 42);
	T_ASSERT(f.path_no == 0xa1b2c3d4U);
	T_ASSERT(!mux_is_sequenced(MUX_RESUME));
	T_ASSERT(mux_is_sequenced(MUX_DATA));
	buf_reset(&b);

	/* A RESUME without its path number (the tunnel/2 shape) is refused. */
	{
		uint8_t old[MUX_HDR_LEN + 8] = { MUX_RESUME, 0, 0, 8 };
		const char *why;

		T_EQ_INT(mux_decode(old, sizeof(old), &f, &why), NP_EPROTO);
	}

	T_EQ_INT(mux_put_fin(&b, 5), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.hdr.type, MUX_DATA);
	T_EQ_INT(f.hdr.flags, MUX_FLAG_FIN);
	T_EQ_INT(f.hdr.len, 0);
	buf_release(&b);
	T_EQ_STR(mux_reset_text(MUX_R_FLOW_CONTROL), "flow control violated");
}

T_CASE(bad_frames)
{
	uint8_t f[MUX_HDR_LEN + 16];
	struct mux_frame d;
	struct mux_hdr h;
	const char *why;

	mux_hdr_encode(f, MUX_DATA, 0, 0, 0);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "data on stream 0");
	mux_hdr_encode(f, 9, 0, 0, 1);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "unknown frame type");
	mux_hdr_encode(f, 7, 0, 0, 1);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN, &d, &why), NP_EPROTO);
	mux_hdr_encode(f, MUX_DATA, 0, MUX_MAX_PAYLOAD + 1, 1);
	T_EQ_INT(mux_hdr_decode(f, MUX_HDR_LEN, &h), NP_ETOOBIG);
	mux_hdr_encode(f, MUX_DATA, 0x80, 0, 1);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "unknown flags");
	mux_hdr_encode(f, MUX_WINDOW, 0, 4, 1);
	memset(f + MUX_HDR_LEN, 0, 4);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN + 4, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "bad window update");
	mux_hdr_encode(f, MUX_OPEN, 0, 3, 1);
	memcpy(f + MUX_HDR_LEN, "\x02" "A!", 3);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN + 3, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "open with an invalid rule name");
	mux_hdr_encode(f, MUX_OPEN, 0, 3, 1);
	memcpy(f + MUX_HDR_LEN, "\x05" "ab", 3);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN + 3, &d, &why), NP_EPROTO);
	/* Regression (fuzzing): a NUL inside the name must not shorten it. */
	mux_hdr_encode(f, MUX_OPEN, 0, 4, 1);
	memcpy(f + MUX_HDR_LEN, "\x03" "ab\0", 4);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN + 4, &d, &why), NP_EPROTO);
	mux_hdr_encode(f, MUX_RESET, 0, 3, 1);
	memcpy(f + MUX_HDR_LEN, "\x00\x01\n", 3);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN + 3, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "reason is too long or not printable");
	mux_hdr_encode(f, MUX_ACK, 0, 8, 3);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN + 8, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "bad ack");
	mux_hdr_encode(f, MUX_RESUME, 0, 12, 3);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN + 12, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "bad resume");
	mux_hdr_encode(f, MUX_PING, 0, 8, 3);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN + 8, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "bad ping");
	mux_hdr_encode(f, MUX_DATA, 0, 4, 1);
	T_EQ_INT(mux_decode(f, MUX_HDR_LEN + 2, &d, &why), NP_ESHORT);
	T_EQ_INT(mux_decode(f, 3, &d, &why), NP_ESHORT);
}

T_CASE(datagrams_keep_their_size)
{
	static uint8_t big[MUX_MAX_DGRAM + 1];
	struct mux_frame f;
	struct mux_hdr h;
	struct buf b;
	uint8_t hdr[MUX_HDR_LEN];
	size_t sizes[] = { 0, 1, 1400, 9000, MUX_MAX_DGRAM };
	size_t i;

	buf_init(&b, 1 << 20);
	T_EQ_INT(mux_put_open_dgram(&b, 3, "dns", NULL), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.hdr.flags, MUX_FLAG_DGRAM);
	T_EQ_STR(f.rule, "dns");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		buf_reset(&b);
		memset(big, (int)i + 1, sizes[i]);
		T_EQ_INT(mux_put_dgram(&b, 3, big, sizes[i]), 0);
		t_decode_ok(&b, &f);
		T_EQ_INT(f.hdr.type, MUX_DGRAM);
		T_EQ_INT(f.hdr.len, sizes[i]);
		T_ASSERT(sizes[i] == 0 || f.data[sizes[i] - 1] == i + 1);
	}
	buf_reset(&b);
	T_EQ_INT(mux_put_dgram(&b, 3, big, MUX_MAX_DGRAM + 1), NP_ETOOBIG);
	mux_hdr_encode(hdr, MUX_DGRAM, 0, MUX_MAX_DGRAM + 1, 3);
	T_EQ_INT(mux_hdr_decode(hdr, sizeof(hdr), &h), NP_ETOOBIG);
	/* A DATA frame may not be as large as a datagram. */
	mux_hdr_encode(hdr, MUX_DATA, 0, 20000, 3);
	T_EQ_INT(mux_hdr_decode(hdr, sizeof(hdr), &h), NP_ETOOBIG);
	buf_release(&b);
}

T_CASE(encoders_refuse_bad_input)
{
	struct buf b;

	buf_init(&b, 1024);
	T_EQ_INT(mux_put_open(&b, 1, "Bad Rule", NULL), NP_ENAME);
	/* A reason with a control character is sent without its text. */
	T_EQ_INT(mux_put_reset(&b, 1, MUX_R_PROTOCOL, "a\nb"), 0);
	T_EQ_INT(buf_len(&b), MUX_HDR_LEN + 2);
	buf_release(&b);
}

T_CASE(open_names_a_destination)
{
	struct mux_dest d = { 8080, 0, { 0 } };
	uint8_t raw[64];
	struct mux_frame f;
	struct buf b;
	const char *why;
	size_t n;

	buf_init(&b, 1 << 16);
	T_EQ_INT(mux_put_open(&b, 9, "game", &d), 0);
	t_decode_ok(&b, &f);
	T_EQ_STR(f.rule, "game");
	T_EQ_INT(f.dest.port, 8080);
	T_EQ_INT(f.dest.family, 0);
	buf_reset(&b);

	d.port = 53;
	d.family = AF_INET;
	memcpy(d.addr, "\xc0\xa8\x01\x35", 4);
	T_EQ_INT(mux_put_open_dgram(&b, 11, "lan1", &d), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.hdr.flags, MUX_FLAG_DGRAM);
	T_EQ_INT(f.dest.port, 53);
	T_EQ_INT(f.dest.family, AF_INET);
	T_ASSERT(memcmp(f.dest.addr, "\xc0\xa8\x01\x35", 4) == 0);
	buf_reset(&b);

	d.family = AF_INET6;
	memset(d.addr, 0xfd, 16);
	T_EQ_INT(mux_put_open(&b, 13, "v6", &d), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.dest.family, AF_INET6);
	T_EQ_INT(f.dest.addr[15], 0xfd);
	buf_reset(&b);

	/* Without one, nothing follows the name. */
	T_EQ_INT(mux_put_open(&b, 15, "plain", NULL), 0);
	t_decode_ok(&b, &f);
	T_EQ_INT(f.dest.port, 0);
	buf_reset(&b);

	/* A destination of another length, or port 0, is refused. */
	T_EQ_INT(mux_put_open(&b, 17, "x", &d), 0);
	n = buf_len(&b);
	memcpy(raw, buf_data(&b), n);
	raw[3] = (uint8_t)(raw[3] - 1);		/* 17 bytes of it */
	T_EQ_INT(mux_decode(raw, n - 1, &f, &why), NP_EPROTO);
	T_EQ_STR(why, "open with a bad destination");
	buf_reset(&b);
	d.family = 0;
	T_EQ_INT(mux_put_open(&b, 19, "x", &d), 0);
	n = buf_len(&b);
	memcpy(raw, buf_data(&b), n);
	raw[MUX_HDR_LEN + 2] = 0;
	raw[MUX_HDR_LEN + 3] = 0;
	T_EQ_INT(mux_decode(raw, n, &f, &why), NP_EPROTO);
	buf_release(&b);
}

int
main(void)
{
	T_RUN(control_frames_roundtrip);
	T_RUN(bad_frames);
	T_RUN(datagrams_keep_their_size);
	T_RUN(encoders_refuse_bad_input);
	T_RUN(open_names_a_destination);
	return t_done();
}
