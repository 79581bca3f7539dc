/* SPDX-License-Identifier: MIT */
/* Local allow-list of targets; see allowlist.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/allowlist.h"
#include "core/err.h"
#include "core/prefix.h"

enum {
	ALLOW_ANY,
	ALLOW_NAME,
	ALLOW_NET,
	ALLOW_UNIX,
};

#define ALLOW_EXPECTED	"expected HOST:PORT, HOST:LOW-HIGH or HOST:* with " \
	"HOST an address, a prefix like 10.0.0.0/8, a name, or *; or " \
	"unix:/path"

static int
allow_parse_port(const char *s, uint16_t *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int
allow_parse_ports(const char *s, struct allow_entry *e)
{
	char lo[8];
	const char *dash;

	if (strcmp(s, "*") == 0) {
		e->port_lo = 1;
		e->port_hi = 65535;
		return 0;
	}
	if ((dash = strchr(s, '-')) == NULL) {
		if (allow_parse_port(s, &e->port_lo) != 0)
			return -1;
		e->port_hi = e->port_lo;
		return 0;
	}
	if ((size_t)(dash - s) >= sizeof(lo))
		return -1;
	memcpy(lo, s, (size_t)(dash - s));
	lo[dash - s] = '\0';
	if (allow_parse_port(lo, &e->port_lo) != 0 ||
	    allow_parse_port(dash + 1, &e->port_hi) != 0 ||
	    e->port_lo > e->port_hi)
		return -1;
	return 0;
}

static int
allow_parse_host(char *host, struct allow_entry *e)
{
	char *slash;
	unsigned long prefix;
	char *end;
	size_t i;

	if (strcmp(host, "*") == 0) {
		e->kind = ALLOW_ANY;
		return 0;
	}
	slash = strchr(host, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, host, e->addr) == 1) {
		e->family = AF_INET;
		e->prefix = 32;
	} else if (inet_pton(AF_INET6, host, e->addr) == 1) {
		e->family = AF_INET6;
		e->prefix = 128;
	} else {
		if (slash || host[0] == '\0' || strlen(host) > CONF_HOST_MAX)
			return -1;
		for (i = 0; host[i]; i++)
			if (!((host[i] >= 'a' && host[i] <= 'z') ||
			    (host[i] >= 'A' && host[i] <= 'Z') ||
			    (host[i] >= '0' && host[i] <= '9') ||
			    host[i] == '.' || host[i] == '-' || host[i] == '_'))
				return -1;
		e->kind = ALLOW_NAME;
		memcpy(e->name, host, strlen(host) + 1);
		return 0;
	}
	e->kind = ALLOW_NET;
	if (slash) {
		errno = 0;
		prefix = strtoul(slash + 1, &end, 10);
		if (errno || *end || slash[1] == '\0' || prefix > e->prefix)
			return -1;
		e->prefix = (unsigned)prefix;
	}
	return 0;
}

static int
allow_parse_entry(const char *s, struct allow_entry *e)
{
	char tmp[CONF_HOST_MAX + 16];
	char *host, *ports, *colon;

	memset(e, 0, sizeof(*e));
	if (strlen(s) >= sizeof(tmp))
		return -1;
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] != '/' || strlen(s + 5) > CONF_UNIX_PATH_MAX)
			return -1;
		e->kind = ALLOW_UNIX;
		memcpy(e->name, s + 5, strlen(s + 5) + 1);
		return 0;
	}
	memcpy(tmp, s, strlen(s) + 1);
	if (tmp[0] == '[') {
		host = tmp + 1;
		if ((colon = strstr(host, "]:")) == NULL)
			return -1;
		*colon = '\0';
		ports = colon + 2;
	} else {
		if ((colon = strrchr(tmp, ':')) == NULL)
			return -1;
		*colon = '\0';
		host = tmp;
		ports = colon + 1;
		if (strchr(host, ':'))
			return -1;	/* IPv6 needs brackets */
	}
	if (allow_parse_host(host, e) != 0 || allow_parse_ports(ports, e) != 0)
		return -1;
	return 0;
}

