/* SPDX-License-Identifier: MIT */
/*
 * A STUN responder (core/stun.h) on one UDP socket of a loop: every
 * Binding request is answered with the address and port it came from.
 * Anything else is dropped and counted.  The answer (32 or 44 bytes) is
 * barely larger than the request (20 or more), so the responder cannot
 * serve as much of an amplifier; and answers are rate-limited per source
 * address and in all (core/srclimit.h), so that neither a flood nor a
 * stream of requests with a victim's forged address gets more than that.
 */
#ifndef NETPORT_CORE_STUN_SERVER_H
#define NETPORT_CORE_STUN_SERVER_H

#include <stdint.h>

#include "core/conf.h"

struct loop;
struct stun_server;

struct stun_server_stats {
	uint64_t	answered;
	uint64_t	dropped;	/* not a Binding request */
	uint64_t	limited;	/* over a rate limit: not answered */
};

/*
 * Binds ep ("[::]" takes IPv4 too) and answers on loop, at most
 * per_source answers a second to one source address (a burst of twice
 * that) and total in all.  Returns the responder, or NULL with -errno in
 * *err.
 */
struct stun_server *stun_server_start(struct loop *loop,
	    const struct conf_endpoint *ep, uint32_t per_source,
	    uint32_t total, int *err);
uint16_t stun_server_port(const struct stun_server *s);
void	stun_server_stats(const struct stun_server *s,
	    struct stun_server_stats *out);
/* NULL-safe. */
void	stun_server_free(struct stun_server *s);

#endif
