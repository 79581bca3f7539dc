/* SPDX-License-Identifier: MIT */
/*
 * The access policy: named rules of port-address tuples
 *
 *	(client portals, listen addr:port, protocol) -> (service portal, target addr:port)
 *
 * (a listener rule, optionally over a set of ports that map to themselves),
 * or, for a capture rule, address and port ranges a client portal
 * intercepts and a service portal reaches:
 *
 *	(client portals, [as-prefix], ports, protocols) -> (service portal, to-prefix)
 *
 * with portal groups and optional expiry, parsed from a YAML file (see
 * docs/POLICY.md).  Pure code over a ytree: bytes in, struct or every error
 * out as "FILE:LINE: key: what is wrong; what is expected".  A policy is
 * immutable once loaded; a reload builds a new one and swaps it in whole.
 */
#ifndef NETPORT_CORE_POLICY_H
#define NETPORT_CORE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "core/hmap.h"
#include "core/identity.h"
#include "core/portset.h"
#include "core/prefix.h"

/*
 * Caps that bound what one policy file can make the server hold.  Those
 * of struct policy_limits are the server's policy_limits.* keys, whose
 * defaults (these) fit a policy for 100,000 portals; docs/OPERATIONS.md
 * has what each costs.  Messages name the key that raises a limit.
 */
#define POLICY_DEFAULT_MAX_RULES	100000
#define POLICY_DEFAULT_MAX_MEMBERS	200000	/* portals in one group */
#define POLICY_DEFAULT_MAX_NODES	5000000	/* YAML nodes in the file */
#define POLICY_DEFAULT_MAX_FILE_MIB	64	/* size of the file */
#define POLICY_DEFAULT_MAX_GROUPS	10000
/* Clients of all rules, groups expanded: a rule naming a group of N
 * portals counts N. */
#define POLICY_DEFAULT_MAX_BINDINGS	1000000
#define POLICY_KEY_MAX_RULES	"policy_limits.max_rules"
#define POLICY_KEY_MAX_MEMBERS	"policy_limits.max_group_members"
#define POLICY_KEY_MAX_NODES	"policy_limits.max_yaml_nodes"
#define POLICY_KEY_MAX_FILE	"policy_limits.max_file_size"
#define POLICY_KEY_MAX_GROUPS	"policy_limits.max_groups"
#define POLICY_KEY_MAX_BINDINGS	"policy_limits.max_bindings"
/* Ports of one listener rule with `ports`: a socket each, per client. */
#define POLICY_MAX_LISTEN_PORTS	1024

/* The limits a load applies; a zero field (or a NULL struct): its default. */
struct policy_limits {
	size_t			 max_rules;
	size_t			 max_members;	/* portals in one group */
	size_t			 max_nodes;	/* YAML nodes in the file */
	size_t			 max_file;	/* bytes (policy_read_file) */
	size_t			 max_groups;
	size_t			 max_bindings;	/* clients of all rules */
};

/* A rule's protocols (struct policy_rule.protos). */
#define POLICY_TCP		1u
#define POLICY_UDP		2u

struct policy_rule {
	char			 name[NP_NAME_MAX + 1];
	unsigned long		 line;		/* where the rule starts */
	char			(*clients)[NP_NAME_MAX + 1]; /* owned, sorted */
	size_t			 nclients;	/* groups expanded */
	char			 service[NP_NAME_MAX + 1];
	unsigned		 protos;	/* POLICY_TCP | POLICY_UDP */
	/*
	 * Listener rule: listen and target; with has_ports, both are hosts
	 * (port 0) and each port of `ports` maps to itself.
	 */
	struct conf_endpoint	 listen;	/* may be a Unix socket */
	unsigned		 listen_mode;	/* file mode of a Unix listener */
	struct conf_endpoint	 target;	/* may be a Unix socket */
	int			 has_ports;
	struct portset		 ports;
	/*
	 * Capture rule: destinations in `to` (seen by the client portal's
	 * applications in `as` when it is set) on `ports`.
	 */
	int			 capture;
	struct prefix		 to;
	struct prefix		 as;		/* family 0: the same as to */
	int64_t			 expires;	/* Unix seconds; 0: never */
	int			 direct_off;	/* direct: off, relays only */
	struct hmap_node	 name_node;	/* in policy.by_name */
};

struct policy {
	struct policy_rule	*rules;		/* owned, in file order */
	size_t			 nrules;
	struct hmap		 by_name;	/* the rules, for policy_find */
	/*
	 * Each portal's rules (struct policy_portal, owned), so that what a
	 * portal takes part in costs what it has, not the whole policy.
	 */
	struct hmap		 by_portal;
};

/*
 * Parses a policy document within limits (NULL: the defaults).  Returns 0
 * and a new policy in *out, or NP_ECONFIG with every problem in errs (*out
 * NULL), or -ENOMEM.
 */
int	policy_parse_limits(const char *name, const char *text, size_t len,
	    const struct policy_limits *limits, struct policy **out,
	    struct conf_errors *errs) __attribute__((warn_unused_result));
/* The same within the default limits. */
int	policy_parse(const char *name, const char *text, size_t len,
	    struct policy **out, struct conf_errors *errs)
	    __attribute__((warn_unused_result));

/*
 * The whole file in *text (malloc'd, NUL-terminated; the caller frees it),
 * refused past limits->max_file; 0, -errno or NP_ECONFIG, reported in errs.
 * Apart from parsing so that a daemon can read on its loop and parse off it.
 */
int	policy_read_file(const char *path, const struct policy_limits *limits,
	    char **text, size_t *len, struct conf_errors *errs)
	    __attribute__((warn_unused_result));

/* Reads and parses a file; -errno (also in errs) when it cannot be read. */
int	policy_load_file(const char *path, const struct policy_limits *limits,
	    struct policy **out, struct conf_errors *errs)
	    __attribute__((warn_unused_result));

void	policy_free(struct policy *p);

const struct policy_rule *policy_find(const struct policy *p,
	    const char *name);

/*
 * The indexes (into p->rules, in file order) of the rules portal takes
 * part in, on either side; their count (0: none, *idx NULL).
 */
size_t	policy_portal_rules(const struct policy *p, const char *portal,
	    const uint32_t **idx);

int	policy_rule_has_client(const struct policy_rule *r, const char *portal);
/* 1 when the rule has not expired at now (Unix seconds). */
int	policy_rule_is_active(const struct policy_rule *r, int64_t now);
/* 1 when portal takes part in the rule, on either side. */
int	policy_rule_involves(const struct policy_rule *r, const char *portal);
/*
 * 1 when an active rule between portals a and b, in either direction,
 * says direct: off.  A tunnel carries every rule between its two portals,
 * so one such rule keeps their tunnels on relays.
 */
int	policy_pair_direct_off(const struct policy *p, const char *a,
	    const char *b, int64_t now);
/* The earliest expiry after now, or 0 when no active rule expires. */
int64_t	policy_next_expiry(const struct policy *p, int64_t now);

#endif
