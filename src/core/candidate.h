/* SPDX-License-Identifier: MIT */
/*
 * Direct-path candidates: the addresses at which a portal may be reached
 * by its peers without a relay, each with how it was found.  On the wire
 * (HELLO, TUNNEL_GRANT) a candidate is the text "KIND HOST:PORT".
 *
 * The codec is pure; candidate_gather() reads the host's interfaces.
 */
#ifndef NETPORT_CORE_CANDIDATE_H
#define NETPORT_CORE_CANDIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "core/proto.h"

enum candidate_kind {
	CAND_LAN,		/* an address of the portal's interfaces */
	CAND_LOOPBACK,		/* the same host only */
	CAND_PUBLIC,		/* an interface address the server saw */
	CAND_REFLEXIVE,		/* the address the server saw (NAT) */
	CAND_UPNP,		/* a port the router maps (UPnP-IGD) */
	CAND_NATPMP,		/* a port the router maps (NAT-PMP) */
	CAND_STUN,		/* the UDP mapping STUN told (QUIC) */
	CAND_KIND_MAX = CAND_STUN,
};

struct candidate {
	enum candidate_kind	kind;
	struct conf_endpoint	ep;
};

const char *candidate_kind_name(enum candidate_kind kind);
/* Parses "KIND HOST:PORT"; 0 or NP_EPROTO with *why (static text). */
int	candidate_parse(const char *s, struct candidate *out,
	    const char **why);
/* "KIND HOST:PORT" into out (PROTO_CANDIDATE_MAX + 1 bytes). */
void	candidate_format(const struct candidate *c, char *out, size_t size);

/*
 * The addresses of this host's interfaces that are up, with port: global
 * and private IPv4 and global IPv6 as CAND_LAN, loopback as CAND_LOOPBACK
 * (link-local addresses need a scope and are left out).  At most max
 * candidates, loopback last; returns how many, or -errno.
 */
int	candidate_gather(uint16_t port, struct candidate *out, size_t max);

#endif
