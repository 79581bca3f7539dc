/* SPDX-License-Identifier: MIT */
/*
 * The config loader: every type on good input, every kind of bad input with
 * its exact message, defaults, files, the generated docs, and the real
 * schemas of the daemons on a minimal valid config.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/err.h"
#include "core/ytree.h"
#include "portal/portal_conf.h"
#include "relay/relay_conf.h"
#include "server/server_conf.h"
#include "t.h"

/* A schema with every type, bounded and unbounded, flat and nested. */
#define TC_KEYS(X)							\
	X(name, STRING, "name", NULL, 0, 0, NULL, "a required string")	\
	X(motd, STRING, "motd", "", 0, 0, NULL, "an optional string")	\
	X(cert, PATH, "tls.cert", "/etc/cert.pem", 0, 0, NULL, "a path") \
	X(key, PATH, "tls.key", "", 0, 0, NULL, "an optional path")	\
	X(workers, INT, "workers", "4", 1, 64, NULL, "a bounded integer") \
	X(offset, INT, "offset", "-5", 0, 0, NULL, "any integer")	\
	X(verbose, BOOL, "verbose", "no", 0, 0, NULL, "a boolean")	\
	X(timeout, DURATION, "limits.timeout", "30s", 100, 3600000, NULL, \
	    "a bounded duration")					\
	X(linger, DURATION, "limits.linger", "0", 0, 0, NULL,		\
	    "any duration")						\
	X(buffer, SIZE, "limits.buffer", "64K", 1024, 1073741824, NULL,	\
	    "a bounded size")						\
	X(quota, SIZE, "limits.quota", "0", 0, 0, NULL, "any size")	\
	X(listen, ENDPOINT, "listen", "127.0.0.1:8080", 0, 65535, NULL,	\
	    "an endpoint, port 0 allowed")				\
	X(upstream, ENDPOINT, "upstream", "[::1]:443", 1, 65535, NULL,	\
	    "an endpoint, port 0 refused")				\
	X(mode, ENUM, "mode", "fast", 0, 0, "fast|safe|paranoid",	\
	    "an enum")							\
	X(tags, STRLIST, "tags", "", 0, 3, NULL, "at most 3 strings")	\
	X(peers, STRLIST, "peers", "[a, b]", 0, 0, NULL, "any strings")	\
	X(depth, INT, "a.b.c", "1", 0, 10, NULL, "a deeply nested key")

CONF_STRUCT(tc, TC_KEYS);

#define TC_ROW(...)	CONF_ROW_(struct tc, __VA_ARGS__)

static const struct conf_key tc_keys[] = {
	TC_KEYS(TC_ROW)
};

static const struct conf_schema tc_schema = {
	.role = "test",
	.keys = tc_keys,
	.nkeys = sizeof(tc_keys) / sizeof(tc_keys[0]),
	.size = sizeof(struct tc),
};

/* The messages of the last failed load, joined by newlines. */
static char	tc_msgs[16384];

static int
tc_is_zero(const void *p, size_t size)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < size; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/*
 * Loads text that must fail, keeps its messages in tc_msgs and frees
 * everything.  Returns the load's result, or 1 when the struct was not left
 * zeroed as conf.h promises.
 */
static int
tc_fail_len(const struct conf_schema *schema, const char *text, size_t len)
{
	struct conf_errors errs = { 0, NULL };
	_Alignas(max_align_t) char conf[8192];
	size_t i, off = 0;
	int r;

	/* Room for the largest role's struct (a portal's). */
	if (schema->size > sizeof(conf))
		T_FAIL("schema of %zu bytes, room for %zu", schema->size,
		    sizeof(conf));
	r = conf_load_string(schema, "t.yaml", text, len, conf, &errs);
	tc_msgs[0] = '\0';
	for (i = 0; i < errs.n; i++)
		off += (size_t)snprintf(tc_msgs + off, sizeof(tc_msgs) - off,
		    "%s%s", i ? "\n" : "", errs.msg[i]);
	conf_errors_free(&errs);
	if (r == 0)
		conf_free(schema, conf);
	else if (!tc_is_zero(conf, schema->size))
		r = 1;
	return r;
}

static int
tc_fail(const char *text)
{
	return tc_fail_len(&tc_schema, text, strlen(text));
}

/* Loads text that must succeed; the caller frees c. */
static void
tc_load(const char *text, struct tc *c)
{
	struct conf_errors errs = { 0, NULL };
	int r;

	r = conf_load_string(&tc_schema, "t.yaml", text, strlen(text), c,
	    &errs);
	if (r != 0) {
		snprintf(tc_msgs, sizeof(tc_msgs), "%s",
		    errs.n ? errs.msg[0] : "(none)");
		conf_errors_free(&errs);
		T_FAIL("load failed: %s: %s", np_strerror(r), tc_msgs);
	}
	T_EQ_INT(errs.n, 0);
}

#define TC_BAD(text, expect) do {					\
	T_EQ_INT(tc_fail(text), NP_ECONFIG);				\
	T_EQ_STR(tc_msgs, (expect));					\
} while (0)

/* Durations, sizes and endpoints share their "expected" texts. */
#define EXP_TIMEOUT	"expected a duration 100ms..1h " \
			"(units ms, s, m, h, d)"
#define EXP_LINGER	"expected a duration (units ms, s, m, h, d)"
#define EXP_BUFFER	"expected a size 1KiB..1GiB " \
			"(units K, KiB, M, MiB, G, GiB)"
#define EXP_QUOTA	"expected a size (units K, KiB, M, MiB, G, GiB)"
#define EXP_LISTEN	"expected host:port with port 0..65535"
#define EXP_UPSTREAM	"expected host:port with port 1..65535"
#define EXP_TOP		"expected one of name, motd, tls, workers, " \
			"offset, verbose, limits, listen, upstream, mode, " \
			"tags, peers, a"

T_CASE(defaults_applied)
{
	struct tc c;

	tc_load("name: x\n", &c);
	T_EQ_STR(c.name, "x");
	T_ASSERT(c.motd == NULL);
	T_EQ_STR(c.cert, "/etc/cert.pem");
	T_ASSERT(c.key == NULL);
	T_EQ_INT(c.workers, 4);
	T_EQ_INT(c.offset, -5);
	T_EQ_INT(c.verbose, 0);
	T_EQ_INT(c.timeout, 30000);
	T_EQ_INT(c.linger, 0);
	T_EQ_INT(c.buffer, 65536);
	T_EQ_INT(c.quota, 0);
	T_EQ_STR(c.listen.host, "127.0.0.1");
	T_EQ_INT(c.listen.port, 8080);
	T_EQ_STR(c.upstream.host, "::1");
	T_EQ_INT(c.upstream.port, 443);
	T_EQ_INT(c.mode, 0);
	T_EQ_INT(c.tags.n, 0);
	T_ASSERT(c.tags.v == NULL);
	T_EQ_INT(c.peers.n, 2);
	T_EQ_STR(c.peers.v[0], "a");
	T_EQ_STR(c.peers.v[1], "b");
	T_EQ_INT(c.depth, 1);
	conf_free(&tc_schema, &c);
	T_ASSERT(tc_is_zero(&c, sizeof(c)));
}

T_CASE(defaults_without_load)
{
	struct tc c;

	conf_defaults(&tc_schema, &c);
	T_ASSERT(c.name == NULL);
	T_EQ_INT(c.workers, 4);
	T_EQ_INT(c.peers.n, 2);
	conf_free(&tc_schema, &c);
	conf_free(&tc_schema, NULL);
}

