/* SPDX-License-Identifier: MIT */
/*
 * The `metrics` endpoint: GET /metrics on an address of the daemon's own
 * (config key metrics), answered from the process's registry
 * (core/metrics.h) by libevent's HTTP server.  Anything but GET /metrics
 * gets 404 or 405; nothing else is served.
 */
#ifndef NETPORT_CORE_METRICS_HTTP_H
#define NETPORT_CORE_METRICS_HTTP_H

#include "core/conf.h"

struct loop;
struct metrics_http;

/*
 * Starts serving on ep.  Returns the server, or NULL with the reason in
 * why (the address cannot be bound, out of memory).
 */
struct metrics_http *metrics_http_start(struct loop *loop,
	    const struct conf_endpoint *ep, char *why, size_t whylen);
void	metrics_http_stop(struct metrics_http *m);

/*
 * For daemons: starts the endpoint when the metrics key is set (logs
 * where, or why not).  Returns 0, or -1 when it is set and cannot start.
 */
int	metrics_http_from_conf(struct loop *loop, const char *metrics,
	    struct metrics_http **out);

#endif
