/* SPDX-License-Identifier: MIT */
/*
 * Typed configuration from YAML; see conf.h.  A load is YAML -> ytree ->
 * walk of the tree against the schema, where every key found is converted
 * by the parser of its type, then a check for required keys.  Every problem
 * becomes one message and the walk goes on, so that one run reports all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/ytree.h"

/*
 * A config file is a few hundred bytes; anything near this size is a
 * mistake (a log or a binary given to -c), and the cap bounds what a load
 * may allocate.
 */
#define CONF_FILE_MAX	(1024 * 1024)

/*
 * Room for the "what is wrong" and "what is expected" halves of a message.
 * User text in them is cut to CONF_ECHO_MAX bytes: a message points at a
 * line, it need not repeat it.
 */
#define CONF_TEXT_MAX	1024
#define CONF_ECHO_MAX	48

#define CONF_MS_SECOND	1000LL
#define CONF_MS_MINUTE	(60 * CONF_MS_SECOND)
#define CONF_MS_HOUR	(60 * CONF_MS_MINUTE)
#define CONF_MS_DAY	(24 * CONF_MS_HOUR)

#define CONF_KIB	1024ULL
#define CONF_MIB	(1024 * CONF_KIB)
#define CONF_GIB	(1024 * CONF_MIB)

/* One load: where messages go and which keys the file has set so far. */
struct conf_load {
	const struct conf_schema *schema;
	const char		*name;	/* file name in messages */
	struct conf_errors	*errs;
	void			*out;
	unsigned long		*seen;	/* per key: line set at, or 0 */
	unsigned char		*refused;	/* per key: value refused */
	unsigned long		 nfailed;	/* messages added */
	int			 failed;	/* a message was added */
	int			 oom;
};

/* What a scalar converts to, before it is stored in the struct. */
union conf_value {
	char			*str;		/* owned */
	long long		 i;
	unsigned long long	 u;
	int			 e;
	struct conf_endpoint	 ep;
};

/* A fixed text buffer that cuts what does not fit. */
struct conf_text {
	char	buf[CONF_TEXT_MAX];
	size_t	len;
};

static void	conf_text_printf(struct conf_text *t, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
static void	conf_fail(struct conf_load *ld, unsigned long line,
		    const char *key, const char *expected, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));

