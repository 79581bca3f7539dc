/* SPDX-License-Identifier: MIT */
/* Datagram queue: order, the count and byte caps, dropping the oldest. */
#include "core/dgramq.h"
#include "t.h"

T_CASE(fifo_order_and_sizes)
{
	struct dgramq q;
	const struct dgram *d;

	dgramq_init(&q, 4, 1000);
	T_EQ_INT(dgramq_push(&q, "a", 1, NULL, 0), 0);
	T_EQ_INT(dgramq_push(&q, "", 0, NULL, 0), 0);	/* empty datagram */
	T_EQ_INT(dgramq_push(&q, "ccc", 3, NULL, 0), 0);
	T_EQ_INT(q.n, 3);
	T_EQ_INT(q.bytes, 4);
	d = dgramq_peek(&q);
	T_EQ_INT(d->len, 1);
	dgramq_pop(&q);
	T_EQ_INT(dgramq_peek(&q)->len, 0);
	dgramq_pop(&q);
	T_ASSERT(memcmp(dgramq_peek(&q)->data, "ccc", 3) == 0);
	dgramq_clear(&q);
	T_ASSERT(dgramq_peek(&q) == NULL);
	T_EQ_INT(q.dropped, 0);
}

T_CASE(drops_oldest_when_full)
{
	struct dgramq q;
	char b[100];
	int i;

	dgramq_init(&q, 3, 250);
	for (i = 0; i < 5; i++) {
		memset(b, 'a' + i, sizeof(b));
		T_EQ_INT(dgramq_push(&q, b, 100, NULL, 0), 0);
	}
	/* Bytes cap: 2 of 100 fit in 250; the three oldest went. */
	T_EQ_INT(q.n, 2);
	T_EQ_INT(q.dropped, 3);
	T_EQ_INT(dgramq_peek(&q)->data[0], 'd');
	/* Larger than the whole queue: dropped, the queue untouched. */
	T_EQ_INT(dgramq_push(&q, b, 300, NULL, 0), 0);
	T_EQ_INT(q.dropped, 4);
	T_EQ_INT(q.n, 2);
	dgramq_clear(&q);
}

T_CASE(keeps_addresses)
{
	struct dgramq q;
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET;
	dgramq_init(&q, 8, 1 << 20);
	T_EQ_INT(dgramq_push(&q, "x", 1, (struct sockaddr *)&ss, 16), 0);
	T_EQ_INT(dgramq_peek(&q)->addrlen, 16);
	T_EQ_INT(dgramq_peek(&q)->addr.ss_family, AF_INET);
	dgramq_clear(&q);
}

int
main(void)
{
	T_RUN(fifo_order_and_sizes);
	T_RUN(drops_oldest_when_full);
	T_RUN(keeps_addresses);
	return t_done();
}
