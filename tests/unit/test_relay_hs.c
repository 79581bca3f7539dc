/* SPDX-License-Identifier: MIT */
/*
 * The relay handshake codec: requests round-trip, the incremental reader
 * takes exactly one request, junk is refused from its first bytes, the
 * socket reader leaves what follows a request in the socket, and answers
 * and their texts.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/proto.h"
#include "core/relay_hs.h"
#include "t.h"

static const uint8_t t_ticket[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

T_CASE(round_trip)
{
	uint8_t b[RELAY_HS_MAX];
	struct relay_hs hs;
	const char *why;
	size_t len;

	T_EQ_INT(relay_hs_encode(PROTO_SIDE_SERVICE, t_ticket,
	    sizeof(t_ticket), b, sizeof(b), &len), 0);
	T_EQ_INT(len, RELAY_HS_HDR_LEN + sizeof(t_ticket));
	T_ASSERT(memcmp(b, "NPR\x01\x02\x00\x09", 7) == 0);
	T_EQ_INT(relay_hs_decode(b, len, &hs, &why), 0);
	T_EQ_INT(hs.side, PROTO_SIDE_SERVICE);
	T_EQ_INT(hs.ticket_len, sizeof(t_ticket));
	T_ASSERT(hs.ticket == b + RELAY_HS_HDR_LEN);
	T_ASSERT(memcmp(hs.ticket, t_ticket, sizeof(t_ticket)) == 0);
}

T_CASE(encode_checks_its_arguments)
{
	uint8_t b[RELAY_HS_MAX], big[TICKET_MAX_LEN + 1];
	size_t len = 99;

	memset(big, 7, sizeof(big));
	T_EQ_INT(relay_hs_encode(3, t_ticket, sizeof(t_ticket), b, sizeof(b),
	    &len), -EINVAL);
	T_EQ_INT(len, 0);
	T_EQ_INT(relay_hs_encode(1, t_ticket, 0, b, sizeof(b), &len), -EINVAL);
	T_EQ_INT(relay_hs_encode(1, big, sizeof(big), b, sizeof(b), &len),
	    -EINVAL);
	T_EQ_INT(relay_hs_encode(1, big, TICKET_MAX_LEN, b, sizeof(b), &len), 0);
	T_EQ_INT(len, RELAY_HS_MAX);
	T_EQ_INT(relay_hs_encode(1, t_ticket, sizeof(t_ticket), b, 10, &len),
	    NP_ETOOBIG);
}

/* Fed byte by byte, the reader asks for exactly the rest, never more. */
T_CASE(incremental_reader_takes_exactly_one_request)
{
	uint8_t b[RELAY_HS_MAX + 3];
	const char *why;
	size_t len, n, need;

	T_EQ_INT(relay_hs_encode(1, t_ticket, sizeof(t_ticket), b, sizeof(b),
	    &len), 0);
	for (n = 0; n < len; n++) {
		T_EQ_INT(relay_hs_need(b, n, &need, &why), 0);
		T_EQ_INT(n + need, n < RELAY_HS_HDR_LEN ? RELAY_HS_HDR_LEN :
		    len);
	}
	T_EQ_INT(relay_hs_need(b, len, &need, &why), 0);
	T_EQ_INT(need, 0);
	/* A byte of what follows (TLS) is not the handshake's. */
	b[len] = 0x16;
	T_EQ_INT(relay_hs_need(b, len + 1, &need, &why), NP_EPROTO);
}

T_CASE(junk_is_refused_from_its_first_bytes)
{
	struct relay_hs hs;
	const char *why;
	size_t need;

	T_EQ_INT(relay_hs_need((const uint8_t *)"G", 1, &need, &why),
	    NP_EPROTO);
	T_EQ_STR(why, "bad magic");
	T_EQ_INT(relay_hs_need((const uint8_t *)"NPR\x02", 4, &need, &why),
	    NP_EPROTO);
	T_EQ_STR(why, "unsupported version");
	T_EQ_INT(relay_hs_need((const uint8_t *)"NPR\x01\x00", 5, &need, &why),
	    NP_EPROTO);
	T_EQ_STR(why, "bad side");
	T_EQ_INT(relay_hs_need((const uint8_t *)"NPR\x01\x01\x00\x00", 7, &need,
	    &why), NP_EPROTO);
	T_EQ_STR(why, "ticket length out of range");
	T_EQ_INT(relay_hs_need((const uint8_t *)"NPR\x01\x01\x01\x2a", 7, &need,
	    &why), NP_EPROTO);	/* 298 > TICKET_MAX_LEN */
	T_EQ_INT(relay_hs_decode((const uint8_t *)"NPR\x01\x01\x00\x05zz", 9,
	    &hs, &why), NP_ESHORT);
	T_ASSERT(hs.ticket == NULL);
}