static void
conf_text_printf(struct conf_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len >= sizeof(t->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	t->len += (size_t)n;
	if (t->len > sizeof(t->buf) - 1)
		t->len = sizeof(t->buf) - 1;
}

void
conf_errors_free(struct conf_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	errs->msg = NULL;
	errs->n = 0;
}

/*
 * Appends msg to errs; consumes msg.  Messages quote keys and values from
 * the file and end up on a terminal: no control character of theirs may
 * reach it.
 */
static int
conf_errors_push(struct conf_errors *errs, char *msg)
{
	char **v;
	size_t i;
	int r = -ENOMEM;

	if (msg == NULL)
		goto out;
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	if ((v = reallocarray(errs->msg, errs->n + 1, sizeof(*v))) == NULL)
		goto out;
	errs->msg = v;
	errs->msg[errs->n++] = msg;
	msg = NULL;
	r = 0;
out:
	free(msg);
	return r;
}

int
conf_errorf(struct conf_errors *errs, const char *name, unsigned long line,
    const char *fmt, ...)
{
	char *text = NULL, *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	/* Line 0: about the whole file (it cannot be read, say). */
	if (text != NULL && (line ?
	    asprintf(&msg, "%s:%lu: %s", name, line, text) :
	    asprintf(&msg, "%s: %s", name, text)) < 0)
		msg = NULL;
	r = conf_errors_push(errs, msg);
	free(text);
	return r;
}

/* Copies at most CONF_ECHO_MAX bytes of s, never cutting a UTF-8 sequence. */
static void
conf_echo(const char *s, char *out, size_t size)
{
	size_t len = strlen(s), cut = len;

	if (cut > CONF_ECHO_MAX) {
		cut = CONF_ECHO_MAX;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	snprintf(out, size, "%.*s%s", (int)cut, s, cut < len ? "..." : "");
}

/*
 * Adds "KEY: what; expected EXPECTED".  A key of the file (unlike one of
 * the schema) may be anything, so it is cut like a value.
 */
static void
conf_fail(struct conf_load *ld, unsigned long line, const char *key,
    const char *expected, const char *fmt, ...)
{
	char what[CONF_TEXT_MAX], name[CONF_ECHO_MAX + 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (key[0] == '\0')
		snprintf(name, sizeof(name), "''");
	else
		conf_echo(key, name, sizeof(name));
	ld->failed = 1;
	ld->nfailed++;
	if (conf_errorf(ld->errs, ld->name, line, "%s: %s; expected %s", name,
	    what, expected) != 0)
		ld->oom = 1;
}

static void *
conf_field(void *out, const struct conf_key *k)
{
	return (char *)out + k->offset;
}

static size_t
conf_key_find(const struct conf_schema *schema, const char *name)
{
	size_t i;

	for (i = 0; i < schema->nkeys; i++)
		if (strcmp(schema->keys[i].name, name) == 0)
			return i;
	return SIZE_MAX;
}

/* Whether name is a proper prefix ("tls" of "tls.cert") of some key. */
static int
conf_is_prefix(const struct conf_schema *schema, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < schema->nkeys; i++)
		if (strncmp(schema->keys[i].name, name, len) == 0 &&
		    schema->keys[i].name[len] == '.')
			return 1;
	return 0;
}

/*
 * Lists the names one level below prefix ("" for the top level), in schema
 * order and each once: "tls.ca, tls.cert" below "tls", "tls, log, listen"
 * at the top.
 */
static void
conf_children(const struct conf_schema *schema, const char *prefix,
    struct conf_text *t)
{
	size_t i, j, plen = strlen(prefix), start, len;
	const char *name, *dot;
	int dup, first = 1;

	start = plen > 0 ? plen + 1 : 0;
	for (i = 0; i < schema->nkeys; i++) {
		name = schema->keys[i].name;
		if (plen > 0 && (strncmp(name, prefix, plen) != 0 ||
		    name[plen] != '.'))
			continue;
		dot = strchr(name + start, '.');
		len = dot ? (size_t)(dot - name) : strlen(name);
		for (dup = 0, j = 0; j < i && !dup; j++)
			dup = strncmp(schema->keys[j].name, name, len) == 0 &&
			    (schema->keys[j].name[len] == '.' ||
			    schema->keys[j].name[len] == '\0');
		if (dup)
			continue;
		conf_text_printf(t, "%s%.*s", first ? "" : ", ", (int)len,
		    name);
		first = 0;
	}
}

/* The longest proper prefix of name that is a level of the schema. */
static void
conf_known_level(const struct conf_schema *schema, const char *name,
    char *out, size_t size)
{
	char *dot;

	snprintf(out, size, "%s", name);
	while ((dot = strrchr(out, '.')) != NULL) {
		*dot = '\0';
		if (conf_is_prefix(schema, out))
			return;
	}
	out[0] = '\0';
}

static void
conf_format_ms(long long ms, char *out, size_t size)
{
	if (ms != 0 && ms % CONF_MS_DAY == 0)
		snprintf(out, size, "%lldd", ms / CONF_MS_DAY);
	else if (ms != 0 && ms % CONF_MS_HOUR == 0)
		snprintf(out, size, "%lldh", ms / CONF_MS_HOUR);
	else if (ms != 0 && ms % CONF_MS_MINUTE == 0)
		snprintf(out, size, "%lldm", ms / CONF_MS_MINUTE);
	else if (ms % CONF_MS_SECOND == 0)
		snprintf(out, size, "%llds", ms / CONF_MS_SECOND);
	else
		snprintf(out, size, "%lldms", ms);
}

static void
conf_format_size(unsigned long long v, char *out, size_t size)
{
	if (v != 0 && v % CONF_GIB == 0)
		snprintf(out, size, "%lluGiB", v / CONF_GIB);
	else if (v != 0 && v % CONF_MIB == 0)
		snprintf(out, size, "%lluMiB", v / CONF_MIB);
	else if (v != 0 && v % CONF_KIB == 0)
		snprintf(out, size, "%lluKiB", v / CONF_KIB);
	else
		snprintf(out, size, "%llu", v);
}

static int
conf_has_bounds(const struct conf_key *k)
{
	return k->min != 0 || k->max != 0;
}

static void
conf_port_bounds(const struct conf_key *k, long long *min, long long *max)
{
	*min = conf_has_bounds(k) ? k->min : 0;
	*max = conf_has_bounds(k) ? k->max : 65535;
}

/* The range or choices of a key, as shown in messages and in the docs. */
static void
conf_range(const struct conf_key *k, struct conf_text *t)
{
	char lo[32], hi[32];
	long long min, max;
	const char *c;

	switch (k->type) {
	case CONF_INT:
		if (conf_has_bounds(k))
			conf_text_printf(t, "%lld..%lld", k->min, k->max);
		break;
	case CONF_DURATION:
		if (conf_has_bounds(k)) {
			conf_format_ms(k->min, lo, sizeof(lo));
			conf_format_ms(k->max, hi, sizeof(hi));
			conf_text_printf(t, "%s..%s", lo, hi);
		}
		break;
	case CONF_SIZE:
		if (conf_has_bounds(k)) {
			conf_format_size((unsigned long long)k->min, lo,
			    sizeof(lo));
			conf_format_size((unsigned long long)k->max, hi,
			    sizeof(hi));
			conf_text_printf(t, "%s..%s", lo, hi);
		}
		break;
	case CONF_ENDPOINT:
		conf_port_bounds(k, &min, &max);
		conf_text_printf(t, "port %lld..%lld", min, max);
		break;
	case CONF_ENUM:
		for (c = k->choices; *c != '\0'; c++)
			conf_text_printf(t, *c == '|' ? ", " : "%c", *c);
		break;
	case CONF_STRLIST:
		if (k->min > 0 && k->max > 0)
			conf_text_printf(t, "%lld..%lld entries", k->min,
			    k->max);
		else if (k->max > 0)
			conf_text_printf(t, "at most %lld entries", k->max);
		else if (k->min > 0)
			conf_text_printf(t, "at least %lld entries", k->min);
		break;
	default:
		break;
	}
}

/* What a key's value must look like: the "expected" half of a message. */
static void
conf_describe(const struct conf_key *k, struct conf_text *t)
{
	struct conf_text range = { .len = 0 };

	range.buf[0] = '\0';
	conf_range(k, &range);
	switch (k->type) {
	case CONF_STRING:
		conf_text_printf(t, "a non-empty string");
		break;
	case CONF_PATH:
		conf_text_printf(t, "a path");
		break;
	case CONF_INT:
		conf_text_printf(t, "an integer%s%s", range.len ? " " : "",
		    range.buf);
		break;
	case CONF_BOOL:
		conf_text_printf(t, "one of true, false, yes, no, on, off");
		break;
	case CONF_DURATION:
		conf_text_printf(t, "a duration%s%s (units ms, s, m, h, d)",
		    range.len ? " " : "", range.buf);
		break;
	case CONF_SIZE:
		conf_text_printf(t, "a size%s%s (units K, KiB, M, MiB, G, GiB)",
		    range.len ? " " : "", range.buf);
		break;
	case CONF_ENDPOINT:
		conf_text_printf(t, "host:port with %s", range.buf);
		break;
	case CONF_ENUM:
		conf_text_printf(t, "one of %s", range.buf);
		break;
	case CONF_STRLIST:
		if (range.len)
			conf_text_printf(t, "a sequence of non-empty strings, "
			    "%s", range.buf);
		else
			conf_text_printf(t, "a sequence of non-empty strings");
		break;
	}
}

static const char *
conf_kind_name(const struct ytree_node *node)
{
	switch (node->kind) {
	case YTREE_SCALAR:
		return node->scalar[0] == '\0' ? "empty" : "a scalar";
	case YTREE_SEQ:
		return "a sequence";
	case YTREE_MAP:
		break;
	}
	return "a mapping";
}

/*
 * Reads decimal digits into *v.  Returns 0, -1 when s is not all digits
 * (or empty), NP_ETOOBIG when the number does not fit.
 */
static int
conf_parse_digits(const char *s, size_t len, unsigned long long *v)
{
	unsigned long long acc = 0;
	unsigned d;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	for (i = 0; i < len; i++) {
		d = (unsigned)(s[i] - '0');
		if (acc > (ULLONG_MAX - d) / 10)
			return NP_ETOOBIG;
		acc = acc * 10 + d;
	}
	*v = acc;
	return 0;
}

/* The index where digits end. */
static size_t
conf_digits_end(const char *s)
{
	size_t i = 0;

	while (s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

struct conf_unit {
	const char		*suffix;
	unsigned long long	 mul;
};

static const struct conf_unit conf_duration_units[] = {
	{ "", CONF_MS_SECOND },
	{ "ms", 1 },
	{ "s", CONF_MS_SECOND },
	{ "m", CONF_MS_MINUTE },
	{ "h", CONF_MS_HOUR },
	{ "d", CONF_MS_DAY },
	{ NULL, 0 },
};

static const struct conf_unit conf_size_units[] = {
	{ "", 1 },
	{ "K", CONF_KIB },
	{ "KiB", CONF_KIB },
	{ "M", CONF_MIB },
	{ "MiB", CONF_MIB },
	{ "G", CONF_GIB },
	{ "GiB", CONF_GIB },
	{ NULL, 0 },
};

/* "<digits><suffix>" times the suffix's unit; 0, -1 or NP_ETOOBIG. */
static int
conf_parse_unit(const char *s, const struct conf_unit *units,
    unsigned long long *v)
{
	size_t n = conf_digits_end(s);
	unsigned long long num;
	int r;

	if (n == 0)
		return -1;
	for (; units->suffix != NULL; units++)
		if (strcmp(s + n, units->suffix) == 0)
			break;
	if (units->suffix == NULL)
		return -1;
	if ((r = conf_parse_digits(s, n, &num)) != 0)
		return r;
	if (num > ULLONG_MAX / units->mul)
		return NP_ETOOBIG;
	*v = num * units->mul;
	return 0;
}

/* An optionally signed decimal integer; 0, -1 or NP_ETOOBIG. */
static int
conf_parse_ll(const char *s, long long *v)
{
	unsigned long long u;
	int neg = 0, r;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if ((r = conf_parse_digits(s, strlen(s), &u)) != 0)
		return r;
	if (neg) {
		if (u > (unsigned long long)LLONG_MAX + 1)
			return NP_ETOOBIG;
		*v = u == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN :
		    -(long long)u;
	} else {
		if (u > (unsigned long long)LLONG_MAX)
			return NP_ETOOBIG;
		*v = (long long)u;
	}
	return 0;
}

/* Characters of a host name or IPv4 address, and of a bracketed IPv6. */
static int
conf_host_ok(const char *host, size_t len, int v6)
{
	size_t i;
	char c;

	if (v6 && memchr(host, ':', len) == NULL)
		return 0;
	for (i = 0; i < len; i++) {
		c = host[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_')
			continue;
		/* ':' for the address, '%' before a zone ("fe80::1%eth0"). */
		if (v6 && (c == ':' || c == '%'))
			continue;
		return 0;
	}
	return 1;
}

/*
 * "host:port" or "[v6]:port".  On failure writes what is wrong into why;
 * the messages name the first problem found.
 */
static int
conf_parse_endpoint(const struct conf_key *k, const char *s,
    struct conf_endpoint *ep, char *why, size_t size)
{
	const char *host, *hend, *port, *colon;
	unsigned long long v;
	long long min, max;
	char echo[CONF_ECHO_MAX + 8];
	size_t hlen;
	int v6 = 0;

	conf_echo(s, echo, sizeof(echo));
	if (s[0] == '[') {
		v6 = 1;
		host = s + 1;
		if ((hend = strchr(host, ']')) == NULL) {
			snprintf(why, size, "'%s' has an invalid host", echo);
			return -1;
		}
		if (hend[1] != ':') {
			snprintf(why, size, hend[1] == '\0' ?
			    "'%s' has no port" : "'%s' has an invalid port",
			    echo);
			return -1;
		}
		port = hend + 2;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			/* "listen: 443" is a port without its host. */
			snprintf(why, size, conf_digits_end(s) == strlen(s) ?
			    "'%s' has no host" : "'%s' has no port", echo);
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			snprintf(why, size, "'%s' has an IPv6 address without "
			    "brackets", echo);
			return -1;
		}
		host = s;
		hend = colon;
		port = colon + 1;
	}
	hlen = (size_t)(hend - host);
	if (hlen == 0) {
		snprintf(why, size, "'%s' has no host", echo);
		return -1;
	}
	if (hlen > CONF_HOST_MAX) {
		snprintf(why, size, "host longer than %d bytes",
		    CONF_HOST_MAX);
		return -1;
	}
	if (!conf_host_ok(host, hlen, v6)) {
		snprintf(why, size, "'%s' has an invalid host", echo);
		return -1;
	}
	if (*port == '\0') {
		snprintf(why, size, "'%s' has no port", echo);
		return -1;
	}
	conf_port_bounds(k, &min, &max);
	switch (conf_parse_digits(port, strlen(port), &v)) {
	case 0:
		if (v >= (unsigned long long)min &&
		    v <= (unsigned long long)max && v <= 65535)
			break;
		/* FALLTHROUGH */
	case NP_ETOOBIG:
		conf_echo(port, echo, sizeof(echo));
		snprintf(why, size, "port %s out of range", echo);
		return -1;
	default:
		snprintf(why, size, "'%s' has an invalid port", echo);
		return -1;
	}
	memcpy(ep->host, host, hlen);
	ep->host[hlen] = '\0';
	ep->port = (uint16_t)v;
	ep->is_unix = 0;
	return 0;
}

static int
conf_parse_enum(const char *choices, const char *s, int *v)
{
	size_t len = strlen(s), n;
	const char *c = choices;
	int i;

	for (i = 0;; i++) {
		n = strcspn(c, "|");
		if (n == len && strncmp(c, s, n) == 0) {
			*v = i;
			return 0;
		}
		if (c[n] == '\0')
			return -1;
		c += n + 1;
	}
}

static int
conf_parse_bool(const char *s, int *v)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = 0;
			return 0;
		}
	}
	return -1;
}

/*
 * Converts a non-empty scalar for key k.  Returns 0, -1 with the reason in
 * why, or -ENOMEM.
 */
static int
conf_parse_scalar(const struct conf_key *k, const char *s,
    union conf_value *v, char *why, size_t size)
{
	unsigned long long u;
	long long min, max;
	char echo[CONF_ECHO_MAX + 8];
	int r = 0;

	conf_echo(s, echo, sizeof(echo));
	switch (k->type) {
	case CONF_STRING:
	case CONF_PATH:
		if ((v->str = strdup(s)) == NULL)
			r = -ENOMEM;
		break;
	case CONF_INT:
		min = conf_has_bounds(k) ? k->min : LLONG_MIN;
		max = conf_has_bounds(k) ? k->max : LLONG_MAX;
		if ((r = conf_parse_ll(s, &v->i)) == -1)
			snprintf(why, size, "'%s' is not an integer", echo);
		else if (r != 0 || v->i < min || v->i > max) {
			snprintf(why, size, "%s out of range", echo);
			r = -1;
		}
		break;
	case CONF_DURATION:
		min = conf_has_bounds(k) ? k->min : 0;
		max = conf_has_bounds(k) ? k->max : LLONG_MAX;
		if ((r = conf_parse_unit(s, conf_duration_units, &u)) == -1)
			snprintf(why, size, "'%s' is not a duration", echo);
		else if (r != 0 || u > (unsigned long long)LLONG_MAX ||
		    (long long)u < min || (long long)u > max) {
			snprintf(why, size, "%s out of range", echo);
			r = -1;
		} else
			v->i = (long long)u;
		break;
	case CONF_SIZE:
		if ((r = conf_parse_unit(s, conf_size_units, &u)) == -1)
			snprintf(why, size, "'%s' is not a size", echo);
		else if (r != 0 || (conf_has_bounds(k) &&
		    (u < (unsigned long long)k->min ||
		    u > (unsigned long long)k->max))) {
			snprintf(why, size, "%s out of range", echo);
			r = -1;
		} else
			v->u = u;
		break;
	case CONF_ENDPOINT:
		r = conf_parse_endpoint(k, s, &v->ep, why, size);
		break;
	case CONF_ENUM:
		if ((r = conf_parse_enum(k->choices, s, &v->e)) != 0)
			snprintf(why, size, "unknown value '%s'", echo);
		break;
	case CONF_BOOL:
		if ((r = conf_parse_bool(s, &v->e)) != 0)
			snprintf(why, size, "unknown value '%s'", echo);
		break;
	case CONF_STRLIST:
		r = -1;
		break;
	}
	if (r != 0 && r != -ENOMEM)
		r = -1;
	return r;
}

static void
conf_strlist_free(struct conf_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->lines);
	l->v = NULL;
	l->lines = NULL;
	l->n = 0;
}

