/* SPDX-License-Identifier: MIT */
/*
 * Metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * One registry per process (each process runs one role): families of
 * counters, gauges and histograms, each with a fixed list of label names.
 * A series is made on the first use of its label values, up to
 * METRICS_MAX_SERIES per family; values past that count under "other" in
 * every label, so that what peers send (reasons, names) can never grow
 * the registry without bound.  Nothing is keyed by connection.
 *
 * Counters are bumped where the event happens; gauges that describe the
 * state of the moment (tunnels by state) are refilled just before each
 * scrape by the hooks given to metrics_on_scrape().  Pure code but for
 * the registry's one global (metrics.c); served by metrics_http.c.
 */
#ifndef NETPORT_CORE_METRICS_H
#define NETPORT_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define METRICS_MAX_SERIES	256
#define METRICS_MAX_LABELS	3
#define METRICS_MAX_BUCKETS	16

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

struct metric_family;

/*
 * A family of the process's registry (made on first call; the same name
 * again returns the same family).  labels: comma-separated names, or NULL.
 * buckets: a histogram's upper bounds, ascending (at most
 * METRICS_MAX_BUCKETS; +Inf is implied).  NULL when out of memory: the
 * update functions take NULL and do nothing.
 */
struct metric_family *metrics_family(enum metric_type type, const char *name,
	    const char *help, const char *labels, const double *buckets,
	    size_t nbuckets);

/* values: one per label name (NULL: ""); none for a family without. */
void	metric_add(struct metric_family *f, const char *const *values,
	    double by);
void	metric_set(struct metric_family *f, const char *const *values,
	    double v);
void	metric_observe(struct metric_family *f, const char *const *values,
	    double v);
/* Gauges refilled at each scrape: every series back to 0. */
void	metric_zero(struct metric_family *f);

/* Shorthands for families of none, one and two labels. */
#define metric_inc0(f)		metric_add((f), NULL, 1)
#define metric_inc1(f, a)	metric_add((f), (const char *[]){ (a) }, 1)
#define metric_inc2(f, a, b)	metric_add((f), (const char *[]){ (a), (b) }, 1)

/* A hook run before each scrape, to set gauges from the live state. */
typedef void metrics_scrape_fn(void *arg);
int	metrics_on_scrape(metrics_scrape_fn *fn, void *arg);

/* Runs the hooks, then appends every family in the text format. */
int	metrics_render(struct buf *out) __attribute__((warn_unused_result));

/* Drops the registry (tests, and the end of main). */
void	metrics_reset(void);

/* Buckets of round-trip-time histograms, in seconds: 0.5 ms .. 10 s. */
extern const double metrics_rtt_buckets[];
extern const size_t metrics_rtt_nbuckets;

#endif
