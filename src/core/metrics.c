/* SPDX-License-Identifier: MIT */
/* The metrics registry and its text format; see metrics.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/metrics.h"

#define METRICS_NAME_MAX	96
#define METRICS_LABELS_MAX	256	/* one series' rendered labels */
#define METRICS_MAX_FAMILIES	128
#define METRICS_MAX_HOOKS	8

struct metric_series {
	char		 labels[METRICS_LABELS_MAX];	/* a="x",b="y" */
	double		 value;				/* counter, gauge */
	double		 sum;				/* histogram */
	uint64_t	 count;
	uint64_t	 buckets[METRICS_MAX_BUCKETS];	/* cumulative at
							 * render time */
};

struct metric_family {
	enum metric_type	 type;
	char			 name[METRICS_NAME_MAX];
	char			 help[160];
	char			 label[METRICS_MAX_LABELS][32];
	size_t			 nlabels;
	double			 bounds[METRICS_MAX_BUCKETS];
	size_t			 nbounds;
	struct metric_series	*series;	/* owned */
	size_t			 nseries, cap;
};

static struct {
	struct metric_family	*families[METRICS_MAX_FAMILIES];
	size_t			 n;
	struct {
		metrics_scrape_fn	*fn;
		void			*arg;
	} hooks[METRICS_MAX_HOOKS];
	size_t			 nhooks;
} metrics;

const double metrics_rtt_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
const size_t metrics_rtt_nbuckets = sizeof(metrics_rtt_buckets) /
    sizeof(metrics_rtt_buckets[0]);

struct metric_family *
metrics_family(enum metric_type type, const char *name, const char *help,
    const char *labels, const double *buckets, size_t nbuckets)
{
	struct metric_family *f;
	const char *s, *comma;
	size_t i, len;

	for (i = 0; i < metrics.n; i++)
		if (strcmp(metrics.families[i]->name, name) == 0)
			return metrics.families[i];
	if (metrics.n >= METRICS_MAX_FAMILIES ||
	    (f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->type = type;
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->help, sizeof(f->help), "%s", help);
	for (s = labels; s && *s && f->nlabels < METRICS_MAX_LABELS;
	    s = comma ? comma + 1 : s + len) {
		comma = strchr(s, ',');
		len = comma ? (size_t)(comma - s) : strlen(s);
		snprintf(f->label[f->nlabels++], sizeof(f->label[0]), "%.*s",
		    (int)len, s);
		if (comma == NULL)
			break;
	}
	if (nbuckets > METRICS_MAX_BUCKETS)
		nbuckets = METRICS_MAX_BUCKETS;
	if (buckets)
		memcpy(f->bounds, buckets, nbuckets * sizeof(*buckets));
	f->nbounds = buckets ? nbuckets : 0;
	metrics.families[metrics.n++] = f;
	return f;
}

/* Appends a label value with \, " and newline escaped. */
static size_t
metrics_escape(char *out, size_t size, size_t used, const char *v)
{
	for (; v && *v && used + 3 < size; v++) {
		if (*v == '\\' || *v == '"') {
			out[used++] = '\\';
			out[used++] = *v;
		} else if (*v == '\n') {
			out[used++] = '\\';
			out[used++] = 'n';
		} else
			out[used++] = *v;
	}
	out[used] = '\0';
	return used;
}

static void
metrics_labels(const struct metric_family *f, const char *const *values,
    char *out, size_t size)
{
	size_t i, used = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < f->nlabels; i++) {
		n = snprintf(out + used, size - used, "%s%s=\"", i ? "," : "",
		    f->label[i]);
		if (n < 0 || (size_t)n >= size - used)
			return;
		used = metrics_escape(out, size - 1, used + (size_t)n,
		    values ? values[i] : NULL);
		if (used + 1 < size) {
			out[used++] = '"';
			out[used] = '\0';
		}
	}
}

/* The series of these values, made when new; "other" past the cap. */
static struct metric_series *
metrics_series(struct metric_family *f, const char *const *values)
{
	static const char *const other[METRICS_MAX_LABELS] = { "other",
	    "other", "other" };
	char key[METRICS_LABELS_MAX];
	struct metric_series *grown;
	size_t i;

	if (f == NULL)
		return NULL;
	metrics_labels(f, values, key, sizeof(key));
	for (i = 0; i < f->nseries; i++)
		if (strcmp(f->series[i].labels, key) == 0)
			return &f->series[i];
	if (f->nseries >= METRICS_MAX_SERIES) {
		metrics_labels(f, other, key, sizeof(key));
		for (i = 0; i < f->nseries; i++)
			if (strcmp(f->series[i].labels, key) == 0)
				return &f->series[i];
		/* The cap leaves room for the "other" series: one more. */
		if (f->nseries > METRICS_MAX_SERIES)
			return NULL;
	}
	if (f->nseries == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4;

		if ((grown = realloc(f->series, cap * sizeof(*grown))) == NULL)
			return NULL;
		f->series = grown;
		f->cap = cap;
	}
	memset(&f->series[f->nseries], 0, sizeof(f->series[0]));
	memcpy(f->series[f->nseries].labels, key, sizeof(key));
	return &f->series[f->nseries++];
}