/* Stores a sequence into a STRLIST field. */
static void
conf_set_strlist(struct conf_load *ld, const struct conf_key *k,
    const struct ytree_node *seq, unsigned long line, const char *expected)
{
	struct conf_strlist list = { 0, NULL, NULL }, *field;
	const struct ytree_node *item;
	size_t i;
	int bad = 0;

	if ((k->max > 0 && seq->n > (size_t)k->max) ||
	    (k->min > 0 && seq->n < (size_t)k->min)) {
		conf_fail(ld, line, k->name, expected, "%zu entries", seq->n);
		return;
	}
	for (i = 0; i < seq->n; i++) {
		item = seq->items[i];
		if (item->kind != YTREE_SCALAR || item->scalar[0] == '\0') {
			conf_fail(ld, item->line, k->name, expected,
			    "entry %zu is %s", i + 1, conf_kind_name(item));
			bad = 1;
		}
	}
	if (bad)
		goto out;
	/* An empty sequence is an empty list, replacing any default. */
	if (seq->n > 0 &&
	    ((list.v = calloc(seq->n, sizeof(*list.v))) == NULL ||
	    (list.lines = calloc(seq->n, sizeof(*list.lines))) == NULL)) {
		ld->oom = 1;
		goto out;
	}
	for (list.n = 0; list.n < seq->n; list.n++) {
		list.lines[list.n] = seq->items[list.n]->line;
		if ((list.v[list.n] = strdup(seq->items[list.n]->scalar)) ==
		    NULL) {
			ld->oom = 1;
			goto out;
		}
	}
	field = conf_field(ld->out, k);
	conf_strlist_free(field);
	*field = list;
	list.v = NULL;
	list.lines = NULL;
	list.n = 0;
out:
	conf_strlist_free(&list);
}