T_CASE(every_type_good)
{
	struct tc c;

	tc_load("# every key set\n"
	    "name: \"netport test\"\n"
	    "motd: hello\n"
	    "tls:\n"
	    "  cert: /srv/a cert.pem\n"
	    "  key: 'k.pem'\n"
	    "workers: 64\n"
	    "offset: -12\n"
	    "verbose: yes\n"
	    "limits:\n"
	    "  timeout: 250ms\n"
	    "  linger: 2h\n"
	    "  buffer: 1GiB\n"
	    "  quota: 3M\n"
	    "listen: example.com:0\n"
	    "upstream: \"[2001:db8::7]:65535\"\n"
	    "mode: paranoid\n"
	    "tags:\n"
	    "  - one\n"
	    "  - two\n"
	    "peers: [x]\n"
	    "a: {b: {c: 10}}\n", &c);
	T_EQ_STR(c.name, "netport test");
	T_EQ_STR(c.motd, "hello");
	T_EQ_STR(c.cert, "/srv/a cert.pem");
	T_EQ_STR(c.key, "k.pem");
	T_EQ_INT(c.workers, 64);
	T_EQ_INT(c.offset, -12);
	T_EQ_INT(c.verbose, 1);
	T_EQ_INT(c.timeout, 250);
	T_EQ_INT(c.linger, 7200000);
	T_EQ_INT(c.buffer, 1073741824);
	T_EQ_INT(c.quota, 3145728);
	T_EQ_STR(c.listen.host, "example.com");
	T_EQ_INT(c.listen.port, 0);
	T_EQ_STR(c.upstream.host, "2001:db8::7");
	T_EQ_INT(c.upstream.port, 65535);
	T_EQ_INT(c.mode, 2);
	T_EQ_INT(c.tags.n, 2);
	T_EQ_STR(c.tags.v[0], "one");
	T_EQ_STR(c.tags.v[1], "two");
	T_EQ_INT(c.peers.n, 1);
	T_EQ_STR(c.peers.v[0], "x");
	T_EQ_INT(c.depth, 10);
	conf_free(&tc_schema, &c);
}

T_CASE(dotted_keys)
{
	struct tc c;

	tc_load("name: x\ntls.cert: /a\nlimits.timeout: 1m\na:\n  b.c: 4\n",
	    &c);
	T_EQ_STR(c.cert, "/a");
	T_EQ_INT(c.timeout, 60000);
	T_EQ_INT(c.depth, 4);
	conf_free(&tc_schema, &c);
}

T_CASE(durations_every_suffix)
{
	static const struct {
		const char	*text;
		long long	 ms;
	} cases[] = {
		{ "0", 0 }, { "7", 7000 }, { "0ms", 0 }, { "250ms", 250 },
		{ "30s", 30000 }, { "5m", 300000 }, { "2h", 7200000 },
		{ "7d", 604800000 }, { "0042s", 42000 },
		{ "106751991167d", 106751991167LL * 86400000 },
	};
	char text[128];
	struct tc c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "name: x\nlimits:\n  linger: %s\n",
		    cases[i].text);
		tc_load(text, &c);
		T_EQ_INT(c.linger, cases[i].ms);
		conf_free(&tc_schema, &c);
	}
}

T_CASE(sizes_every_suffix)
{
	static const struct {
		const char		*text;
		unsigned long long	 bytes;
	} cases[] = {
		{ "0", 0 }, { "512", 512 }, { "1K", 1024 }, { "2KiB", 2048 },
		{ "3M", 3145728 }, { "4MiB", 4194304 },
		{ "5G", 5368709120ULL }, { "6GiB", 6442450944ULL },
		{ "18446744073709551615", ULLONG_MAX },
	};
	char text[128];
	struct tc c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "name: x\nlimits:\n  quota: %s\n",
		    cases[i].text);
		tc_load(text, &c);
		T_EQ_INT(c.quota == cases[i].bytes, 1);
		conf_free(&tc_schema, &c);
	}
}

T_CASE(integers_to_the_limits)
{
	struct tc c;

	tc_load("name: x\noffset: -9223372036854775808\n", &c);
	T_EQ_INT(c.offset == LLONG_MIN, 1);
	conf_free(&tc_schema, &c);
	tc_load("name: x\noffset: 9223372036854775807\n", &c);
	T_EQ_INT(c.offset == LLONG_MAX, 1);
	conf_free(&tc_schema, &c);
	tc_load("name: x\noffset: +007\nworkers: 1\n", &c);
	T_EQ_INT(c.offset, 7);
	T_EQ_INT(c.workers, 1);
	conf_free(&tc_schema, &c);
}

T_CASE(bool_spellings)
{
	static const struct {
		const char	*text;
		int		 value;
	} cases[] = {
		{ "true", 1 }, { "yes", 1 }, { "on", 1 }, { "True", 1 },
		{ "false", 0 }, { "no", 0 }, { "off", 0 }, { "OFF", 0 },
	};
	char text[64];
	struct tc c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "name: x\nverbose: %s\n",
		    cases[i].text);
		tc_load(text, &c);
		T_EQ_INT(c.verbose, cases[i].value);
		conf_free(&tc_schema, &c);
	}
}

T_CASE(enum_values)
{
	static const char *const modes[] = { "fast", "safe", "paranoid" };
	char text[64];
	struct tc c;
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), "name: x\nmode: %s\n", modes[i]);
		tc_load(text, &c);
		T_EQ_INT(c.mode, i);
		conf_free(&tc_schema, &c);
	}
}

T_CASE(endpoint_forms)
{
	static const struct {
		const char	*text;
		const char	*host;
		int		 port;
	} cases[] = {
		{ "localhost:1", "localhost", 1 },
		{ "10.0.0.1:65535", "10.0.0.1", 65535 },
		{ "my-host_1.example.org:443", "my-host_1.example.org", 443 },
		{ "\"[::]:8443\"", "::", 8443 },
		{ "\"[fe80::1%eth0]:22\"", "fe80::1%eth0", 22 },
		{ "\"[::ffff:192.0.2.1]:80\"", "::ffff:192.0.2.1", 80 },
	};
	char text[128];
	struct tc c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "name: x\nupstream: %s\n",
		    cases[i].text);
		tc_load(text, &c);
		T_EQ_STR(c.upstream.host, cases[i].host);
		T_EQ_INT(c.upstream.port, cases[i].port);
		conf_free(&tc_schema, &c);
	}
}

T_CASE(endpoint_longest_host)
{
	char text[512], host[CONF_HOST_MAX + 1];
	struct tc c;

	memset(host, 'h', CONF_HOST_MAX);
	host[CONF_HOST_MAX] = '\0';
	snprintf(text, sizeof(text), "name: x\nlisten: %s:1\n", host);
	tc_load(text, &c);
	T_EQ_STR(c.listen.host, host);
	conf_free(&tc_schema, &c);
	snprintf(text, sizeof(text), "name: x\nlisten: %sh:1\n", host);
	TC_BAD(text, "t.yaml:2: listen: host longer than 255 bytes; "
	    EXP_LISTEN);
}

T_CASE(endpoint_format)
{
	struct conf_endpoint ep;
	char out[CONF_HOST_MAX + 16];

	memset(&ep, 0, sizeof(ep));
	snprintf(ep.host, sizeof(ep.host), "example.com");
	ep.port = 443;
	conf_endpoint_format(&ep, out, sizeof(out));
	T_EQ_STR(out, "example.com:443");
	snprintf(ep.host, sizeof(ep.host), "2001:db8::1");
	ep.port = 0;
	conf_endpoint_format(&ep, out, sizeof(out));
	T_EQ_STR(out, "[2001:db8::1]:0");
	conf_endpoint_format(&ep, out, 6);
	T_EQ_STR(out, "[2001");
	T_EQ_INT(conf_endpoint_parse_any("unix:/run/x.sock", 1, 65535, &ep,
	    out, sizeof(out)), 0);
	T_ASSERT(ep.is_unix);
	conf_endpoint_format(&ep, out, sizeof(out));
	T_EQ_STR(out, "unix:/run/x.sock");
	T_EQ_INT(conf_endpoint_parse_any("unix:@abstract", 1, 65535, &ep, out,
	    sizeof(out)), -1);
	T_EQ_STR(out, "abstract Unix socket names are not supported");
	T_EQ_INT(conf_endpoint_parse_any("10.0.0.1:53", 1, 65535, &ep, out,
	    sizeof(out)), 0);
	T_ASSERT(!ep.is_unix);
	T_EQ_INT(ep.port, 53);
}