void
metric_add(struct metric_family *f, const char *const *values, double by)
{
	struct metric_series *s = metrics_series(f, values);

	if (s)
		s->value += by;
}

void
metric_set(struct metric_family *f, const char *const *values, double v)
{
	struct metric_series *s = metrics_series(f, values);

	if (s)
		s->value = v;
}

void
metric_observe(struct metric_family *f, const char *const *values, double v)
{
	struct metric_series *s = metrics_series(f, values);
	size_t i;

	if (s == NULL)
		return;
	s->sum += v;
	s->count++;
	for (i = 0; i < f->nbounds; i++)
		if (v <= f->bounds[i]) {
			s->buckets[i]++;
			break;
		}
}

void
metric_zero(struct metric_family *f)
{
	size_t i;

	for (i = 0; f && i < f->nseries; i++)
		f->series[i].value = 0;
}

int
metrics_on_scrape(metrics_scrape_fn *fn, void *arg)
{
	if (metrics.nhooks >= METRICS_MAX_HOOKS)
		return NP_EFAIL;
	metrics.hooks[metrics.nhooks].fn = fn;
	metrics.hooks[metrics.nhooks++].arg = arg;
	return 0;
}

/* A number as Prometheus reads it: integers without a decimal point. */
static void
metrics_number(double v, char *out, size_t size)
{
	if (isinf(v))
		snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(out, size, "%.0f", v);
	else
		snprintf(out, size, "%.9g", v);
}

static int
metrics_render_histogram(const struct metric_family *f,
    const struct metric_series *s, struct buf *out)
{
	char le[32], sum[32];
	uint64_t cum = 0;
	size_t i;
	int r;

	for (i = 0; i < f->nbounds; i++) {
		cum += s->buckets[i];
		metrics_number(f->bounds[i], le, sizeof(le));
		if ((r = buf_appendf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n",
		    f->name, s->labels, s->labels[0] ? "," : "", le,
		    (unsigned long long)cum)) != 0)
			return r;
	}
	metrics_number(s->sum, sum, sizeof(sum));
	return buf_appendf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n"
	    "%s_sum%s%s%s %s\n%s_count%s%s%s %llu\n",
	    f->name, s->labels, s->labels[0] ? "," : "",
	    (unsigned long long)s->count,
	    f->name, s->labels[0] ? "{" : "", s->labels,
	    s->labels[0] ? "}" : "", sum,
	    f->name, s->labels[0] ? "{" : "", s->labels,
	    s->labels[0] ? "}" : "", (unsigned long long)s->count);
}

int
metrics_render(struct buf *out)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	const struct metric_family *f;
	const struct metric_series *s;
	char num[32];
	size_t i, j;
	int r;

	for (i = 0; i < metrics.nhooks; i++)
		metrics.hooks[i].fn(metrics.hooks[i].arg);
	for (i = 0; i < metrics.n; i++) {
		f = metrics.families[i];
		if ((r = buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n",
		    f->name, f->help, f->name, types[f->type])) != 0)
			return r;
		/* A family without labels has its one series from the start. */
		if (f->nseries == 0 && f->nlabels == 0 &&
		    f->type != METRIC_HISTOGRAM &&
		    (r = buf_appendf(out, "%s 0\n", f->name)) != 0)
			return r;
		for (j = 0; j < f->nseries; j++) {
			s = &f->series[j];
			if (f->type == METRIC_HISTOGRAM) {
				if ((r = metrics_render_histogram(f, s,
				    out)) != 0)
					return r;
				continue;
			}
			metrics_number(s->value, num, sizeof(num));
			if ((r = buf_appendf(out, "%s%s%s%s %s\n", f->name,
			    s->labels[0] ? "{" : "", s->labels,
			    s->labels[0] ? "}" : "", num)) != 0)
				return r;
		}
	}
	return 0;
}

void
metrics_reset(void)
{
	size_t i;

	for (i = 0; i < metrics.n; i++) {
		free(metrics.families[i]->series);
		free(metrics.families[i]);
	}
	memset(&metrics, 0, sizeof(metrics));
}