/*
 * Checks and stores the value of key k.  keyline is that of the key, for
 * problems with the value as a whole; a scalar's own problems point at the
 * scalar.
 */
static void
conf_set_value(struct conf_load *ld, const struct conf_key *k,
    const struct ytree_node *node, unsigned long keyline)
{
	struct conf_text expected = { .len = 0 };
	char why[CONF_TEXT_MAX];
	union conf_value v;
	void *field = conf_field(ld->out, k);
	int r;

	expected.buf[0] = '\0';
	conf_describe(k, &expected);
	if (k->type == CONF_STRLIST) {
		if (node->kind != YTREE_SEQ)
			conf_fail(ld, keyline, k->name, expected.buf, "is %s",
			    conf_kind_name(node));
		else
			conf_set_strlist(ld, k, node, keyline, expected.buf);
		return;
	}
	if (node->kind != YTREE_SCALAR || node->scalar[0] == '\0') {
		conf_fail(ld, keyline, k->name, expected.buf, "is %s",
		    conf_kind_name(node));
		return;
	}
	memset(&v, 0, sizeof(v));
	why[0] = '\0';
	if ((r = conf_parse_scalar(k, node->scalar, &v, why,
	    sizeof(why))) != 0) {
		if (r == -ENOMEM)
			ld->oom = 1;
		else
			conf_fail(ld, node->line, k->name, expected.buf, "%s",
			    why);
		return;
	}
	switch (k->type) {
	case CONF_STRING:
	case CONF_PATH:
		free(*(char **)field);
		*(char **)field = v.str;
		break;
	case CONF_INT:
	case CONF_DURATION:
		*(long long *)field = v.i;
		break;
	case CONF_SIZE:
		*(unsigned long long *)field = v.u;
		break;
	case CONF_BOOL:
	case CONF_ENUM:
		*(int *)field = v.e;
		break;
	case CONF_ENDPOINT:
		*(struct conf_endpoint *)field = v.ep;
		break;
	case CONF_STRLIST:
		break;
	}
}