T_CASE(strlist_forms)
{
	struct tc c;

	tc_load("name: x\ntags: [a, b, c]\npeers: []\n", &c);
	T_EQ_INT(c.tags.n, 3);
	T_EQ_STR(c.tags.v[2], "c");
	T_EQ_INT(c.peers.n, 0);
	T_ASSERT(c.peers.v == NULL);
	conf_free(&tc_schema, &c);
}

T_CASE(empty_documents)
{
	static const char *const texts[] = {
		"", "\n", "# only a comment\n", "---\n", "---\n...\n", "{}\n",
	};
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		TC_BAD(texts[i], "t.yaml:1: name: missing; expected a "
		    "non-empty string (required)");
}

T_CASE(unknown_key_top)
{
	TC_BAD("name: x\nnmae: y\n", "t.yaml:2: nmae: unknown key; "
	    EXP_TOP);
}

T_CASE(unknown_key_nested)
{
	TC_BAD("name: x\ntls:\n  cert: /a\n  certt: /b\n",
	    "t.yaml:4: tls.certt: unknown key; expected one of tls.cert, "
	    "tls.key");
	TC_BAD("name: x\na:\n  b:\n    d: 1\n",
	    "t.yaml:4: a.b.d: unknown key; expected one of a.b.c");
	/* Written with dots, the list is that of the deepest known level. */
	TC_BAD("name: x\nlimits.speed.max: 1\n",
	    "t.yaml:2: limits.speed.max: unknown key; expected one of "
	    "limits.timeout, limits.linger, limits.buffer, limits.quota");
	/* An unknown mapping is one error, not one per key inside it. */
	TC_BAD("name: x\nfoo:\n  a: 1\n  b: 2\n",
	    "t.yaml:2: foo: unknown key; " EXP_TOP);
}

T_CASE(unknown_key_odd_text)
{
	TC_BAD("name: x\n\"\": 1\n", "t.yaml:2: '': unknown key; " EXP_TOP);
	TC_BAD("name: x\n\"a\\tb\\u001b[31m\": 1\n",
	    "t.yaml:2: a?b?[31m: unknown key; " EXP_TOP);
	TC_BAD("name: x\n"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: 1\n",
	    "t.yaml:2: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: "
	    "unknown key; " EXP_TOP);
}

T_CASE(wrong_kind)
{
	TC_BAD("name: {a: b}\n", "t.yaml:1: name: is a mapping; expected a "
	    "non-empty string");
	TC_BAD("name: x\nworkers: [1, 2]\n", "t.yaml:2: workers: is a "
	    "sequence; expected an integer 1..64");
	TC_BAD("name: x\ntls: /a\n", "t.yaml:2: tls: is a scalar; expected a "
	    "mapping with keys tls.cert, tls.key");
	TC_BAD("name: x\nlimits: []\n", "t.yaml:2: limits: is a sequence; "
	    "expected a mapping with keys limits.timeout, limits.linger, "
	    "limits.buffer, limits.quota");
	TC_BAD("name: x\ntags: a\n", "t.yaml:2: tags: is a scalar; expected "
	    "a sequence of non-empty strings, at most 3 entries");
	TC_BAD("name: x\npeers: {a: b}\n", "t.yaml:2: peers: is a mapping; "
	    "expected a sequence of non-empty strings");
	/* The line of the key, where the value starts on the next one. */
	TC_BAD("name: x\nmode:\n  - fast\n", "t.yaml:2: mode: is a sequence; "
	    "expected one of fast, safe, paranoid");
}

T_CASE(empty_values)
{
	TC_BAD("name:\n", "t.yaml:1: name: is empty; expected a non-empty "
	    "string");
	TC_BAD("name: ''\ntls:\n  cert: \"\"\n",
	    "t.yaml:1: name: is empty; expected a non-empty string\n"
	    "t.yaml:3: tls.cert: is empty; expected a path");
	TC_BAD("name: x\ntls:\n", "t.yaml:2: tls: is empty; expected a "
	    "mapping with keys tls.cert, tls.key");
	TC_BAD("name: x\nlisten:\n", "t.yaml:2: listen: is empty; "
	    EXP_LISTEN);
}

T_CASE(int_bad)
{
	TC_BAD("name: x\nworkers: 0\n", "t.yaml:2: workers: 0 out of range; "
	    "expected an integer 1..64");
	TC_BAD("name: x\nworkers: 65\n", "t.yaml:2: workers: 65 out of "
	    "range; expected an integer 1..64");
	TC_BAD("name: x\nworkers: four\n", "t.yaml:2: workers: 'four' is "
	    "not an integer; expected an integer 1..64");
	TC_BAD("name: x\nworkers: 0x10\n", "t.yaml:2: workers: '0x10' is "
	    "not an integer; expected an integer 1..64");
	TC_BAD("name: x\nworkers: 1.5\n", "t.yaml:2: workers: '1.5' is not "
	    "an integer; expected an integer 1..64");
	TC_BAD("name: x\noffset: '-'\n", "t.yaml:2: offset: '-' is not an "
	    "integer; expected an integer");
	TC_BAD("name: x\noffset: 9223372036854775808\n", "t.yaml:2: offset: "
	    "9223372036854775808 out of range; expected an integer");
	TC_BAD("name: x\noffset: -9223372036854775809\n", "t.yaml:2: offset: "
	    "-9223372036854775809 out of range; expected an integer");
	TC_BAD("name: x\noffset: 99999999999999999999999\n", "t.yaml:2: "
	    "offset: 99999999999999999999999 out of range; expected an "
	    "integer");
}

T_CASE(duration_bad)
{
	TC_BAD("name: x\nlimits:\n  timeout: 2h\n", "t.yaml:3: "
	    "limits.timeout: 2h out of range; " EXP_TIMEOUT);
	TC_BAD("name: x\nlimits:\n  timeout: 99ms\n", "t.yaml:3: "
	    "limits.timeout: 99ms out of range; " EXP_TIMEOUT);
	TC_BAD("name: x\nlimits:\n  timeout: 3601\n", "t.yaml:3: "
	    "limits.timeout: 3601 out of range; " EXP_TIMEOUT);
	TC_BAD("name: x\nlimits:\n  linger: 5x\n", "t.yaml:3: "
	    "limits.linger: '5x' is not a duration; " EXP_LINGER);
	TC_BAD("name: x\nlimits:\n  linger: 1.5s\n", "t.yaml:3: "
	    "limits.linger: '1.5s' is not a duration; " EXP_LINGER);
	TC_BAD("name: x\nlimits:\n  linger: -1s\n", "t.yaml:3: "
	    "limits.linger: '-1s' is not a duration; " EXP_LINGER);
	TC_BAD("name: x\nlimits:\n  linger: 5 s\n", "t.yaml:3: "
	    "limits.linger: '5 s' is not a duration; " EXP_LINGER);
	TC_BAD("name: x\nlimits:\n  linger: ms\n", "t.yaml:3: "
	    "limits.linger: 'ms' is not a duration; " EXP_LINGER);
	TC_BAD("name: x\nlimits:\n  linger: 106751991168d\n", "t.yaml:3: "
	    "limits.linger: 106751991168d out of range; " EXP_LINGER);
	TC_BAD("name: x\nlimits:\n  linger: 99999999999999999999ms\n",
	    "t.yaml:3: limits.linger: 99999999999999999999ms out of range; "
	    EXP_LINGER);
}

