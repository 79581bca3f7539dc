/* SPDX-License-Identifier: MIT */
/*
 * The configuration loader (YAML, tree, typed values) on arbitrary bytes,
 * against the schemas of the server, the relay and the portal and against a
 * schema with every type.  Beyond not crashing or leaking, every load must
 * keep the contract of conf.h: success with no message, or failure with at
 * least one "NAME:LINE: ..." message and the struct zeroed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/err.h"
#include "portal/portal_conf.h"
#include "relay/relay_conf.h"
#include "server/server_conf.h"

#define FUZZ_KEYS(X)							\
	X(name, STRING, "name", "x", 0, 0, NULL, "string")		\
	X(path, PATH, "dir.path", "", 0, 0, NULL, "path")		\
	X(count, INT, "count", "1", -5, 5, NULL, "bounded integer")	\
	X(any, INT, "any", "0", 0, 0, NULL, "integer")			\
	X(flag, BOOL, "flag", "off", 0, 0, NULL, "boolean")		\
	X(wait, DURATION, "t.wait", "1s", 1, 86400000, NULL, "duration") \
	X(size, SIZE, "t.size", "1K", 0, 0, NULL, "size")		\
	X(ep, ENDPOINT, "ep", "[::1]:1", 1, 65535, NULL, "endpoint")	\
	X(mode, ENUM, "mode", "a", 0, 0, "a|bb|ccc", "enum")		\
	X(list, STRLIST, "list", "[p, q]", 1, 4, NULL, "strings")	\
	X(deep, INT, "a.b.c.d.e", "0", 0, 0, NULL, "nested")

CONF_STRUCT(fuzz_conf, FUZZ_KEYS);

#define FUZZ_ROW(...)	CONF_ROW_(struct fuzz_conf, __VA_ARGS__)

static const struct conf_key fuzz_keys[] = {
	FUZZ_KEYS(FUZZ_ROW)
};

static const struct conf_schema fuzz_schema = {
	.role = "fuzz",
	.keys = fuzz_keys,
	.nkeys = sizeof(fuzz_keys) / sizeof(fuzz_keys[0]),
	.size = sizeof(struct fuzz_conf),
};

static const struct conf_schema *const fuzz_schemas[] = {
	&fuzz_schema, &server_conf_schema, &relay_conf_schema,
	&portal_conf_schema,
};

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fuzz_is_zero(const void *p, size_t size)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < size; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* A loaded endpoint formats to text that loads back to the same. */
static void
fuzz_endpoint_again(const struct conf_endpoint *ep)
{
	struct conf_errors errs = { 0, NULL };
	struct fuzz_conf again;
	char text[CONF_HOST_MAX + 32], buf[CONF_HOST_MAX + 16];
	int n;

	conf_endpoint_format(ep, buf, sizeof(buf));
	n = snprintf(text, sizeof(text), "ep: \"%s\"\n", buf);
	if (n < 0 || (size_t)n >= sizeof(text))
		abort();
	switch (conf_load_string(&fuzz_schema, "again.yaml", text, (size_t)n,
	    &again, &errs)) {
	case 0:
		if (strcmp(again.ep.host, ep->host) != 0 ||
		    again.ep.port != ep->port)
			abort();
		conf_free(&fuzz_schema, &again);
		break;
	case -ENOMEM:
		break;
	default:
		abort();
	}
	conf_errors_free(&errs);
}

/* Loads one schema and checks what conf.h promises about the result. */
static void
fuzz_load(const struct conf_schema *schema, const char *text, size_t size)
{
	struct conf_errors errs = { 0, NULL };
	union {
		struct fuzz_conf	f;
		struct server_conf	s;
		struct relay_conf	r;
		struct portal_conf	p;
	} conf;
	size_t i;
	int r;

	r = conf_load_string(schema, "fuzz.yaml", text, size, &conf, &errs);
	if (r == -ENOMEM)
		goto out;
	if (r == 0 && errs.n != 0)
		abort();
	if (r != 0 && (r != NP_ECONFIG || errs.n == 0 ||
	    !fuzz_is_zero(&conf, schema->size)))
		abort();
	for (i = 0; i < errs.n; i++)
		if (strncmp(errs.msg[i], "fuzz.yaml:", 10) != 0 ||
		    strchr(errs.msg[i], '\n') != NULL)
			abort();
	if (r == 0 && schema == &fuzz_schema)
		fuzz_endpoint_again(&conf.f.ep);
	if (r == 0)
		conf_free(schema, &conf);
out:
	conf_errors_free(&errs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(fuzz_schemas) / sizeof(fuzz_schemas[0]); i++)
		fuzz_load(fuzz_schemas[i], (const char *)data, size);
	return 0;
}
