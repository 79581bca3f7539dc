/* SPDX-License-Identifier: MIT */
/* Bounded datagram queue that drops the oldest; see dgramq.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/dgramq.h"

void
dgramq_init(struct dgramq *q, size_t max_n, size_t max_bytes)
{
	STAILQ_INIT(&q->head);
	q->n = q->bytes = 0;
	q->max_n = max_n;
	q->max_bytes = max_bytes;
	q->dropped = 0;
}

void
dgramq_pop(struct dgramq *q)
{
	struct dgram *d;

	if ((d = STAILQ_FIRST(&q->head)) == NULL)
		return;
	STAILQ_REMOVE_HEAD(&q->head, entry);
	q->n--;
	q->bytes -= d->len;
	free(d);
}

int
dgramq_push(struct dgramq *q, const void *p, size_t len,
    const struct sockaddr *addr, socklen_t addrlen)
{
	struct dgram *d;

	/* One datagram larger than the whole queue can never fit. */
	if (len > q->max_bytes || q->max_n == 0) {
		q->dropped++;
		return 0;
	}
	while (q->n >= q->max_n || q->bytes + len > q->max_bytes) {
		dgramq_pop(q);
		q->dropped++;
	}
	if ((d = malloc(sizeof(*d) + len)) == NULL) {
		q->dropped++;
		return -ENOMEM;
	}
	d->len = len;
	d->addrlen = 0;
	if (addr && addrlen <= sizeof(d->addr)) {
		memcpy(&d->addr, addr, addrlen);
		d->addrlen = addrlen;
	}
	if (len)
		memcpy(d->data, p, len);
	STAILQ_INSERT_TAIL(&q->head, d, entry);
	q->n++;
	q->bytes += len;
	return 0;
}

const struct dgram *
dgramq_peek(const struct dgramq *q)
{
	return STAILQ_FIRST(&q->head);
}

void
dgramq_clear(struct dgramq *q)
{
	while (q->n > 0)
		dgramq_pop(q);
}