int
allowlist_parse(const struct conf_strlist *in, const char *file,
    struct allowlist *out, struct conf_errors *errs)
{
	size_t i;
	int bad = 0;

	out->v = NULL;
	out->n = 0;
	if (in->n == 0)
		return 0;
	if ((out->v = calloc(in->n, sizeof(*out->v))) == NULL)
		return -ENOMEM;
	for (i = 0; i < in->n; i++) {
		if (allow_parse_entry(in->v[i], &out->v[out->n]) == 0) {
			out->n++;
			continue;
		}
		bad = 1;
		if (conf_errorf(errs, file, in->lines ? in->lines[i] : 0,
		    "allow[%zu]: '%.64s' is not a "
		    "target pattern; " ALLOW_EXPECTED, i, in->v[i]) != 0) {
			allowlist_free(out);
			return -ENOMEM;
		}
	}
	if (bad) {
		allowlist_free(out);
		return NP_ECONFIG;
	}
	return 0;
}

void
allowlist_free(struct allowlist *a)
{
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

static int
allow_port_ok(const struct allow_entry *e, uint16_t port)
{
	return port >= e->port_lo && port <= e->port_hi;
}

/*
 * A literal in the strict forms of inet_pton(), the forms in which a rule
 * names an address: "127.1" or a zone ("fe80::1%eth0") are left to the
 * resolver, and to the check of the address it yields.
 */
static int
allow_literal(const char *host, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (void *)ss;
	struct sockaddr_in6 *in6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return 1;
	}
	return 0;
}

int
allowlist_is_literal(const char *host)
{
	struct sockaddr_storage ss;

	return allow_literal(host, &ss);
}

int
allowlist_match_name(const struct allowlist *a, const char *host,
    uint16_t port)
{
	struct sockaddr_storage ss;
	size_t i;

	if (a->n == 0)
		return 1;
	/* An address resolves to itself: match it as the address now. */
	if (allow_literal(host, &ss)) {
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)(void *)&ss)->sin_port =
			    htons(port);
		else
			((struct sockaddr_in6 *)(void *)&ss)->sin6_port =
			    htons(port);
		return allowlist_match_addr(a, (const void *)&ss);
	}
	for (i = 0; i < a->n; i++) {
		const struct allow_entry *e = &a->v[i];

		if (!allow_port_ok(e, port))
			continue;
		if (e->kind == ALLOW_ANY ||
		    (e->kind == ALLOW_NAME && strcasecmp(e->name, host) == 0))
			return 1;
	}
	return 0;
}

int
allowlist_match_unix(const struct allowlist *a, const char *path)
{
	size_t i;

	if (a->n == 0)
		return 1;
	for (i = 0; i < a->n; i++)
		if (a->v[i].kind == ALLOW_UNIX && strcmp(a->v[i].name, path) == 0)
			return 1;
	return 0;
}

int
allowlist_match_addr(const struct allowlist *a, const struct sockaddr *sa)
{
	const uint8_t *addr;
	uint16_t port;
	int family;
	size_t i;

	if (a->n == 0)
		return 1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		addr = (const uint8_t *)&in->sin_addr;
		port = ntohs(in->sin_port);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		addr = (const uint8_t *)&in6->sin6_addr;
		port = ntohs(in6->sin6_port);
		family = AF_INET6;
	} else
		return 0;
	for (i = 0; i < a->n; i++) {
		const struct allow_entry *e = &a->v[i];

		if (!allow_port_ok(e, port))
			continue;
		if (e->kind == ALLOW_ANY)
			return 1;
		if (e->kind == ALLOW_NET && e->family == family &&
		    prefix_bits_equal(addr, e->addr, e->prefix))
			return 1;
	}
	return 0;
}