T_CASE(size_bad)
{
	TC_BAD("name: x\nlimits:\n  buffer: 2G\n", "t.yaml:3: limits.buffer: "
	    "2G out of range; " EXP_BUFFER);
	TC_BAD("name: x\nlimits:\n  buffer: 1023\n", "t.yaml:3: "
	    "limits.buffer: 1023 out of range; " EXP_BUFFER);
	TC_BAD("name: x\nlimits:\n  quota: 1KB\n", "t.yaml:3: limits.quota: "
	    "'1KB' is not a size; " EXP_QUOTA);
	TC_BAD("name: x\nlimits:\n  quota: 1k\n", "t.yaml:3: limits.quota: "
	    "'1k' is not a size; " EXP_QUOTA);
	TC_BAD("name: x\nlimits:\n  quota: -1\n", "t.yaml:3: limits.quota: "
	    "'-1' is not a size; " EXP_QUOTA);
	TC_BAD("name: x\nlimits:\n  quota: 17179869184G\n", "t.yaml:3: "
	    "limits.quota: 17179869184G out of range; " EXP_QUOTA);
	TC_BAD("name: x\nlimits:\n  quota: 18446744073709551616\n",
	    "t.yaml:3: limits.quota: 18446744073709551616 out of range; "
	    EXP_QUOTA);
}

T_CASE(endpoint_bad)
{
	TC_BAD("name: x\nlisten: 1.2.3.4:70000\n", "t.yaml:2: listen: port "
	    "70000 out of range; " EXP_LISTEN);
	TC_BAD("name: x\nupstream: a:0\n", "t.yaml:2: upstream: port 0 out "
	    "of range; " EXP_UPSTREAM);
	TC_BAD("name: x\nlisten: a:99999999999999999999999\n", "t.yaml:2: "
	    "listen: port 99999999999999999999999 out of range; "
	    EXP_LISTEN);
	TC_BAD("name: x\nlisten: localhost\n", "t.yaml:2: listen: "
	    "'localhost' has no port; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: 'localhost:'\n", "t.yaml:2: listen: "
	    "'localhost:' has no port; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: 8080\n", "t.yaml:2: listen: '8080' has no "
	    "host; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: :8080\n", "t.yaml:2: listen: ':8080' has no "
	    "host; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: '[]:80'\n", "t.yaml:2: listen: '[]:80' has "
	    "no host; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: ::1:80\n", "t.yaml:2: listen: '::1:80' has "
	    "an IPv6 address without brackets; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: '[::1:80'\n", "t.yaml:2: listen: '[::1:80' "
	    "has an invalid host; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: '[::1]'\n", "t.yaml:2: listen: '[::1]' has "
	    "no port; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: '[::1]80'\n", "t.yaml:2: listen: '[::1]80' "
	    "has an invalid port; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: '[localhost]:80'\n", "t.yaml:2: listen: "
	    "'[localhost]:80' has an invalid host; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: 'a b:80'\n", "t.yaml:2: listen: 'a b:80' "
	    "has an invalid host; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: a:http\n", "t.yaml:2: listen: 'a:http' has "
	    "an invalid port; " EXP_LISTEN);
	TC_BAD("name: x\nlisten: a:-1\n", "t.yaml:2: listen: 'a:-1' has an "
	    "invalid port; " EXP_LISTEN);
}

T_CASE(enum_and_bool_bad)
{
	TC_BAD("name: x\nmode: slow\n", "t.yaml:2: mode: unknown value "
	    "'slow'; expected one of fast, safe, paranoid");
	TC_BAD("name: x\nmode: Fast\n", "t.yaml:2: mode: unknown value "
	    "'Fast'; expected one of fast, safe, paranoid");
	TC_BAD("name: x\nmode: fast|safe\n", "t.yaml:2: mode: unknown value "
	    "'fast|safe'; expected one of fast, safe, paranoid");
	TC_BAD("name: x\nverbose: maybe\n", "t.yaml:2: verbose: unknown "
	    "value 'maybe'; expected one of true, false, yes, no, on, off");
	TC_BAD("name: x\nverbose: 1\n", "t.yaml:2: verbose: unknown value "
	    "'1'; expected one of true, false, yes, no, on, off");
}

T_CASE(strlist_bad)
{
	TC_BAD("name: x\ntags: [a, b, c, d]\n", "t.yaml:2: tags: 4 entries; "
	    "expected a sequence of non-empty strings, at most 3 entries");
	TC_BAD("name: x\npeers:\n  - a\n  - [b]\n  - ''\n  - {c: d}\n",
	    "t.yaml:4: peers: entry 2 is a sequence; expected a sequence of "
	    "non-empty strings\n"
	    "t.yaml:5: peers: entry 3 is empty; expected a sequence of "
	    "non-empty strings\n"
	    "t.yaml:6: peers: entry 4 is a mapping; expected a sequence of "
	    "non-empty strings");
}

T_CASE(missing_required)
{
	TC_BAD("motd: hi\n", "t.yaml:1: name: missing; expected a non-empty "
	    "string (required)");
}

T_CASE(missing_required_nested)
{
	/* A missing key points at the mapping it belongs in. */
	static const char text[] =
	    "# server\n"
	    "listen: 0.0.0.0:443\n"
	    "tls:\n"
	    "  ca: ca.pem\n"
	    "  key: key.pem\n";

	T_EQ_INT(tc_fail_len(&server_conf_schema, text, strlen(text)),
	    NP_ECONFIG);
	T_EQ_STR(tc_msgs,
	    "t.yaml:3: tls.cert: missing; expected a path (required)\n"
	    "t.yaml:1: policy: missing; expected a path (required)");
}

T_CASE(duplicate_keys)
{
	TC_BAD("name: x\nworkers: 2\nworkers: 3\n", "t.yaml:3: workers: "
	    "duplicate key, first at line 2; expected each key once");
	TC_BAD("name: x\ntls:\n  cert: a\n  cert: b\n", "t.yaml:4: tls.cert: "
	    "duplicate key, first at line 3; expected each key once");
	/* Found when their mappings end, reported in line order. */
	TC_BAD("name: x\ntls: {key: a, key: b}\nname: y\n",
	    "t.yaml:2: tls.key: duplicate key, first at line 2; expected "
	    "each key once\n"
	    "t.yaml:3: name: duplicate key, first at line 1; expected each "
	    "key once");
}

T_CASE(duplicate_dotted_and_nested)
{
	TC_BAD("name: x\ntls:\n  cert: a\ntls.cert: b\n", "t.yaml:4: "
	    "tls.cert: duplicate key, first at line 3; expected each key "
	    "once");
	TC_BAD("name: x\na.b.c: 1\na:\n  b:\n    c: 2\n", "t.yaml:5: a.b.c: "
	    "duplicate key, first at line 2; expected each key once");
}

T_CASE(anchors_and_aliases_refused)
{
	TC_BAD("name: &n x\nmotd: *n\n", "t.yaml:1: anchor '&n' not allowed; "
	    "expected each value written out, without anchors or aliases");
	TC_BAD("name: x\nmotd: *n\n", "t.yaml:2: alias '*n' not allowed; "
	    "expected each value written out, without anchors or aliases");
	TC_BAD("name: x\ntls: &t\n  cert: a\n", "t.yaml:2: anchor '&t' not "
	    "allowed; expected each value written out, without anchors or "
	    "aliases");
	TC_BAD("name: x\ntags: &t [a]\n", "t.yaml:2: anchor '&t' not "
	    "allowed; expected each value written out, without anchors or "
	    "aliases");
}

T_CASE(too_deep)
{
	char text[256];

	/* 16 levels are allowed, the 17th is not. */
	snprintf(text, sizeof(text), "name: x\ntags: %.15s1%.15s\n",
	    "[[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]]");
	TC_BAD(text, "t.yaml:2: tags: entry 1 is a sequence; expected a "
	    "sequence of non-empty strings, at most 3 entries");
	snprintf(text, sizeof(text), "name: x\ntags: %.16s1%.16s\n",
	    "[[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]]");
	TC_BAD(text, "t.yaml:2: nested more than 16 levels deep; expected "
	    "at most 16 levels of sequences and mappings");
}

T_CASE(top_level_not_mapping)
{
	TC_BAD("- name\n- x\n", "t.yaml:1: top level is a sequence; expected "
	    "a mapping with keys name, motd, tls, workers, offset, verbose, "
	    "limits, listen, upstream, mode, tags, peers, a");
	TC_BAD("\n\nname\n", "t.yaml:3: top level is a scalar; expected "
	    "a mapping with keys name, motd, tls, workers, offset, verbose, "
	    "limits, listen, upstream, mode, tags, peers, a");
}

