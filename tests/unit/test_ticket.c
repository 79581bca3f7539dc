/* SPDX-License-Identifier: MIT */
/* Relay tickets: sign and verify, forgery, expiry, wrong key, bad bytes. */
#include "core/err.h"
#include "core/ticket.h"
#include "t.h"

static void
t_ticket(struct ticket *t)
{
	memset(t, 0, sizeof(*t));
	memset(t->tunnel_id, 0x11, sizeof(t->tunnel_id));
	t->issued = 1000;
	t->expires = 1030;
	strcpy(t->relay, "relay-1");
	strcpy(t->initiator, "laptop");
	strcpy(t->acceptor, "cam-17");
}

T_CASE(sign_and_verify)
{
	struct ticket_key key, pub;
	struct ticket t, v;
	struct buf b;

	T_EQ_INT(ticket_key_generate(&key), 0);
	T_EQ_INT(ticket_key_from_public(&pub, key.pub), 0);
	T_ASSERT(memcmp(key.id, pub.id, sizeof(key.id)) == 0);
	t_ticket(&t);
	buf_init(&b, TICKET_MAX_LEN);
	T_EQ_INT(ticket_sign(&t, &key, &b), 0);
	T_ASSERT(buf_len(&b) <= TICKET_MAX_LEN);
	T_EQ_INT(ticket_verify(buf_data(&b), buf_len(&b), &pub, 1010, &v), 0);
	T_EQ_STR(v.relay, "relay-1");
	T_EQ_STR(v.initiator, "laptop");
	T_EQ_STR(v.acceptor, "cam-17");
	T_ASSERT(v.expires == 1030);
	T_ASSERT(memcmp(v.tunnel_id, t.tunnel_id, 16) == 0);
	/* A verifying key cannot sign. */
	T_EQ_INT(ticket_sign(&t, &pub, &b), NP_ECRYPTO);
	buf_release(&b);
	ticket_key_free(&key);
	ticket_key_free(&pub);
}

T_CASE(expiry_window)
{
	struct ticket_key key;
	struct ticket t, v;
	struct buf b;

	T_EQ_INT(ticket_key_generate(&key), 0);
	t_ticket(&t);
	buf_init(&b, TICKET_MAX_LEN);
	T_EQ_INT(ticket_sign(&t, &key, &b), 0);
	T_EQ_INT(ticket_verify(buf_data(&b), buf_len(&b), &key, 1030, &v),
	    NP_EEXPIRED);
	T_EQ_INT(ticket_verify(buf_data(&b), buf_len(&b), &key, 1029, &v), 0);
	/* Clock skew: a little in the future is fine, far is not. */
	T_EQ_INT(ticket_verify(buf_data(&b), buf_len(&b), &key, 950, &v), 0);
	T_EQ_INT(ticket_verify(buf_data(&b), buf_len(&b), &key, 900, &v),
	    NP_EEXPIRED);
	buf_release(&b);
	ticket_key_free(&key);
}

T_CASE(forgery_is_refused)
{
	struct ticket_key key, other;
	struct ticket t, v;
	struct buf b, b2;
	uint8_t copy[TICKET_MAX_LEN];
	size_t n, i;

	T_EQ_INT(ticket_key_generate(&key), 0);
	T_EQ_INT(ticket_key_generate(&other), 0);
	t_ticket(&t);
	buf_init(&b, TICKET_MAX_LEN);
	T_EQ_INT(ticket_sign(&t, &key, &b), 0);
	n = buf_len(&b);
	/* Flipping any single bit breaks the ticket. */
	for (i = 0; i < n; i++) {
		memcpy(copy, buf_data(&b), n);
		copy[i] ^= 0x01;
		T_ASSERT(ticket_verify(copy, n, &key, 1010, &v) != 0);
	}
	/* Signed by another key: refused even with that key id faked. */
	buf_init(&b2, TICKET_MAX_LEN);
	T_EQ_INT(ticket_sign(&t, &other, &b2), 0);
	T_EQ_INT(ticket_verify(buf_data(&b2), buf_len(&b2), &key, 1010, &v),
	    NP_ESIGNATURE);
	memcpy(copy, buf_data(&b2), buf_len(&b2));
	memcpy(copy + 1, key.id, TICKET_KEY_ID_LEN);
	T_EQ_INT(ticket_verify(copy, buf_len(&b2), &key, 1010, &v),
	    NP_ESIGNATURE);
	buf_release(&b);
	buf_release(&b2);
	ticket_key_free(&key);
	ticket_key_free(&other);
}

T_CASE(decode_rejects_garbage)
{
	uint8_t junk[TICKET_MAX_LEN + 1];
	struct ticket v;

	memset(junk, 0, sizeof(junk));
	T_EQ_INT(ticket_decode(junk, 10, &v), NP_EPROTO);
	T_EQ_INT(ticket_decode(junk, sizeof(junk), &v), NP_EPROTO);
	junk[0] = TICKET_VERSION;
	T_EQ_INT(ticket_decode(junk, 200, &v), NP_EPROTO);
}

/* Regression: a NUL inside a name must not make a shorter valid name. */
T_CASE(decode_rejects_nul_in_name)
{
	struct ticket_key key;
	struct ticket t, v;
	struct buf b;
	uint8_t copy[TICKET_MAX_LEN];
	size_t n, at;

	T_EQ_INT(ticket_key_generate(&key), 0);
	t_ticket(&t);
	buf_init(&b, TICKET_MAX_LEN);
	T_EQ_INT(ticket_sign(&t, &key, &b), 0);
	n = buf_len(&b);
	memcpy(copy, buf_data(&b), n);
	/* The relay name "relay-1" starts after 1+8+16+8+8 bytes and its
	 * length byte; turn its last character into a NUL. */
	at = 1 + 8 + 16 + 8 + 8 + 1 + 6;
	T_EQ_INT(copy[at], '1');
	copy[at] = '\0';
	T_EQ_INT(ticket_decode(copy, n, &v), NP_EPROTO);
	buf_release(&b);
	ticket_key_free(&key);
}

T_CASE(invalid_names_are_not_signed)
{
	struct ticket_key key;
	struct ticket t;
	struct buf b;

	T_EQ_INT(ticket_key_generate(&key), 0);
	t_ticket(&t);
	strcpy(t.acceptor, "Bad Name");
	buf_init(&b, TICKET_MAX_LEN);
	T_EQ_INT(ticket_sign(&t, &key, &b), NP_ENAME);
	T_EQ_INT(buf_len(&b), 0);
	buf_release(&b);
	ticket_key_free(&key);
}

int
main(void)
{
	T_RUN(sign_and_verify);
	T_RUN(expiry_window);
	T_RUN(forgery_is_refused);
	T_RUN(decode_rejects_garbage);
	T_RUN(decode_rejects_nul_in_name);
	T_RUN(invalid_names_are_not_signed);
	return t_done();
}
