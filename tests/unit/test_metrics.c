/* SPDX-License-Identifier: MIT */
/*
 * The metrics registry: the text format of counters, gauges and
 * histograms, label escaping, the cap on series per family (the rest
 * count as "other"), scrape hooks, and the same family by name.
 */
#include <string.h>

#include "core/metrics.h"
#include "t.h"

static char tm_text[1 << 16];

static const char *
tm_render(void)
{
	struct buf b;

	buf_init(&b, sizeof(tm_text) - 1);
	T_EQ_INT(metrics_render(&b), 0);
	memcpy(tm_text, buf_data(&b), buf_len(&b));
	tm_text[buf_len(&b)] = '\0';
	buf_release(&b);
	return tm_text;
}

static void
tm_hook(void *arg)
{
	metric_set(metrics_family(METRIC_GAUGE, "t_live", "set at scrape",
	    NULL, NULL, 0), NULL, *(double *)arg);
}

T_CASE(counters_gauges_and_labels)
{
	struct metric_family *c, *g;
	double live = 7;

	c = metrics_family(METRIC_COUNTER, "t_events_total", "events",
	    "kind,why", NULL, 0);
	T_ASSERT(metrics_family(METRIC_COUNTER, "t_events_total", "x", NULL,
	    NULL, 0) == c);
	metric_inc2(c, "a", "say \"hi\"\\\n");
	metric_inc2(c, "a", "say \"hi\"\\\n");
	metric_add(c, (const char *[]){ "b", NULL }, 2.5);
	g = metrics_family(METRIC_GAUGE, "t_level", "level", NULL, NULL, 0);
	metric_set(g, NULL, 3);
	T_EQ_INT(metrics_on_scrape(tm_hook, &live), 0);
	T_EQ_STR(tm_render(),
	    "# HELP t_events_total events\n"
	    "# TYPE t_events_total counter\n"
	    "t_events_total{kind=\"a\",why=\"say \\\"hi\\\"\\\\\\n\"} 2\n"
	    "t_events_total{kind=\"b\",why=\"\"} 2.5\n"
	    "# HELP t_level level\n"
	    "# TYPE t_level gauge\n"
	    "t_level 3\n"
	    "# HELP t_live set at scrape\n"
	    "# TYPE t_live gauge\n"
	    "t_live 7\n");
	metric_zero(g);
	live = 8;
	T_ASSERT(strstr(tm_render(), "t_level 0\n") != NULL);
	T_ASSERT(strstr(tm_text, "t_live 8\n") != NULL);
	metrics_reset();
}

T_CASE(histogram_buckets_are_cumulative)
{
	static const double b[] = { 0.001, 0.01, 0.1 };
	struct metric_family *h;

	h = metrics_family(METRIC_HISTOGRAM, "t_rtt_seconds", "rtt", "path",
	    b, 3);
	metric_observe(h, (const char *[]){ "relay" }, 0.0005);
	metric_observe(h, (const char *[]){ "relay" }, 0.005);
	metric_observe(h, (const char *[]){ "relay" }, 2);
	T_EQ_STR(tm_render(),
	    "# HELP t_rtt_seconds rtt\n"
	    "# TYPE t_rtt_seconds histogram\n"
	    "t_rtt_seconds_bucket{path=\"relay\",le=\"0.001\"} 1\n"
	    "t_rtt_seconds_bucket{path=\"relay\",le=\"0.01\"} 2\n"
	    "t_rtt_seconds_bucket{path=\"relay\",le=\"0.1\"} 2\n"
	    "t_rtt_seconds_bucket{path=\"relay\",le=\"+Inf\"} 3\n"
	    "t_rtt_seconds_sum{path=\"relay\"} 2.0055\n"
	    "t_rtt_seconds_count{path=\"relay\"} 3\n");
	metrics_reset();
}

T_CASE(series_are_capped)
{
	struct metric_family *c;
	char v[16];
	int i;
	const char *p;
	size_t n = 0;

	c = metrics_family(METRIC_COUNTER, "t_many_total", "many", "who",
	    NULL, 0);
	for (i = 0; i < METRICS_MAX_SERIES + 100; i++) {
		snprintf(v, sizeof(v), "w%d", i);
		metric_inc1(c, v);
	}
	tm_render();
	for (p = tm_text; (p = strstr(p, "\nt_many_total{")) != NULL; p++)
		n++;
	T_EQ_INT(n, METRICS_MAX_SERIES + 1);
	T_ASSERT(strstr(tm_text, "t_many_total{who=\"other\"} 100\n") != NULL);
	metrics_reset();
}

int
main(void)
{
	T_RUN(counters_gauges_and_labels);
	T_RUN(histogram_buckets_are_cumulative);
	T_RUN(series_are_capped);
	return t_done();
}
