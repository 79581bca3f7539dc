/* SPDX-License-Identifier: MIT */
/*
 * A bounded queue of datagrams.  When a datagram does not fit (too many
 * queued, or too many bytes), the oldest ones are dropped to make room and
 * counted: for datagrams, fresh data is worth more than old, and the count
 * tells the operator what was lost.  Each entry may carry an address (the
 * client a reply goes to).
 */
#ifndef NETPORT_CORE_DGRAMQ_H
#define NETPORT_CORE_DGRAMQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/queue.h>

struct dgram {
	STAILQ_ENTRY(dgram)	 entry;
	struct sockaddr_storage	 addr;	/* addrlen 0: none */
	socklen_t		 addrlen;
	size_t			 len;
	uint8_t			 data[];
};

struct dgramq {
	STAILQ_HEAD(, dgram)	 head;
	size_t			 n, bytes;
	size_t			 max_n, max_bytes;
	uint64_t		 dropped;	/* datagrams dropped, ever */
};

void	dgramq_init(struct dgramq *q, size_t max_n, size_t max_bytes);
/*
 * Queues a copy of p (dropping the oldest entries when full).  Returns 0,
 * or -ENOMEM (then this datagram is counted as dropped).
 */
int	dgramq_push(struct dgramq *q, const void *p, size_t len,
	    const struct sockaddr *addr, socklen_t addrlen);
/* The oldest datagram, or NULL; it stays queued until dgramq_pop(). */
const struct dgram *dgramq_peek(const struct dgramq *q);
void	dgramq_pop(struct dgramq *q);
void	dgramq_clear(struct dgramq *q);

#endif
