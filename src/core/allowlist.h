/* SPDX-License-Identifier: MIT */
/*
 * A service portal's local allow-list: the targets it agrees to connect to,
 * whatever the server's rules say.  Entries are HOST:PORTS where HOST is an
 * IP address, an IP prefix (10.0.0.0/8, fd00::/8), a host name, or "*",
 * and PORTS is a port, a range LOW-HIGH, or "*".  A target passes when an
 * entry matches it; an empty list lets every target the rules name pass.
 *
 * Names match names (case-insensitively) before resolution; addresses and
 * prefixes match an address literal at once, and any other target's
 * resolved address, so "127.0.0.1:22" lets a rule that targets
 * 127.0.0.1:22 through, and one that targets localhost:22 once localhost
 * resolves to 127.0.0.1.
 * Pure code.
 */
#ifndef NETPORT_CORE_ALLOWLIST_H
#define NETPORT_CORE_ALLOWLIST_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/conf.h"

struct allow_entry {
	int		kind;		/* ALLOW_ANY, ALLOW_NAME, ALLOW_NET */
	char		name[CONF_HOST_MAX + 1];
	int		family;		/* AF_INET or AF_INET6 for ALLOW_NET */
	uint8_t		addr[16];
	unsigned	prefix;
	uint16_t	port_lo, port_hi;
};

struct allowlist {
	struct allow_entry	*v;	/* owned */
	size_t			 n;
};

/*
 * Parses entries; returns 0, or NP_ECONFIG with "allow[I]: why; expected
 * ..." for each bad entry appended to errs under the name `file`.
 */
int	allowlist_parse(const struct conf_strlist *in, const char *file,
	    struct allowlist *out, struct conf_errors *errs)
	    __attribute__((warn_unused_result));
void	allowlist_free(struct allowlist *a);

/*
 * 1 when host:port passes before any resolution: the list is empty, an ANY
 * entry or a NAME entry matches it, or host is an IPv4 or IPv6 address
 * literal that an address or prefix entry matches (it resolves to itself).
 */
int	allowlist_match_name(const struct allowlist *a, const char *host,
	    uint16_t port);
/*
 * 1 when host is an IPv4 or IPv6 address literal, which
 * allowlist_match_name() judges for good: no resolution can change it.
 */
int	allowlist_is_literal(const char *host);
/* 1 when the list is empty or a unix:/path entry names exactly path. */
int	allowlist_match_unix(const struct allowlist *a, const char *path);
/* 1 when the list is empty or an entry matches the resolved address. */
int	allowlist_match_addr(const struct allowlist *a,
	    const struct sockaddr *sa);

#endif