static char *
conf_join(const char *prefix, const char *key)
{
	char *name;

	if (prefix == NULL)
		return strdup(key);
	if (asprintf(&name, "%s.%s", prefix, key) < 0)
		return NULL;
	return name;
}

/*
 * Walks one mapping of the file.  Nested mappings extend the dotted name;
 * a key may also be written with its dots ("tls.cert: x"), which is why
 * "set twice" is tracked per key and not left to the YAML layer.
 */
static void
conf_walk(struct conf_load *ld, const struct ytree_node *map,
    const char *prefix)
{
	const struct conf_schema *schema = ld->schema;
	const struct ytree_pair *p;
	struct conf_text t = { .len = 0 };
	char level[CONF_TEXT_MAX];
	unsigned long before;
	size_t i, ki;
	char *name;

	for (i = 0; i < map->n && !ld->oom; i++) {
		p = &map->pairs[i];
		if ((name = conf_join(prefix, p->key)) == NULL) {
			ld->oom = 1;
			break;
		}
		t.len = 0;
		t.buf[0] = '\0';
		if ((ki = conf_key_find(schema, name)) != SIZE_MAX) {
			if (ld->seen[ki] != 0) {
				conf_fail(ld, p->line, name, "each key once",
				    "duplicate key, first at line %lu",
				    ld->seen[ki]);
			} else {
				before = ld->nfailed;
				ld->seen[ki] = p->line;
				conf_set_value(ld, &schema->keys[ki], p->value,
				    p->line);
				if (ld->nfailed != before)
					ld->refused[ki] = 1;
			}
		} else if (conf_is_prefix(schema, name)) {
			if (p->value->kind == YTREE_MAP)
				conf_walk(ld, p->value, name);
			else {
				conf_text_printf(&t, "a mapping with keys ");
				conf_children(schema, name, &t);
				conf_fail(ld, p->line, name, t.buf, "is %s",
				    conf_kind_name(p->value));
			}
		} else {
			conf_known_level(schema, name, level, sizeof(level));
			conf_text_printf(&t, "one of ");
			conf_children(schema, level, &t);
			conf_fail(ld, p->line, name, t.buf, "unknown key");
		}
		free(name);
	}
}