/* A non-blocking socket pair: [0] is read by relay_hs_read. */
static void
t_pair(int sv[2])
{
	T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	T_EQ_INT(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

T_CASE(socket_reader_takes_the_request_and_nothing_behind_it)
{
	uint8_t req[RELAY_HS_MAX + 4], hs[RELAY_HS_MAX], rest[8];
	const char *why = NULL;
	size_t len, n = 0;
	int sv[2];

	t_pair(sv);
	T_EQ_INT(relay_hs_encode(PROTO_SIDE_CLIENT, t_ticket,
	    sizeof(t_ticket), req, RELAY_HS_MAX, &len), 0);
	memcpy(req + len, "TLS!", 4);	/* what follows: never read */
	T_EQ_INT(relay_hs_read(sv[0], hs, &n, &why), 0);	/* nothing yet */
	T_EQ_INT(write(sv[1], req, 5), 5);
	T_EQ_INT(relay_hs_read(sv[0], hs, &n, &why), 0);
	T_EQ_INT(n, 5);
	T_EQ_INT(write(sv[1], req + 5, len - 5 + 4), (ssize_t)(len - 5 + 4));
	while (n < len)
		T_ASSERT(relay_hs_read(sv[0], hs, &n, &why) >= 0);
	T_EQ_INT(relay_hs_read(sv[0], hs, &n, &why), 1);
	T_EQ_INT(n, len);
	T_ASSERT(memcmp(hs, req, len) == 0);
	T_EQ_INT(read(sv[0], rest, sizeof(rest)), 4);
	T_ASSERT(memcmp(rest, "TLS!", 4) == 0);
	close(sv[0]);
	close(sv[1]);

	/* Junk, and a peer that closes half-way. */
	t_pair(sv);
	n = 0;
	T_EQ_INT(write(sv[1], "GET / HTTP/1.1\r\n", 16), 16);
	T_EQ_INT(relay_hs_read(sv[0], hs, &n, &why), -1);
	T_EQ_STR(why, "bad magic");
	close(sv[0]);
	close(sv[1]);
	t_pair(sv);
	n = 0;
	T_EQ_INT(write(sv[1], req, 3), 3);
	close(sv[1]);
	T_EQ_INT(relay_hs_read(sv[0], hs, &n, &why), 0);
	T_EQ_INT(relay_hs_read(sv[0], hs, &n, &why), -1);
	T_EQ_STR(why, "closed during the handshake");
	close(sv[0]);
}

T_CASE(answers)
{
	uint8_t b[RELAY_REPLY_LEN];
	unsigned st = 99;

	relay_hs_encode_reply(b, RELAY_E_CAPACITY);
	T_ASSERT(memcmp(b, "NPR\x07", 4) == 0);
	T_EQ_INT(relay_hs_decode_reply(b, &st), 0);
	T_EQ_INT(st, RELAY_E_CAPACITY);
	T_EQ_STR(relay_status_text(st), "relay at capacity");
	T_EQ_STR(relay_status_text(RELAY_OK), "paired");
	T_EQ_STR(relay_status_text(200), "unknown status");
	T_EQ_INT(relay_hs_decode_reply((const uint8_t *)"HTTP", &st),
	    NP_EPROTO);
}

/* A puncher's request is marked, and told apart from any answer. */
T_CASE(punch_requests)
{
	uint8_t b[RELAY_HS_MAX], r[RELAY_REPLY_LEN];
	struct relay_hs hs;
	const char *why;
	size_t len;

	T_EQ_INT(relay_hs_encode_punch(PROTO_SIDE_CLIENT, t_ticket,
	    sizeof(t_ticket), b, sizeof(b), &len), 0);
	T_EQ_INT(b[3], RELAY_VERSION_PUNCH);
	T_EQ_INT(relay_hs_decode(b, len, &hs, &why), 0);
	T_ASSERT(hs.punch);
	T_EQ_INT(hs.side, PROTO_SIDE_CLIENT);
	T_ASSERT(!relay_hs_is_reply(b));
	relay_hs_encode_reply(r, RELAY_OK);
	T_ASSERT(relay_hs_is_reply(r));
	relay_hs_encode_reply(r, RELAY_E_MALFORMED);	/* 1, like version 1 */
	T_ASSERT(relay_hs_is_reply(r));
	T_ASSERT(!relay_hs_is_reply((const uint8_t *)"HTTP"));
	T_EQ_INT(relay_hs_encode(PROTO_SIDE_CLIENT, t_ticket,
	    sizeof(t_ticket), b, sizeof(b), &len), 0);
	T_EQ_INT(relay_hs_decode(b, len, &hs, &why), 0);
	T_ASSERT(!hs.punch);
}

int
main(void)
{
	T_RUN(round_trip);
	T_RUN(encode_checks_its_arguments);
	T_RUN(incremental_reader_takes_exactly_one_request);
	T_RUN(junk_is_refused_from_its_first_bytes);
	T_RUN(socket_reader_takes_the_request_and_nothing_behind_it);
	T_RUN(answers);
	T_RUN(punch_requests);
	return t_done();
}
