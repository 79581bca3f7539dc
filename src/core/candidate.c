/* SPDX-License-Identifier: MIT */
/* Direct-path candidates (candidate.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/candidate.h"
#include "core/err.h"

static const char *const candidate_kinds[] = {
	[CAND_LAN] = "lan",
	[CAND_LOOPBACK] = "loopback",
	[CAND_PUBLIC] = "public",
	[CAND_REFLEXIVE] = "reflexive",
	[CAND_UPNP] = "upnp",
	[CAND_NATPMP] = "natpmp",
	[CAND_STUN] = "stun",
};

const char *
candidate_kind_name(enum candidate_kind kind)
{
	return (unsigned)kind <= CAND_KIND_MAX ? candidate_kinds[kind] : "?";
}

int
candidate_parse(const char *s, struct candidate *out, const char **why)
{
	const char *sp = strchr(s, ' ');
	char ewhy[128];
	size_t klen;
	unsigned k;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (sp == NULL) {
		*why = "no kind";
		return NP_EPROTO;
	}
	klen = (size_t)(sp - s);
	for (k = 0; k <= CAND_KIND_MAX; k++)
		if (strlen(candidate_kinds[k]) == klen &&
		    memcmp(s, candidate_kinds[k], klen) == 0)
			break;
	if (k > CAND_KIND_MAX) {
		*why = "unknown kind";
		return NP_EPROTO;
	}
	if (conf_endpoint_parse(sp + 1, 1, 65535, &out->ep, ewhy,
	    sizeof(ewhy)) != 0) {
		*why = "bad address";
		return NP_EPROTO;
	}
	out->kind = (enum candidate_kind)k;
	return 0;
}

void
candidate_format(const struct candidate *c, char *out, size_t size)
{
	char ep[PROTO_ADDR_MAX + 1];

	conf_endpoint_format(&c->ep, ep, sizeof(ep));
	snprintf(out, size, "%s %s", candidate_kind_name(c->kind), ep);
}

/* 1 for the addresses a peer could dial. */
static int
candidate_usable(const struct sockaddr *sa, int *loopback)
{
	*loopback = 0;
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr.s_addr);

		if ((a >> 24) == 127) {
			*loopback = 1;
			return 1;
		}
		/* 0/8 and link-local 169.254/16 cannot be dialled. */
		return (a >> 24) != 0 && (a >> 16) != 0xa9fe;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a)) {
			*loopback = 1;
			return 1;
		}
		return !IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_V4MAPPED(a) &&
		    !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_MULTICAST(a);
	}
	return 0;
}

int
candidate_gather(uint16_t port, struct candidate *out, size_t max)
{
	struct ifaddrs *ifs, *i;
	struct candidate loop[4];
	size_t n = 0, nloop = 0, j;
	int lo;

	if (getifaddrs(&ifs) != 0)
		return -errno;
	for (i = ifs; i != NULL; i = i->ifa_next) {
		struct candidate c;
		const void *addr;

		if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP) ||
		    !candidate_usable(i->ifa_addr, &lo))
			continue;
		memset(&c, 0, sizeof(c));
		c.kind = lo ? CAND_LOOPBACK : CAND_LAN;
		c.ep.port = port;
		addr = i->ifa_addr->sa_family == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)
		    (const void *)i->ifa_addr)->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)
		    (const void *)i->ifa_addr)->sin6_addr;
		if (inet_ntop(i->ifa_addr->sa_family, addr, c.ep.host,
		    sizeof(c.ep.host)) == NULL)
			continue;
		if (lo && nloop < sizeof(loop) / sizeof(loop[0]))
			loop[nloop++] = c;
		else if (!lo && n < max)
			out[n++] = c;
	}
	freeifaddrs(ifs);
	for (j = 0; j < nloop && n < max; j++)
		out[n++] = loop[j];
	return (int)n;
}