/*
 * The line to blame for a missing key: that of the deepest mapping of the
 * file on its path ("tls:" for tls.cert), or 1 for a top-level key.
 */
static unsigned long
conf_missing_line(const struct ytree_node *root, const char *name)
{
	const struct ytree_node *node = root;
	unsigned long line = 1;
	const char *dot;
	size_t i, len;

	while ((dot = strchr(name, '.')) != NULL) {
		len = (size_t)(dot - name);
		for (i = 0; i < node->n; i++)
			if (strlen(node->pairs[i].key) == len &&
			    strncmp(node->pairs[i].key, name, len) == 0)
				break;
		if (i == node->n || node->pairs[i].value->kind != YTREE_MAP)
			break;
		line = node->pairs[i].line;
		node = node->pairs[i].value;
		name = dot + 1;
	}
	return line;
}

static void
conf_check_missing(struct conf_load *ld, const struct ytree_node *root)
{
	struct conf_text t = { .len = 0 };
	const struct conf_key *k;
	size_t i;

	for (i = 0; i < ld->schema->nkeys && !ld->oom; i++) {
		k = &ld->schema->keys[i];
		if (k->def != NULL || ld->seen[i] != 0)
			continue;
		t.len = 0;
		t.buf[0] = '\0';
		conf_describe(k, &t);
		conf_text_printf(&t, " (required)");
		conf_fail(ld, conf_missing_line(root, k->name), k->name,
		    t.buf, "missing");
		ld->refused[i] = 1;
	}
}

/*
 * Runs the schema's own checks, on every load that got as far as the keys:
 * a list entry or a file mode is reported together with the problems of
 * the other keys, not only once those are fixed.
 */
static void
conf_run_check(struct conf_load *ld)
{
	struct conf_check c;
	int r;

	if (ld->schema->check == NULL || ld->oom)
		return;
	c.schema = ld->schema;
	c.name = ld->name;
	c.conf = ld->out;
	c.lines = ld->seen;
	c.refused = ld->refused;
	c.errs = ld->errs;
	r = ld->schema->check(&c);
	if (r == -ENOMEM)
		ld->oom = 1;
	else if (r != 0)
		ld->failed = 1;
}

int
conf_check_usable(const struct conf_check *c, const char *name)
{
	size_t ki = conf_key_find(c->schema, name);

	return ki != SIZE_MAX && !c->refused[ki];
}

const void *
conf_check_field(const struct conf_check *c, const char *name)
{
	size_t ki = conf_key_find(c->schema, name);

	if (ki == SIZE_MAX || c->refused[ki])
		return NULL;
	return (const char *)c->conf + c->schema->keys[ki].offset;
}

unsigned long
conf_check_line(const struct conf_check *c, const char *name)
{
	size_t ki = conf_key_find(c->schema, name);

	return ki != SIZE_MAX ? c->lines[ki] : 0;
}

int
conf_check_fail(const struct conf_check *c, const char *name,
    const char *fmt, ...)
{
	unsigned long line = conf_check_line(c, name);
	char *text = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (text == NULL)
		return -ENOMEM;
	r = conf_errorf(c->errs, c->name, line ? line : 1, "%s: %s", name,
	    text);
	free(text);
	return r != 0 ? r : NP_ECONFIG;
}

/*
 * Sets one default through the same code as a value from a file.  Scalars
 * are taken as they are; a STRLIST default is a YAML flow sequence
 * ("[a, b]"), or "" for an empty list.
 */
