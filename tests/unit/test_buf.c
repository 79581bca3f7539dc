/* SPDX-License-Identifier: MIT */
/* Byte buffers: growth, the hard cap, big-endian codecs, bounded readers. */
#include <stdint.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/err.h"
#include "t.h"

T_CASE(append_and_consume)
{
	struct buf b;

	buf_init(&b, 1024);
	T_EQ_INT(buf_len(&b), 0);
	T_EQ_INT(buf_append(&b, "hello", 5), 0);
	T_EQ_INT(buf_append(&b, " world", 6), 0);
	T_EQ_INT(buf_len(&b), 11);
	T_ASSERT(memcmp(buf_data(&b), "hello world", 11) == 0);
	buf_consume(&b, 6);
	T_EQ_INT(buf_len(&b), 5);
	T_ASSERT(memcmp(buf_data(&b), "world", 5) == 0);
	buf_consume(&b, 5);
	T_EQ_INT(buf_len(&b), 0);
	buf_release(&b);
	T_ASSERT(buf_data(&b) == NULL);
}

T_CASE(cap_is_hard)
{
	struct buf b;
	uint8_t *p;
	char big[100];

	memset(big, 'x', sizeof(big));
	buf_init(&b, 64);
	T_EQ_INT(buf_append(&b, big, 64), 0);
	T_EQ_INT(buf_append(&b, big, 1), NP_ETOOBIG);
	T_EQ_INT(buf_reserve(&b, 1, &p), NP_ETOOBIG);
	T_ASSERT(p == NULL);
	/* Consuming makes room again, without exceeding the cap. */
	buf_consume(&b, 10);
	T_EQ_INT(buf_append(&b, big, 10), 0);
	T_EQ_INT(buf_len(&b), 64);
	T_EQ_INT(buf_append(&b, big, 1), NP_ETOOBIG);
	/* A size that would overflow len + n is refused too. */
	T_EQ_INT(buf_reserve(&b, SIZE_MAX, &p), NP_ETOOBIG);
	buf_release(&b);
}

T_CASE(reserve_commit_slides)
{
	struct buf b;
	uint8_t *p;

	buf_init(&b, 300);
	T_EQ_INT(buf_tail_room(&b), 0);
	T_EQ_INT(buf_reserve(&b, 256, &p), 0);
	T_EQ_INT(buf_tail_room(&b), 256);
	memset(p, 'a', 256);
	buf_commit(&b, 256);
	buf_consume(&b, 250);
	/* Consumed bytes in front do not count: only a slide frees them. */
	T_EQ_INT(buf_tail_room(&b), 0);
	/* 6 bytes left at offset 250: 200 more must slide, not exceed 300. */
	T_EQ_INT(buf_reserve(&b, 200, &p), 0);
	memset(p, 'b', 200);
	buf_commit(&b, 200);
	T_EQ_INT(buf_len(&b), 206);
	T_EQ_INT(buf_data(&b)[5], 'a');
	T_EQ_INT(buf_data(&b)[6], 'b');
	buf_release_secret(&b);
}

T_CASE(big_endian_roundtrip)
{
	struct buf b;
	struct buf_reader r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	buf_init(&b, 64);
	T_EQ_INT(buf_put_u8(&b, 0xab), 0);
	T_EQ_INT(buf_put_u16(&b, 0x1234), 0);
	T_EQ_INT(buf_put_u32(&b, 0xdeadbeef), 0);
	T_EQ_INT(buf_put_u64(&b, 0x0102030405060708ULL), 0);
	T_EQ_INT(buf_len(&b), 15);
	T_EQ_INT(buf_data(&b)[1], 0x12);
	T_EQ_INT(buf_data(&b)[3], 0xde);
	T_EQ_INT(buf_data(&b)[7], 0x01);

	T_EQ_INT(buf_peek_u16(&b, 1, &u16), 0);
	T_EQ_INT(u16, 0x1234);
	T_EQ_INT(buf_peek_u32(&b, 3, &u32), 0);
	T_EQ_INT(u32, 0xdeadbeef);

	buf_reader_init(&r, buf_data(&b), buf_len(&b));
	T_EQ_INT(buf_get_u8(&r, &u8), 0);
	T_EQ_INT(u8, 0xab);
	T_EQ_INT(buf_get_u16(&r, &u16), 0);
	T_EQ_INT(u16, 0x1234);
	T_EQ_INT(buf_get_u32(&r, &u32), 0);
	T_EQ_INT(u32, 0xdeadbeef);
	T_EQ_INT(buf_get_u64(&r, &u64), 0);
	T_ASSERT(u64 == 0x0102030405060708ULL);
	T_EQ_INT(buf_reader_left(&r), 0);
	buf_release(&b);
}

T_CASE(peek_past_end_is_short)
{
	struct buf b;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;

	buf_init(&b, 16);
	T_EQ_INT(buf_peek_u8(&b, 0, &u8), NP_ESHORT);
	T_EQ_INT(buf_append(&b, "abc", 3), 0);
	T_EQ_INT(buf_peek_u8(&b, 2, &u8), 0);
	T_EQ_INT(buf_peek_u8(&b, 3, &u8), NP_ESHORT);
	T_EQ_INT(buf_peek_u16(&b, 1, &u16), 0);
	T_EQ_INT(buf_peek_u16(&b, 2, &u16), NP_ESHORT);
	T_EQ_INT(buf_peek_u32(&b, 0, &u32), NP_ESHORT);
	/* An offset near SIZE_MAX must not wrap around. */
	T_EQ_INT(buf_peek_u16(&b, SIZE_MAX, &u16), NP_ESHORT);
	buf_release(&b);
}

T_CASE(reader_never_reads_past_end)
{
	const uint8_t in[5] = { 1, 2, 3, 4, 5 };
	struct buf_reader r;
	const uint8_t *ref;
	uint8_t out[8];
	uint32_t u32;
	uint64_t u64;

	buf_reader_init(&r, in, sizeof(in));
	T_EQ_INT(buf_get_u64(&r, &u64), NP_ESHORT);
	T_EQ_INT(buf_reader_left(&r), 5);	/* a failed get does not move */
	T_EQ_INT(buf_get_u32(&r, &u32), 0);
	T_EQ_INT(u32, 0x01020304);
	T_EQ_INT(buf_get_u32(&r, &u32), NP_ESHORT);
	T_EQ_INT(buf_get_bytes(&r, out, 2), NP_ESHORT);
	T_EQ_INT(buf_get_ref(&r, 1, &ref), 0);
	T_EQ_INT(*ref, 5);
	T_EQ_INT(buf_skip(&r, 1), NP_ESHORT);
	T_EQ_INT(buf_get_bytes(&r, out, 0), 0);

	buf_reader_init(&r, NULL, 10);
	T_EQ_INT(buf_reader_left(&r), 0);
}

int
main(void)
{
	T_RUN(append_and_consume);
	T_RUN(cap_is_hard);
	T_RUN(reserve_commit_slides);
	T_RUN(big_endian_roundtrip);
	T_RUN(peek_past_end_is_short);
	T_RUN(reader_never_reads_past_end);
	return t_done();
}
