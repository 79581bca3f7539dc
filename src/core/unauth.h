/* SPDX-License-Identifier: MIT */
/*
 * The caps on connections that have not authenticated yet (TLS handshake
 * and first message not done): at most max_per_source from one source
 * (net_addr_source()) and max_total in all.  At a cap the oldest
 * connection of that source, or of all, makes room for the new one: a
 * real peer finishes at once, so it is never the oldest for long, and
 * neither a neighbour behind the same NAT nor a flood from many addresses
 * can lock real peers out by holding connections open.
 *
 * A role embeds a struct unauth_conn in its connection object, adds it at
 * accept, and removes it when the connection authenticates or closes.
 *
 * It also gives back to the kernel the heap pages that a burst of such
 * connections left free: glibc keeps freed memory in the middle of its
 * heap for reuse, so after a flood the process would stay at its peak
 * size.  Once UNAUTH_TRIM_AFTER connections have been removed (closed or
 * authenticated) since the last trim, heap_trim() runs
 * UNAUTH_TRIM_DELAY_MS later, after their deferred frees; that bounds its
 * cost (a walk of the heap) to one per second however long a flood goes.
 *
 * On one loop's thread.
 */
#ifndef NETPORT_CORE_UNAUTH_H
#define NETPORT_CORE_UNAUTH_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/queue.h"

#define UNAUTH_TRIM_AFTER	64
#define UNAUTH_TRIM_DELAY_MS	1000

struct loop;
struct unauth;
struct unauth_source;

/* Embedded in the role's connection object. */
struct unauth_conn {
	TAILQ_ENTRY(unauth_conn) by_source;	/* oldest first */
	TAILQ_ENTRY(unauth_conn) by_age;	/* oldest first, all sources */
	struct unauth_source	*source;	/* borrowed; NULL: not in */
};

/* The role's object around c. */
#define unauth_entry(c, type, member)					\
	((type *)(void *)((char *)(c) - offsetof(type, member)))

/* The caps are checked in unauth_victim(); NULL when out of memory. */
struct unauth	*unauth_new(struct loop *loop, size_t max_total,
		    size_t max_per_source);
/* Frees; the connections must all have been removed.  NULL-safe. */
void		 unauth_free(struct unauth *u);

enum unauth_cap {
	UNAUTH_CAP_NONE,
	UNAUTH_CAP_SOURCE,	/* max_per_source */
	UNAUTH_CAP_TOTAL,	/* max_total */
};

/*
 * Which connection must go before one more from sa fits: the oldest of
 * sa's source when that source is at max_per_source, else the oldest of
 * all when the total is at max_total, else NULL; *cap says which cap.
 * The caller closes the victim, which must remove it, and asks again.
 */
struct unauth_conn *unauth_victim(struct unauth *u, const struct sockaddr *sa,
		    enum unauth_cap *cap);

/* Adds c (zeroed or removed before) as the newest from sa; 0 or -ENOMEM. */
int		 unauth_add(struct unauth *u, struct unauth_conn *c,
		    const struct sockaddr *sa)
		    __attribute__((warn_unused_result));
/* Removes c (authenticated or closing); a no-op when it is not in. */
void		 unauth_remove(struct unauth *u, struct unauth_conn *c);

/* The source c counts against, as text; "" when not in. */
const char	*unauth_source_name(const struct unauth_conn *c);
size_t		 unauth_count(const struct unauth *u);
/* Sources with connections now (the table is bounded by max_total). */
size_t		 unauth_sources(const struct unauth *u);

#endif