static void
conf_default(const struct conf_schema *schema, const struct conf_key *k,
    void *out)
{
	struct conf_errors errs = { 0, NULL };
	struct ytree_node scalar, *tree = NULL;
	struct conf_load ld;

	memset(&ld, 0, sizeof(ld));
	ld.schema = schema;
	ld.name = schema->role;
	ld.errs = &errs;
	ld.out = out;
	memset(&scalar, 0, sizeof(scalar));
	if (k->type == CONF_STRLIST) {
		if (k->def[0] == '\0')
			goto out;
		switch (ytree_parse(schema->role, k->def, strlen(k->def),
		    NULL, &tree, &errs)) {
		case 0:
			conf_set_value(&ld, k, tree, 0);
			break;
		case -ENOMEM:
			ld.oom = 1;
			break;
		default:
			ld.failed = 1;
			break;
		}
	} else {
		scalar.kind = YTREE_SCALAR;
		if ((scalar.scalar = strdup(k->def)) == NULL)
			ld.oom = 1;
		else
			conf_set_value(&ld, k, &scalar, 0);
	}
	if (ld.oom)
		fatal(__func__, "%s: %s: out of memory", schema->role,
		    k->name);
	if (ld.failed)
		fatal(__func__, "broken default: %s",
		    errs.n > 0 ? errs.msg[0] : k->name);
out:
	free(scalar.scalar);
	ytree_free(tree);
	conf_errors_free(&errs);
}

void
conf_defaults(const struct conf_schema *schema, void *out)
{
	const struct conf_key *k;
	size_t i;

	memset(out, 0, schema->size);
	for (i = 0; i < schema->nkeys; i++) {
		k = &schema->keys[i];
		/* Required, or optional and unset: the field stays zero. */
		if (k->def == NULL || (k->def[0] == '\0' &&
		    (k->type == CONF_STRING || k->type == CONF_PATH)))
			continue;
		conf_default(schema, k, out);
	}
}

void
conf_free(const struct conf_schema *schema, void *out)
{
	const struct conf_key *k;
	size_t i;

	if (out == NULL)
		return;
	for (i = 0; i < schema->nkeys; i++) {
		k = &schema->keys[i];
		if (k->type == CONF_STRING || k->type == CONF_PATH)
			free(*(char **)conf_field(out, k));
		else if (k->type == CONF_STRLIST)
			conf_strlist_free(conf_field(out, k));
	}
	memset(out, 0, schema->size);
}

