/* SPDX-License-Identifier: MIT */
/*
 * Rate limits per source for a datagram service that answers strangers
 * (the STUN responder): a token bucket per source (net_addr_source(): an
 * IPv4 address, or an IPv6 /64; the port aside, which a sender picks
 * freely), and one for all sources together.  A source may send a burst
 * of twice its rate, then its rate; all together may send their rate
 * each second.
 *
 * The per-source buckets live in a fixed table of SRCLIMIT_SLOTS, chosen
 * by a keyed hash of the source, so that memory stays the same whatever
 * a flood from many addresses does.  Two sources that land in one slot
 * share its bucket: with a random key nobody can aim at another's slot,
 * and the total bucket bounds the rest.
 *
 * On one loop's thread.
 */
#ifndef NETPORT_CORE_SRCLIMIT_H
#define NETPORT_CORE_SRCLIMIT_H

#include <stdint.h>
#include <sys/socket.h>

#define SRCLIMIT_SLOTS		4096

struct srclimit;

/*
 * per_source and total in events per second (at least 1); key seeds the
 * slot hash (a random one, but for tests).  NULL when out of memory.
 */
struct srclimit *srclimit_new(uint32_t per_source, uint32_t total,
	    uint64_t key);
/*
 * 1 when one more event from sa may pass at now_ms (a monotonic clock),
 * and takes its token; 0 when its source or all sources are over.
 */
int	srclimit_take(struct srclimit *l, const struct sockaddr *sa,
	    uint64_t now_ms);
/* NULL-safe. */
void	srclimit_free(struct srclimit *l);

#endif