T_CASE(yaml_syntax_error)
{
	TC_BAD("name: x\n  bad: : :\n", "t.yaml:2: invalid YAML: mapping "
	    "values are not allowed in this context");
	TC_BAD("name: x\ntags: [a, b\n", "t.yaml:3: invalid YAML: did not "
	    "find expected ',' or ']' while parsing a flow sequence");
	TC_BAD("name: \"x\n", "t.yaml:2: invalid YAML: found unexpected end "
	    "of stream while scanning a quoted scalar");
	TC_BAD("name: x\n\tmotd: y\n", "t.yaml:2: invalid YAML: found a "
	    "tab character that violates indentation while scanning a plain "
	    "scalar");
	TC_BAD("name: x\n@motd: y\n", "t.yaml:2: invalid YAML: found "
	    "character that cannot start any token while scanning for the "
	    "next token");
	TC_BAD("name: x\nmotd: \xff\n", "t.yaml:2: invalid YAML: invalid "
	    "leading UTF-8 octet");
}

T_CASE(non_scalar_key)
{
	TC_BAD("name: x\n? [a]\n: b\n", "t.yaml:2: a sequence used as a "
	    "mapping key; expected a scalar key");
	TC_BAD("name: x\n{a: b}: c\n", "t.yaml:2: a mapping used as a "
	    "mapping key; expected a scalar key");
}

T_CASE(second_document)
{
	TC_BAD("name: x\n---\nname: y\n", "t.yaml:2: a second YAML document; "
	    "expected a single document");
}

T_CASE(nul_refused)
{
	static const char text[] = "name: x\nmotd: a\0b\n";

	T_EQ_INT(tc_fail_len(&tc_schema, text, sizeof(text) - 1),
	    NP_ECONFIG);
	T_EQ_STR(tc_msgs, "t.yaml:2: NUL byte in the file; expected UTF-8 "
	    "text");
	TC_BAD("name: x\nmotd: \"a\\0b\"\n", "t.yaml:2: NUL character in a "
	    "scalar; expected text without NUL");
}

T_CASE(scalar_too_long)
{
	char *text;
	size_t n = YTREE_MAX_SCALAR + 1;

	T_ASSERT((text = malloc(n + 32)) != NULL);
	memcpy(text, "name: x\nmotd: ", 14);
	memset(text + 14, 'm', n);
	memcpy(text + 14 + n, "\n", 2);
	T_EQ_INT(tc_fail(text), NP_ECONFIG);
	free(text);
	T_EQ_STR(tc_msgs, "t.yaml:2: scalar longer than 4096 bytes; expected "
	    "at most 4096");
}

T_CASE(too_many_nodes)
{
	size_t n = YTREE_MAX_NODES, len = 0, i;
	char *text;

	/* Root, key, sequence and n items: one node too many. */
	T_ASSERT((text = malloc(2 * n + 32)) != NULL);
	len += (size_t)sprintf(text, "tags: [");
	for (i = 0; i < n - 2; i++) {
		memcpy(text + len, "a,", 2);
		len += 2;
	}
	memcpy(text + len, "a]\n", 4);
	T_EQ_INT(tc_fail(text), NP_ECONFIG);
	free(text);
	T_EQ_STR(tc_msgs, "t.yaml:1: more than 200000 nodes; expected a "
	    "smaller document");
}

T_CASE(several_errors_collected)
{
	TC_BAD("motd: hello\n"
	    "workers: 100\n"
	    "tls:\n"
	    "  certt: /a\n"
	    "limits: {timeout: 1d, buffer: 2K}\n"
	    "listen: \"[::1]:65536\"\n"
	    "mode: slow\n"
	    "extra: 1\n",
	    "t.yaml:2: workers: 100 out of range; expected an integer 1..64\n"
	    "t.yaml:4: tls.certt: unknown key; expected one of tls.cert, "
	    "tls.key\n"
	    "t.yaml:5: limits.timeout: 1d out of range; " EXP_TIMEOUT "\n"
	    "t.yaml:6: listen: port 65536 out of range; " EXP_LISTEN "\n"
	    "t.yaml:7: mode: unknown value 'slow'; expected one of fast, "
	    "safe, paranoid\n"
	    "t.yaml:8: extra: unknown key; " EXP_TOP "\n"
	    "t.yaml:1: name: missing; expected a non-empty string "
	    "(required)");
}

T_CASE(errorf_format)
{
	struct conf_errors errs = { 0, NULL };

	T_EQ_INT(conf_errorf(&errs, "f.yaml", 12, "%s: %d", "k", 5), 0);
	T_EQ_INT(conf_errorf(&errs, "f.yaml", 3, "bell\a and\nnewline"), 0);
	T_EQ_INT(errs.n, 2);
	T_EQ_STR(errs.msg[0], "f.yaml:12: k: 5");
	T_EQ_STR(errs.msg[1], "f.yaml:3: bell? and?newline");
	conf_errors_free(&errs);
	T_EQ_INT(errs.n, 0);
	T_ASSERT(errs.msg == NULL);
	conf_errors_free(&errs);
}

/* A file of the given text in a fresh temporary path; the caller unlinks. */
static void
tc_write_file(char *path, size_t size, const char *text, size_t len)
{
	FILE *fp;
	int fd;

	snprintf(path, size, "/tmp/test_conf.XXXXXX");
	T_ASSERT((fd = mkstemp(path)) != -1);
	T_ASSERT((fp = fdopen(fd, "w")) != NULL);
	T_EQ_INT(fwrite(text, 1, len, fp), len);
	T_EQ_INT(fclose(fp), 0);
}

T_CASE(load_file)
{
	struct conf_errors errs = { 0, NULL };
	char path[64], path2[64], want[256];
	struct tc c;
	int r;

	tc_write_file(path, sizeof(path), "name: file\nworkers: 9\n", 22);
	r = conf_load_file(&tc_schema, path, &c, &errs);
	unlink(path);
	T_EQ_INT(r, 0);
	T_EQ_INT(errs.n, 0);
	T_EQ_STR(c.name, "file");
	T_EQ_INT(c.workers, 9);
	conf_free(&tc_schema, &c);
	/* Messages name the file as given. */
	tc_write_file(path2, sizeof(path2), "workers: 99\n", 12);
	r = conf_load_file(&tc_schema, path2, &c, &errs);
	unlink(path2);
	T_EQ_INT(r, NP_ECONFIG);
	T_EQ_INT(errs.n, 2);
	snprintf(want, sizeof(want), "%s:1: workers: 99 out of range; "
	    "expected an integer 1..64", path2);
	T_EQ_STR(errs.msg[0], want);
	conf_errors_free(&errs);
	T_ASSERT(tc_is_zero(&c, sizeof(c)));
}

T_CASE(load_file_unreadable)
{
	struct conf_errors errs = { 0, NULL };
	struct tc c;
	int r;

	memset(&c, 0xa5, sizeof(c));
	r = conf_load_file(&tc_schema, "/nonexistent/netport.yaml", &c,
	    &errs);
	T_EQ_INT(r, -ENOENT);
	T_EQ_INT(errs.n, 1);
	T_EQ_STR(errs.msg[0], "/nonexistent/netport.yaml: cannot read: "
	    "No such file or directory");
	conf_errors_free(&errs);
	T_ASSERT(tc_is_zero(&c, sizeof(c)));
	r = conf_load_file(&tc_schema, "/", &c, &errs);
	T_EQ_INT(r, -EISDIR);
	T_EQ_STR(errs.msg[0], "/: cannot read: Is a directory");
	conf_errors_free(&errs);
}