int
conf_load_string(const struct conf_schema *schema, const char *name,
    const char *text, size_t len, void *out, struct conf_errors *errs)
{
	struct ytree_node *root = NULL;
	struct conf_text t = { .len = 0 };
	struct conf_load ld;
	int r;

	memset(&ld, 0, sizeof(ld));
	conf_defaults(schema, out);
	if ((r = ytree_parse(name, text, len, NULL, &root, errs)) != 0)
		goto out;
	if (root->kind != YTREE_MAP) {
		t.buf[0] = '\0';
		conf_children(schema, "", &t);
		if (conf_errorf(errs, name, root->line, "top level is %s; "
		    "expected a mapping with keys %s", conf_kind_name(root),
		    t.buf) != 0)
			r = -ENOMEM;
		else
			r = NP_ECONFIG;
		goto out;
	}
	ld.schema = schema;
	ld.name = name;
	ld.errs = errs;
	ld.out = out;
	if ((ld.seen = calloc(schema->nkeys + 1, sizeof(*ld.seen))) == NULL ||
	    (ld.refused = calloc(schema->nkeys + 1,
	    sizeof(*ld.refused))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	conf_walk(&ld, root, NULL);
	conf_check_missing(&ld, root);
	conf_run_check(&ld);
	if (ld.oom)
		r = -ENOMEM;
	else if (ld.failed)
		r = NP_ECONFIG;
	else if (schema->lines_offset)
		memcpy((char *)out + schema->lines_offset, ld.seen,
		    schema->nkeys * sizeof(*ld.seen));
out:
	if (r != 0)
		conf_free(schema, out);
	free(ld.seen);
	free(ld.refused);
	ytree_free(root);
	return r;
}

/* Reads at most CONF_FILE_MAX bytes; NP_ETOOBIG when there are more. */
static int
conf_read_file(const char *path, char **text, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	ssize_t got;
	int fd, r = 0;

	*text = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	/* One byte more than the cap tells "too big" from "exactly full". */
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (n < CONF_FILE_MAX + 1) {
		got = read(fd, buf + n, CONF_FILE_MAX + 1 - n);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			r = -errno;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > CONF_FILE_MAX) {
		r = NP_ETOOBIG;
		goto out;
	}
	*text = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

int
conf_load_file(const struct conf_schema *schema, const char *path, void *out,
    struct conf_errors *errs)
{
	char *text = NULL, *msg = NULL;
	size_t len;
	int r;

	memset(out, 0, schema->size);
	switch ((r = conf_read_file(path, &text, &len))) {
	case 0:
		break;
	case NP_ETOOBIG:
		r = NP_ECONFIG;
		if (conf_errorf(errs, path, 1, "file larger than %d bytes; "
		    "expected a configuration of at most 1 MiB",
		    CONF_FILE_MAX) != 0)
			r = -ENOMEM;
		goto out;
	default:
		/* Not "PATH:LINE": there is no line to point at. */
		if (asprintf(&msg, "%s: cannot read: %s", path,
		    np_strerror(r)) < 0)
			msg = NULL;
		(void)conf_errors_push(errs, msg);
		goto out;
	}
	r = conf_load_string(schema, path, text, len, out, errs);
out:
	free(text);
	return r;
}

/* Writes s into a markdown table cell, where '|' would end the cell. */
static void
conf_md_cell(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputc('\\', fp);
		fputc(*s, fp);
	}
}

static const char *
conf_type_name(enum conf_type type)
{
	switch (type) {
	case CONF_STRING:
		return "string";
	case CONF_PATH:
		return "path";
	case CONF_INT:
		return "integer";
	case CONF_BOOL:
		return "boolean";
	case CONF_DURATION:
		return "duration";
	case CONF_SIZE:
		return "size";
	case CONF_ENDPOINT:
		return "endpoint";
	case CONF_ENUM:
		return "enum";
	case CONF_STRLIST:
		break;
	}
	return "list";
}

void
conf_write_markdown(const struct conf_schema *schema, FILE *fp)
{
	struct conf_text range;
	const struct conf_key *k;
	size_t i;

	fprintf(fp, "| key | type | default | range/choices | description "
	    "|\n|---|---|---|---|---|\n");
	for (i = 0; i < schema->nkeys; i++) {
		k = &schema->keys[i];
		fprintf(fp, "| `%s` | %s | ", k->name, conf_type_name(k->type));
		if (k->def == NULL)
			fprintf(fp, "required");
		else if (k->def[0] == '\0')
			fprintf(fp, k->type == CONF_STRLIST ? "empty" :
			    "unset");
		else {
			fputc('`', fp);
			conf_md_cell(fp, k->def);
			fputc('`', fp);
		}
		fprintf(fp, " | ");
		range.len = 0;
		range.buf[0] = '\0';
		conf_range(k, &range);
		conf_md_cell(fp, range.buf);
		fprintf(fp, " | ");
		conf_md_cell(fp, k->help);
		fprintf(fp, " |\n");
	}
}

/* Text for scdoc: its markup characters escaped. */
static void
conf_scd_text(FILE *fp, const char *s)
{
	for (; *s; s++) {
		if (*s == '*' || *s == '_' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
}

void
conf_write_scdoc(const struct conf_schema *schema, FILE *fp)
{
	struct conf_text range;
	const struct conf_key *k;
	size_t i;

	for (i = 0; i < schema->nkeys; i++) {
		k = &schema->keys[i];
		fputc('*', fp);
		conf_scd_text(fp, k->name);
		fprintf(fp, "* (%s; ", conf_type_name(k->type));
		if (k->def == NULL)
			fprintf(fp, "required");
		else if (k->def[0] == '\0')
			fprintf(fp, k->type == CONF_STRLIST ? "default empty" :
			    "default unset");
		else {
			fprintf(fp, "default ");
			conf_scd_text(fp, k->def);
		}
		range.len = 0;
		range.buf[0] = '\0';
		conf_range(k, &range);
		if (range.buf[0]) {
			fprintf(fp, "; ");
			conf_scd_text(fp, range.buf);
		}
		fprintf(fp, ")\n\t");
		conf_scd_text(fp, k->help);
		fprintf(fp, "\n\n");
	}
}

void
conf_endpoint_format(const struct conf_endpoint *ep, char *out, size_t size)
{
	if (ep->is_unix)
		snprintf(out, size, "unix:%s", ep->host);
	else if (strchr(ep->host, ':') != NULL)
		snprintf(out, size, "[%s]:%u", ep->host, (unsigned)ep->port);
	else
		snprintf(out, size, "%s:%u", ep->host, (unsigned)ep->port);
}

int
conf_endpoint_parse(const char *s, long long minport, long long maxport,
    struct conf_endpoint *ep, char *why, size_t size)
{
	struct conf_key k;

	memset(&k, 0, sizeof(k));
	k.name = "endpoint";
	k.type = CONF_ENDPOINT;
	k.min = minport;
	k.max = maxport;
	return conf_parse_endpoint(&k, s, ep, why, size) == 0 ? 0 : -1;
}

unsigned long
conf_key_line(const struct conf_schema *schema, const void *conf,
    const char *name)
{
	const unsigned long *lines;
	size_t i;

	if (schema->lines_offset == 0)
		return 0;
	lines = (const unsigned long *)(const void *)
	    ((const char *)conf + schema->lines_offset);
	for (i = 0; i < schema->nkeys; i++)
		if (strcmp(schema->keys[i].name, name) == 0)
			return lines[i];
	return 0;
}

int
conf_endpoint_parse_any(const char *s, long long minport, long long maxport,
    struct conf_endpoint *ep, char *why, size_t size)
{
	const char *path;
	size_t len;

	if (strncmp(s, "unix:", 5) != 0) {
		if (conf_endpoint_parse(s, minport, maxport, ep, why, size) != 0)
			return -1;
		ep->is_unix = 0;
		return 0;
	}
	path = s + 5;
	len = strlen(path);
	if (path[0] == '@' || path[0] == '\0') {
		snprintf(why, size, "abstract Unix socket names are not "
		    "supported");
		return -1;
	}
	if (path[0] != '/') {
		snprintf(why, size, "Unix socket path '%.64s' is not absolute",
		    path);
		return -1;
	}
	if (len > CONF_UNIX_PATH_MAX) {
		snprintf(why, size, "Unix socket path longer than %d bytes",
		    CONF_UNIX_PATH_MAX);
		return -1;
	}
	memset(ep, 0, sizeof(*ep));
	memcpy(ep->host, path, len + 1);
	ep->is_unix = 1;
	return 0;
}