T_CASE(load_file_too_big)
{
	struct conf_errors errs = { 0, NULL };
	size_t len = 1024 * 1024 + 1;
	char path[64], want[256];
	char *text;
	struct tc c;
	int r;

	/* A comment of the right size: only the size is wrong. */
	T_ASSERT((text = malloc(len)) != NULL);
	memset(text, '#', len);
	memcpy(text, "name: x\n", 8);
	tc_write_file(path, sizeof(path), text, len - 1);
	r = conf_load_file(&tc_schema, path, &c, &errs);
	T_EQ_INT(r, 0);
	conf_free(&tc_schema, &c);
	unlink(path);
	tc_write_file(path, sizeof(path), text, len);
	free(text);
	r = conf_load_file(&tc_schema, path, &c, &errs);
	unlink(path);
	T_EQ_INT(r, NP_ECONFIG);
	T_EQ_INT(errs.n, 1);
	snprintf(want, sizeof(want), "%s:1: file larger than 1048576 bytes; "
	    "expected a configuration of at most 1 MiB", path);
	T_EQ_STR(errs.msg[0], want);
	conf_errors_free(&errs);
}

T_CASE(broken_default_is_fatal)
{
	static const struct conf_key keys[] = {
		{ "port", CONF_INT, 0, "70000", 0, 65535, NULL, "a port" },
	};
	static const struct conf_schema schema = {
		"broken", keys, 1, sizeof(long long), 0, NULL,
	};
	long long v;
	pid_t pid;
	int status;

	fflush(NULL);
	T_ASSERT((pid = fork()) != -1);
	if (pid == 0) {
		/* The message goes to the log; keep the test output clean. */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(3);
		conf_defaults(&schema, &v);
		_exit(0);
	}
	T_EQ_INT(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	T_EQ_INT(WEXITSTATUS(status), 1);
}

T_CASE(write_markdown)
{
	static const struct conf_key keys[] = {
		{ "a.path", CONF_PATH, 0, NULL, 0, 0, NULL, "required path" },
		{ "a.opt", CONF_STRING, 0, "", 0, 0, NULL, "optional | text" },
		{ "n", CONF_INT, 0, "5", 1, 9, NULL, "count" },
		{ "t", CONF_DURATION, 0, "1s", 500, 86400000, NULL, "delay" },
		{ "s", CONF_SIZE, 0, "1M", 0, 2147483648LL, NULL, "size" },
		{ "e", CONF_ENDPOINT, 0, "[::]:1", 1, 65535, NULL, "addr" },
		{ "m", CONF_ENUM, 0, "x", 0, 0, "x|y", "mode" },
		{ "b", CONF_BOOL, 0, "on", 0, 0, NULL, "flag" },
		{ "l", CONF_STRLIST, 0, "", 0, 4, NULL, "list" },
	};
	static const struct conf_schema schema = {
		"md", keys, sizeof(keys) / sizeof(keys[0]), 0, 0, NULL,
	};
	char *text = NULL;
	size_t size = 0;
	FILE *fp;

	T_ASSERT((fp = open_memstream(&text, &size)) != NULL);
	conf_write_markdown(&schema, fp);
	T_EQ_INT(fclose(fp), 0);
	T_EQ_STR(text,
	    "| key | type | default | range/choices | description |\n"
	    "|---|---|---|---|---|\n"
	    "| `a.path` | path | required |  | required path |\n"
	    "| `a.opt` | string | unset |  | optional \\| text |\n"
	    "| `n` | integer | `5` | 1..9 | count |\n"
	    "| `t` | duration | `1s` | 500ms..1d | delay |\n"
	    "| `s` | size | `1M` | 0..2GiB | size |\n"
	    "| `e` | endpoint | `[::]:1` | port 1..65535 | addr |\n"
	    "| `m` | enum | `x` | x, y | mode |\n"
	    "| `b` | boolean | `on` |  | flag |\n"
	    "| `l` | list | empty | at most 4 entries | list |\n");
	free(text);
}

T_CASE(real_schemas_minimal)
{
	static const char common[] =
	    "tls:\n  ca: ca.pem\n  cert: cert.pem\n  key: key.pem\n";
	struct conf_errors errs = { 0, NULL };
	struct server_conf server;
	struct relay_conf relay;
	struct portal_conf portal;
	char text[256];
	int r;

	snprintf(text, sizeof(text), "%spolicy: policy.yaml\n", common);
	r = conf_load_string(&server_conf_schema, "server.yaml", text,
	    strlen(text), &server, &errs);
	T_EQ_INT(r, 0);
	T_EQ_STR(server.tls_ca, "ca.pem");
	T_ASSERT(server.tls_crl == NULL);
	T_EQ_STR(server.listen.host, "0.0.0.0");
	T_EQ_INT(server.listen.port, 443);
	T_EQ_INT(server.log_level, 1);
	T_EQ_INT(server.log_format, 0);
	conf_free(&server_conf_schema, &server);

	snprintf(text, sizeof(text), "%sserver: np.example.com:443\n"
	    "advertise: [relay.example.com:8443]\n", common);
	r = conf_load_string(&relay_conf_schema, "relay.yaml", text,
	    strlen(text), &relay, &errs);
	T_EQ_INT(r, 0);
	T_EQ_STR(relay.server.host, "np.example.com");
	T_EQ_INT(relay.listen.port, 8443);
	conf_free(&relay_conf_schema, &relay);

	snprintf(text, sizeof(text), "%sserver: '[2001:db8::1]:443'\n"
	    "log: {level: debug, format: json}\n", common);
	r = conf_load_string(&portal_conf_schema, "portal.yaml", text,
	    strlen(text), &portal, &errs);
	T_EQ_INT(r, 0);
	T_EQ_STR(portal.server.host, "2001:db8::1");
	T_EQ_INT(portal.reconnect_min, 1000);
	T_EQ_INT(portal.reconnect_max, 60000);
	T_EQ_INT(portal.log_level, 0);
	T_EQ_INT(portal.log_format, 1);
	conf_free(&portal_conf_schema, &portal);
	T_EQ_INT(errs.n, 0);
}

/*
 * The server's caps and the policy's limits: defaults sized for 100,000
 * portals, the same numbers the policy loader uses, and what a load set
 * handed to it; max_sessions is gone (max_portals and max_relays).
 */
T_CASE(server_caps_and_policy_limits)
{
	static const char common[] = "tls: {ca: ca.pem, cert: cert.pem, "
	    "key: key.pem}\npolicy: policy.yaml\n";
	struct conf_errors errs = { 0, NULL };
	const struct policy_limits *lim = server_conf_policy_limits();
	struct server_conf server;
	char text[512];

	T_EQ_INT(conf_load_string(&server_conf_schema, "server.yaml", common,
	    strlen(common), &server, &errs), 0);
	T_EQ_INT(server.max_portals, 150000);
	T_EQ_INT(server.max_relays, 1000);
	T_EQ_INT(server.listen_backlog, 4096);
	T_EQ_INT(server.policy_limits_max_rules, POLICY_DEFAULT_MAX_RULES);
	T_EQ_INT(server.policy_limits_max_group_members,
	    POLICY_DEFAULT_MAX_MEMBERS);
	T_EQ_INT(server.policy_limits_max_yaml_nodes, POLICY_DEFAULT_MAX_NODES);
	T_EQ_INT(server.policy_limits_max_file_size,
	    POLICY_DEFAULT_MAX_FILE_MIB * 1024 * 1024);
	T_EQ_INT(lim->max_rules, POLICY_DEFAULT_MAX_RULES);
	T_EQ_INT(lim->max_file, POLICY_DEFAULT_MAX_FILE_MIB * 1024 * 1024);
	conf_free(&server_conf_schema, &server);

	snprintf(text, sizeof(text), "%smax_portals: 5\nmax_relays: 2\n"
	    "listen_backlog: 128\npolicy_limits:\n  max_rules: 7\n"
	    "  max_file_size: 2K\npolicy_limits.max_yaml_nodes: 900\n",
	    common);
	T_EQ_INT(conf_load_string(&server_conf_schema, "server.yaml", text,
	    strlen(text), &server, &errs), 0);
	T_EQ_INT(server.max_portals, 5);
	T_EQ_INT(server.max_relays, 2);
	T_EQ_INT(server.listen_backlog, 128);
	T_EQ_INT(lim->max_rules, 7);
	T_EQ_INT(lim->max_members, POLICY_DEFAULT_MAX_MEMBERS);
	T_EQ_INT(lim->max_nodes, 900);
	T_EQ_INT(lim->max_file, 2048);
	conf_free(&server_conf_schema, &server);
	T_EQ_INT(errs.n, 0);

	snprintf(text, sizeof(text), "%smax_sessions: 10\n", common);
	T_EQ_INT(conf_load_string(&server_conf_schema, "server.yaml", text,
	    strlen(text), &server, &errs), NP_ECONFIG);
	T_EQ_INT(errs.n, 1);
	T_ASSERT(strstr(errs.msg[0], "server.yaml:3: max_sessions: unknown "
	    "key") == errs.msg[0]);
	conf_errors_free(&errs);
}

T_CASE(real_schemas_errors)
{
	static const char text[] =
	    "tls:\n  ca: ca.pem\n  cert: cert.pem\n  key: key.pem\n"
	    "server: np.example.com:0\n"
	    "reconnect:\n  min: 50ms\n  max: 2d\n"
	    "log:\n  level: verbose\n";

	T_EQ_INT(tc_fail_len(&portal_conf_schema, text, strlen(text)),
	    NP_ECONFIG);
	T_EQ_STR(tc_msgs,
	    "t.yaml:5: server: port 0 out of range; expected host:port with "
	    "port 1..65535\n"
	    "t.yaml:7: reconnect.min: 50ms out of range; expected a duration "
	    "100ms..1h (units ms, s, m, h, d)\n"
	    "t.yaml:8: reconnect.max: 2d out of range; expected a duration "
	    "1s..1d (units ms, s, m, h, d)\n"
	    "t.yaml:10: log.level: unknown value 'verbose'; expected one of "
	    "debug, info, warn, error");
}

/*
 * A check like the roles' own: every tags entry starts with "t", and the
 * timeout is at least 100 ms per worker (a check across two keys).
 */
static int
tc_check(const struct conf_check *c)
{
	const struct tc *conf = c->conf;
	int worst = 0;
	size_t i;

	/* A refused key is not usable, and has no field to look at. */
	if (c->refused[4] != !conf_check_usable(c, "workers") ||
	    (conf_check_field(c, "workers") == NULL) !=
	    !conf_check_usable(c, "workers") ||
	    conf_check_usable(c, "no.such.key"))
		abort();
	if (conf_check_usable(c, "tags"))
		for (i = 0; i < conf->tags.n; i++) {
			if (conf->tags.v[i][0] == 't')
				continue;
			if (conf_errorf(c->errs, c->name, conf->tags.lines[i],
			    "tags[%zu]: '%s' does not start with t; expected "
			    "t...", i, conf->tags.v[i]) != 0)
				return -ENOMEM;
			worst = NP_ECONFIG;
		}
	if (conf_check_usable(c, "workers") &&
	    conf_check_usable(c, "limits.timeout") &&
	    conf->timeout < 100 * conf->workers)
		worst = conf_check_fail(c, "limits.timeout", "%lld ms for %lld "
		    "workers; expected at least 100 ms each", conf->timeout,
		    conf->workers);
	return worst;
}

static const struct conf_schema tc_checked_schema = {
	.role = "test",
	.keys = tc_keys,
	.nkeys = sizeof(tc_keys) / sizeof(tc_keys[0]),
	.size = sizeof(struct tc),
	.check = tc_check,
};

static int
tc_fail_checked(const char *text)
{
	return tc_fail_len(&tc_checked_schema, text, strlen(text));
}

/* List entries are judged in the same load as the scalars around them. */
T_CASE(check_reports_with_other_errors)
{
	T_EQ_INT(tc_fail_checked("name: x\nworkers: 99\ntags:\n  - tab\n"
	    "  - bad\n  - x\nmode: slow\n"), NP_ECONFIG);
	T_EQ_STR(tc_msgs,
	    "t.yaml:2: workers: 99 out of range; expected an integer 1..64\n"
	    "t.yaml:7: mode: unknown value 'slow'; expected one of fast, "
	    "safe, paranoid\n"
	    "t.yaml:5: tags[1]: 'bad' does not start with t; expected t...\n"
	    "t.yaml:6: tags[2]: 'x' does not start with t; expected t...");
	/* With a required key missing too. */
	T_EQ_INT(tc_fail_checked("tags: [ok, tk]\n"), NP_ECONFIG);
	T_EQ_STR(tc_msgs,
	    "t.yaml:1: name: missing; expected a non-empty string (required)\n"
	    "t.yaml:1: tags[0]: 'ok' does not start with t; expected t...");
}

/* Across keys, on values that parsed only; a default is usable. */
T_CASE(check_across_keys)
{
	struct conf_errors errs = { 0, NULL };
	static const char good[] = "name: x\nworkers: 2\n";
	struct tc c;

	T_EQ_INT(tc_fail_checked("name: x\nworkers: 8\nlimits:\n"
	    "  timeout: 500ms\n"), NP_ECONFIG);
	T_EQ_STR(tc_msgs, "t.yaml:4: limits.timeout: 500 ms for 8 workers; "
	    "expected at least 100 ms each");
	/* The default timeout (30 s) is usable, and enough for 64. */
	T_EQ_INT(tc_fail_checked("name: x\nworkers: 64\nlimits.linger: 1\n"),
	    0);
	T_EQ_INT(tc_fail_checked("name: x\nworkers: 8\nlimits:\n"
	    "  timeout: 0.5s\n"), NP_ECONFIG);
	T_EQ_STR(tc_msgs, "t.yaml:4: limits.timeout: '0.5s' is not a "
	    "duration; expected a duration 100ms..1h (units ms, s, m, h, d)");
	T_EQ_INT(conf_load_string(&tc_checked_schema, "t.yaml", good,
	    strlen(good), &c, &errs), 0);
	T_EQ_INT(errs.n, 0);
	T_EQ_INT(c.workers, 2);
	conf_free(&tc_checked_schema, &c);
}

/* The daemons' own lists: each bad entry with the rest, in one run. */
T_CASE(real_schemas_list_entries)
{
	static const char portal[] =
	    "tls:\n  ca: ca.pem\n  cert: cert.pem\n  key: key.pem\n"
	    "server: np.example.com\n"
	    "tunnel:\n  max_streams: 0\n"
	    "allow:\n  - 127.0.0.1:22\n  - 10.0.0.0/33:80\n  - '*:0'\n";
	static const char relay[] =
	    "tls:\n  ca: ca.pem\n  cert: cert.pem\n  key: key.pem\n"
	    "server: np.example.com:443\n"
	    "capacity: 0\n"
	    "advertise: [\"host:99999\", \"relay.example.com:8443\", "
	    "\"[::1]\"]\n";
	static const char server[] =
	    "tls:\n  ca: ca.pem\n  cert: cert.pem\n  key: key.pem\n"
	    "listen: 0.0.0.0:70000\n"
	    "keepalive: 20s\ndead_timeout: 10s\n";

	T_EQ_INT(tc_fail_len(&portal_conf_schema, portal, strlen(portal)),
	    NP_ECONFIG);
	T_EQ_STR(tc_msgs,
	    "t.yaml:5: server: 'np.example.com' has no port; expected "
	    "host:port with port 1..65535\n"
	    "t.yaml:7: tunnel.max_streams: 0 out of range; expected an "
	    "integer 1..1000000\n"
	    "t.yaml:10: allow[1]: '10.0.0.0/33:80' is not a target pattern; "
	    "expected HOST:PORT, HOST:LOW-HIGH or HOST:* with HOST an "
	    "address, a prefix like 10.0.0.0/8, a name, or *; or unix:/path\n"
	    "t.yaml:11: allow[2]: '*:0' is not a target pattern; "
	    "expected HOST:PORT, HOST:LOW-HIGH or HOST:* with HOST an "
	    "address, a prefix like 10.0.0.0/8, a name, or *; or unix:/path");

	T_EQ_INT(tc_fail_len(&relay_conf_schema, relay, strlen(relay)),
	    NP_ECONFIG);
	T_EQ_STR(tc_msgs,
	    "t.yaml:6: capacity: 0 out of range; expected an integer "
	    "1..1000000\n"
	    "t.yaml:7: advertise[0]: port 99999 out of range; expected "
	    "host:port with port 1..65535\n"
	    "t.yaml:7: advertise[2]: '[::1]' has no port; expected host:port "
	    "with port 1..65535");

	/* Cross-key checks run with the others, on keys that parsed. */
	T_EQ_INT(tc_fail_len(&server_conf_schema, server, strlen(server)),
	    NP_ECONFIG);
	T_EQ_STR(tc_msgs,
	    "t.yaml:5: listen: port 70000 out of range; expected host:port "
	    "with port 0..65535\n"
	    "t.yaml:1: policy: missing; expected a path (required)\n"
	    "t.yaml:7: dead_timeout: 10000 ms is not longer than keepalive "
	    "(20000 ms); expected at least twice keepalive");
}

/* A relay that listens on the wildcard must say what portals dial. */
T_CASE(relay_wildcard_needs_advertise)
{
	static const char text[] =
	    "tls:\n  ca: ca.pem\n  cert: cert.pem\n  key: key.pem\n"
	    "server: np.example.com:443\n"
	    "listen: 0.0.0.0:8443\n";
	static const char by_default[] =
	    "tls:\n  ca: ca.pem\n  cert: cert.pem\n  key: key.pem\n"
	    "server: np.example.com:443\n";

	T_EQ_INT(tc_fail_len(&relay_conf_schema, text, strlen(text)),
	    NP_ECONFIG);
	T_EQ_STR(tc_msgs, "t.yaml:6: advertise: missing while listen is the "
	    "wildcard address 0.0.0.0; expected the public host:port that "
	    "portals dial");
	T_EQ_INT(tc_fail_len(&relay_conf_schema, by_default,
	    strlen(by_default)), NP_ECONFIG);
	T_EQ_STR(tc_msgs, "t.yaml:1: advertise: missing while listen is the "
	    "wildcard address 0.0.0.0; expected the public host:port that "
	    "portals dial");
}

/*
 * Loads a portal config whose tls.key is a file of the given mode; returns
 * the load's result with its messages in tc_msgs (the key's path replaced
 * by KEY), and unlinks the file.
 */
static int
tc_key_mode(unsigned mode, const char *extra)
{
	char key[64], text[512], *at;
	size_t n;
	int r;

	tc_write_file(key, sizeof(key), "not read by the check\n", 22);
	if (chmod(key, mode) != 0)
		abort();
	snprintf(text, sizeof(text), "tls:\n  ca: ca.pem\n  cert: c.pem\n"
	    "  key: %s\n%sserver: np.example.com:443\n", key, extra);
	r = tc_fail_len(&portal_conf_schema, text, strlen(text));
	unlink(key);
	/* The path is random: KEY stands for it, wherever it appears. */
	n = strlen(key);
	while ((at = strstr(tc_msgs, key)) != NULL) {
		memcpy(at, "KEY", 3);
		memmove(at + 3, at + n, strlen(at + n) + 1);
	}
	return r;
}

T_CASE(key_file_mode)
{
	static const unsigned refused[] = { 0644, 0640, 0604, 0620, 0602,
	    0610, 0601, 0660, 0666, 0777 };
	static const unsigned accepted[] = { 0600, 0400, 0700, 0200 };
	char want[512];
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		T_EQ_INT(tc_key_mode(refused[i], ""), NP_ECONFIG);
		snprintf(want, sizeof(want), "t.yaml:4: tls.key: 'KEY' is open "
		    "to group or others (mode %04o); expected mode 0600 or "
		    "0400 (chmod 600 KEY), or tls.key_permissions: ignore "
		    "where a platform mounts keys with modes of its own",
		    refused[i]);
		T_EQ_STR(tc_msgs, want);
	}
	/* tc_fail_len returns 0 for a load that succeeds. */
	for (i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
		T_EQ_INT(tc_key_mode(accepted[i], ""), 0);
	T_EQ_INT(tc_key_mode(0644, "tls.key_permissions: ignore\n"), 0);
	T_EQ_INT(tc_key_mode(0600, "tls.key_permissions: strict\n"), 0);
	/* Reported with the other problems of the file. */
	T_EQ_INT(tc_key_mode(0644, "tunnel.max_streams: 0\n"), NP_ECONFIG);
	T_EQ_STR(tc_msgs, "t.yaml:5: tunnel.max_streams: 0 out of range; "
	    "expected an integer 1..1000000\n"
	    "t.yaml:4: tls.key: 'KEY' is open to group or others (mode "
	    "0644); expected mode 0600 or 0400 (chmod 600 KEY), or "
	    "tls.key_permissions: ignore where a platform mounts keys with "
	    "modes of its own");
	/* A bad opt-out value is itself the error, not the mode. */
	T_EQ_INT(tc_key_mode(0644, "tls.key_permissions: lax\n"),
	    NP_ECONFIG);
	T_EQ_STR(tc_msgs, "t.yaml:5: tls.key_permissions: unknown value "
	    "'lax'; expected one of strict, ignore");
}

/* A key file that is not there is the TLS set-up's to report, not -n's. */
T_CASE(key_file_missing_left_to_tls)
{
	static const char text[] = "tls:\n  ca: ca.pem\n  cert: c.pem\n"
	    "  key: /nonexistent/netport-test.key\n"
	    "server: np.example.com:443\n";

	T_EQ_INT(tc_fail_len(&portal_conf_schema, text, strlen(text)), 0);
}

int
main(void)
{
	T_RUN(defaults_applied);
	T_RUN(defaults_without_load);
	T_RUN(every_type_good);
	T_RUN(dotted_keys);
	T_RUN(durations_every_suffix);
	T_RUN(sizes_every_suffix);
	T_RUN(integers_to_the_limits);
	T_RUN(bool_spellings);
	T_RUN(enum_values);
	T_RUN(endpoint_forms);
	T_RUN(endpoint_longest_host);
	T_RUN(endpoint_format);
	T_RUN(strlist_forms);
	T_RUN(empty_documents);
	T_RUN(unknown_key_top);
	T_RUN(unknown_key_nested);
	T_RUN(unknown_key_odd_text);
	T_RUN(wrong_kind);
	T_RUN(empty_values);
	T_RUN(int_bad);
	T_RUN(duration_bad);
	T_RUN(size_bad);
	T_RUN(endpoint_bad);
	T_RUN(enum_and_bool_bad);
	T_RUN(strlist_bad);
	T_RUN(missing_required);
	T_RUN(missing_required_nested);
	T_RUN(duplicate_keys);
	T_RUN(duplicate_dotted_and_nested);
	T_RUN(anchors_and_aliases_refused);
	T_RUN(too_deep);
	T_RUN(top_level_not_mapping);
	T_RUN(yaml_syntax_error);
	T_RUN(non_scalar_key);
	T_RUN(second_document);
	T_RUN(nul_refused);
	T_RUN(scalar_too_long);
	T_RUN(too_many_nodes);
	T_RUN(several_errors_collected);
	T_RUN(errorf_format);
	T_RUN(load_file);
	T_RUN(load_file_unreadable);
	T_RUN(load_file_too_big);
	T_RUN(broken_default_is_fatal);
	T_RUN(write_markdown);
	T_RUN(real_schemas_minimal);
	T_RUN(real_schemas_errors);
	T_RUN(check_reports_with_other_errors);
	T_RUN(check_across_keys);
	T_RUN(real_schemas_list_entries);
	T_RUN(relay_wildcard_needs_advertise);
	T_RUN(key_file_mode);
	T_RUN(key_file_missing_left_to_tls);
	T_RUN(server_caps_and_policy_limits);
	return t_done();
}
