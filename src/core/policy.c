/* SPDX-License-Identifier: MIT */
/* Access policy parser and queries; see policy.h and docs/POLICY.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/policy.h"
#include "core/ytree.h"

/*
 * Listen bindings (one per client portal of each rule) across the whole
 * policy; bounds the memory and time of the conflict check.
 */

#define POLICY_NAME_RULES \
	"1 to 63 characters of a-z 0-9 . _ -, starting and ending with a " \
	"letter or digit"

/* A portal's entry in policy.by_portal. */
struct policy_portal {
	struct hmap_node	 node;
	char			 name[NP_NAME_MAX + 1];
	uint32_t		*rules;		/* owned: indexes, file order */
	size_t			 n, cap;
};

struct policy_group {
	char			 name[NP_NAME_MAX + 1];
	char			(*members)[NP_NAME_MAX + 1];
	size_t			 n;
};

struct policy_load {
	const char		*file;
	struct conf_errors	*errs;
	struct policy_limits	 lim;		/* no zero field */
	struct policy_group	*groups;
	size_t			 ngroups;
	struct policy		*p;
	int			 failed;
	int			 nomem;
};

static int	policy_index_rule(struct policy *p, size_t i);
static void	policy_fail(struct policy_load *ld, unsigned long line,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
policy_fail(struct policy_load *ld, unsigned long line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ld->failed = 1;
	if (conf_errorf(ld->errs, ld->file, line, "%s", msg) != 0)
		ld->nomem = 1;
}

static const char *
policy_kind(const struct ytree_node *n)
{
	switch (n->kind) {
	case YTREE_SCALAR:
		return "a scalar";
	case YTREE_SEQ:
		return "a list";
	case YTREE_MAP:
		return "a mapping";
	}
	return "?";
}

static int
policy_name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Sorts names and removes duplicates; returns the new count. */
static size_t
policy_names_unique(char (*v)[NP_NAME_MAX + 1], size_t n)
{
	size_t i, out = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), policy_name_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(v[i], v[out]) != 0)
			memcpy(v[++out], v[i], sizeof(*v));
	return out + 1;
}

static const struct policy_group *
policy_group_find(const struct policy_load *ld, const char *name)
{
	size_t i;

	for (i = 0; i < ld->ngroups; i++)
		if (strcmp(ld->groups[i].name, name) == 0)
			return &ld->groups[i];
	return NULL;
}

static void
policy_parse_groups(struct policy_load *ld, const struct ytree_node *node)
{
	const struct ytree_pair *pair;
	const struct ytree_node *list, *m;
	struct policy_group *g;
	size_t i, j;

	if (node->kind != YTREE_MAP) {
		policy_fail(ld, node->line, "groups: is %s; expected a mapping "
		    "of group names to lists of portal names", policy_kind(node));
		return;
	}
	if (node->n > ld->lim.max_groups) {
		policy_fail(ld, node->line, "groups: %zu groups; expected at "
		    "most %zu (" POLICY_KEY_MAX_GROUPS ")", node->n,
		    ld->lim.max_groups);
		return;
	}
	if ((ld->groups = calloc(node->n ? node->n : 1,
	    sizeof(*ld->groups))) == NULL) {
		ld->nomem = 1;
		return;
	}
	for (i = 0; i < node->n; i++) {
		pair = &node->pairs[i];
		list = pair->value;
		if (identity_name_check(pair->key) != 0) {
			policy_fail(ld, pair->line, "groups.%.64s: invalid group "
			    "name; expected " POLICY_NAME_RULES, pair->key);
			continue;
		}
		if (list->kind != YTREE_SEQ) {
			policy_fail(ld, list->line, "groups.%s: is %s; expected "
			    "a list of portal names", pair->key,
			    policy_kind(list));
			continue;
		}
		if (list->n > ld->lim.max_members) {
			policy_fail(ld, list->line, "groups.%s: %zu members; "
			    "expected at most %zu (" POLICY_KEY_MAX_MEMBERS ")",
			    pair->key, list->n, ld->lim.max_members);
			continue;
		}
		g = &ld->groups[ld->ngroups];
		snprintf(g->name, sizeof(g->name), "%s", pair->key);
		if (list->n && (g->members = calloc(list->n,
		    sizeof(*g->members))) == NULL) {
			ld->nomem = 1;
			return;
		}
		for (j = 0; j < list->n; j++) {
			m = list->items[j];
			if (m->kind != YTREE_SCALAR ||
			    identity_name_check(m->scalar) != 0) {
				policy_fail(ld, m->line, "groups.%s: '%.64s' is "
				    "not a portal name; expected "
				    POLICY_NAME_RULES, pair->key,
				    m->kind == YTREE_SCALAR ? m->scalar :
				    policy_kind(m));
				continue;
			}
			snprintf(g->members[g->n++], NP_NAME_MAX + 1, "%s",
			    m->scalar);
		}
		g->n = policy_names_unique(g->members, g->n);
		ld->ngroups++;
	}
}

/* Adds one client entry ("portal" or "@group") to the rule. */
static void
policy_add_client(struct policy_load *ld, struct policy_rule *r, size_t idx,
    const struct ytree_node *n, size_t *cap)
{
	const struct policy_group *g;
	const char *s;
	void *grown;
	size_t need, k;

	if (n->kind != YTREE_SCALAR) {
		policy_fail(ld, n->line, "rules[%zu].client: entry is %s; "
		    "expected a portal name or @group", idx, policy_kind(n));
		return;
	}
	s = n->scalar;
	if (s[0] == '@') {
		if ((g = policy_group_find(ld, s + 1)) == NULL) {
			policy_fail(ld, n->line, "rules[%zu].client: unknown "
			    "group '%.64s'; expected a group defined under "
			    "groups", idx, s + 1);
			return;
		}
		need = g->n;
	} else {
		if (identity_name_check(s) != 0) {
			policy_fail(ld, n->line, "rules[%zu].client: '%.64s' is "
			    "not a portal name; expected " POLICY_NAME_RULES
			    " or @group", idx, s);
			return;
		}
		g = NULL;
		need = 1;
	}
	if (r->nclients + need > *cap) {
		*cap = (r->nclients + need) * 2;
		if ((grown = realloc(r->clients, *cap *
		    sizeof(*r->clients))) == NULL) {
			ld->nomem = 1;
			return;
		}
		r->clients = grown;
	}
	if (g == NULL) {
		snprintf(r->clients[r->nclients++], NP_NAME_MAX + 1, "%s", s);
		return;
	}
	for (k = 0; k < g->n; k++)
		memcpy(r->clients[r->nclients++], g->members[k],
		    sizeof(*r->clients));
}

/*
 * "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ".  Written by hand
 * because strptime accepts more than it should (leading spaces, short
 * fields) and we want one exact format.
 */
static int
policy_parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	size_t len = strlen(s);
	time_t t;

	if (len == 10) {
		if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
			return -1;
	} else if (len == 20 && s[10] == 'T' && s[19] == 'Z') {
		if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h,
		    &mi, &sec, &n) != 6 || n != 20)
			return -1;
	} else
		return -1;
	if (s[4] != '-' || s[7] != '-' || y < 1970 || y > 9999 || mo < 1 ||
	    mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    h < 0 || mi < 0 || sec < 0)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm normalises 31 February into March: refuse such dates. */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -1;
	*out = (int64_t)t;
	return 0;
}

static const char *const policy_rule_keys =
    "name, client, listen, protocol, service, target, ports, to, as, mode, "
    "expires, direct, description";

/* Default file mode of a rule's Unix socket listener: owner and group. */
#define POLICY_DEFAULT_MODE	0660

/* One protocol name into *protos; 0, or -1 when it is none. */
static int
policy_protocol_add(const char *s, unsigned *protos)
{
	if (strcmp(s, "tcp") == 0)
		*protos |= POLICY_TCP;
	else if (strcmp(s, "udp") == 0)
		*protos |= POLICY_UDP;
	else
		return -1;
	return 0;
}

/* protocol: tcp, udp, "tcp,udp" or [tcp, udp]. */
static void
policy_parse_protocol(struct policy_load *ld, size_t idx,
    const struct ytree_node *v, unsigned *protos)
{
	char tmp[16], *tok, *save;
	size_t j;
	int bad = 0;

	*protos = 0;
	if (v->kind == YTREE_SEQ) {
		for (j = 0; j < v->n; j++)
			if (v->items[j]->kind != YTREE_SCALAR ||
			    policy_protocol_add(v->items[j]->scalar,
			    protos) != 0)
				bad = 1;
	} else if (v->kind == YTREE_SCALAR && strlen(v->scalar) < sizeof(tmp)) {
		snprintf(tmp, sizeof(tmp), "%s", v->scalar);
		for (tok = strtok_r(tmp, ", ", &save); tok;
		    tok = strtok_r(NULL, ", ", &save))
			if (policy_protocol_add(tok, protos) != 0)
				bad = 1;
	} else
		bad = 1;
	if (bad || *protos == 0) {
		policy_fail(ld, v->line, "rules[%zu].protocol: '%.64s' is not "
		    "supported; expected tcp, udp, or both as [tcp, udp]", idx,
		    v->kind == YTREE_SCALAR ? v->scalar : policy_kind(v));
		*protos = POLICY_TCP;
	}
}

/* ports: "80,443,8000-8100", "*", a number, or a list of those. */
static int
policy_parse_ports(struct policy_load *ld, size_t idx,
    const struct ytree_node *v, struct portset *out)
{
	struct portset one;
	char why[160];
	const struct ytree_node *item;
	size_t j, k, n = v->kind == YTREE_SEQ ? v->n : 1;

	memset(out, 0, sizeof(*out));
	for (j = 0; j < n; j++) {
		item = v->kind == YTREE_SEQ ? v->items[j] : v;
		if (item->kind != YTREE_SCALAR) {
			policy_fail(ld, item->line, "rules[%zu].ports: is %s; "
			    "expected ports and ranges like 80,443,8000-8100",
			    idx, policy_kind(item));
			return -1;
		}
		if (portset_parse(item->scalar, &one, why, sizeof(why)) != 0) {
			policy_fail(ld, item->line, "rules[%zu].ports: %s; "
			    "expected ports and ranges like 80,443,8000-8100, "
			    "or *", idx, why);
			return -1;
		}
		for (k = 0; k < one.n; k++)
			if (portset_add(out, one.r[k].lo, one.r[k].hi) != 0) {
				policy_fail(ld, item->line, "rules[%zu].ports: "
				    "more than %d ranges; expected fewer",
				    idx, PORTSET_MAX_RANGES);
				return -1;
			}
	}
	if (out->n == 0) {
		policy_fail(ld, v->line, "rules[%zu].ports: empty; expected "
		    "ports and ranges like 80,443,8000-8100", idx);
		return -1;
	}
	return 0;
}

/*
 * A host without a port, for a rule whose `ports` give the ports: an
 * address, [v6] or a bare v6 address, or a name.  The port reads as 0.
 */
static int
policy_parse_host(const char *s, struct conf_endpoint *ep, char *why,
    size_t whylen)
{
	char tmp[CONF_HOST_MAX + 8];
	struct in6_addr a6;
	size_t len = strlen(s);

	if (strncmp(s, "unix:", 5) == 0) {
		snprintf(why, whylen, "a Unix socket cannot have ports");
		return -1;
	}
	if (len > CONF_HOST_MAX) {
		snprintf(why, whylen, "host name longer than %d bytes",
		    CONF_HOST_MAX);
		return -1;
	}
	if (s[0] == '[' && len > 2 && s[len - 1] == ']')
		snprintf(tmp, sizeof(tmp), "%s:0", s);
	else if (inet_pton(AF_INET6, s, &a6) == 1)
		snprintf(tmp, sizeof(tmp), "[%s]:0", s);
	else if (strchr(s, ':') != NULL) {
		snprintf(why, whylen, "'%.64s' has a port", s);
		return -1;
	} else
		snprintf(tmp, sizeof(tmp), "%s:0", s);
	return conf_endpoint_parse(tmp, 0, 0, ep, why, whylen);
}

/* Which keys a rule gave, and where. */
struct policy_rule_keys {
	const struct ytree_node	*listen, *target, *ports, *to, *as, *mode;
	int			 have_name, have_client, have_service;
	int			 ports_given;	/* listen, target: hosts only */
	int			 listen_ok;
};

/* listen or target of a listener rule, as soon as it is met; 0 if good. */
static int
policy_parse_endpoint(struct policy_load *ld, size_t idx, const char *key,
    const struct ytree_node *v, int hosts_only, struct conf_endpoint *ep)
{
	char why[256];

	if ((hosts_only ? policy_parse_host(v->scalar, ep, why, sizeof(why)) :
	    conf_endpoint_parse_any(v->scalar, 1, 65535, ep, why,
	    sizeof(why))) == 0)
		return 0;
	policy_fail(ld, v->line, "rules[%zu].%s: %s; expected %s", idx,
	    key, why, hosts_only ? "a host without a port (ports: gives "
	    "them)" : "host:port with port 1..65535, or unix:/path");
	return -1;
}

static void
policy_rule_endpoints(struct policy_load *ld, size_t idx,
    const struct policy_rule_keys *k, struct policy_rule *r)
{
	if (k->ports && r->has_ports &&
	    portset_count(&r->ports) > POLICY_MAX_LISTEN_PORTS)
		policy_fail(ld, k->ports->line, "rules[%zu].ports: %u ports; "
		    "expected at most %d for a listener rule (a socket each)",
		    idx, portset_count(&r->ports), POLICY_MAX_LISTEN_PORTS);
	if ((r->protos & POLICY_UDP) && (r->listen.is_unix ||
	    r->target.is_unix))
		policy_fail(ld, r->line, "rules[%zu]: a udp rule cannot use "
		    "a Unix socket; expected host:port for listen and target",
		    idx);
	if (k->mode && k->listen_ok && !r->listen.is_unix)
		policy_fail(ld, k->mode->line, "rules[%zu].mode: applies only "
		    "to a Unix socket listener; expected listen: unix:/path, "
		    "or no mode", idx);
}

static void
policy_rule_capture(struct policy_load *ld, size_t idx,
    const struct policy_rule_keys *k, struct policy_rule *r)
{
	char why[256], a[PREFIX_TEXT_MAX], b[PREFIX_TEXT_MAX];

	r->capture = 1;
	if (k->listen || k->target || k->mode)
		policy_fail(ld, (k->listen ? k->listen : k->target ? k->target :
		    k->mode)->line, "rules[%zu]: a capture rule (to:) has no "
		    "listen, target or mode; expected to, ports and optionally "
		    "as", idx);
	if (prefix_parse(k->to->scalar, &r->to, why, sizeof(why)) != 0)
		policy_fail(ld, k->to->line, "rules[%zu].to: %s; expected an "
		    "address range like 192.168.1.0/24", idx, why);
	if (k->as && prefix_parse(k->as->scalar, &r->as, why,
	    sizeof(why)) != 0)
		policy_fail(ld, k->as->line, "rules[%zu].as: %s; expected an "
		    "address range like 100.64.1.0/24", idx, why);
	else if (k->as && r->to.family && (r->as.family != r->to.family ||
	    r->as.len != r->to.len)) {
		prefix_format(&r->as, a, sizeof(a));
		prefix_format(&r->to, b, sizeof(b));
		policy_fail(ld, k->as->line, "rules[%zu].as: %s does not "
		    "match to: %s; expected a range of the same family and "
		    "length", idx, a, b);
	}
	if (k->ports == NULL)
		policy_fail(ld, r->line, "rules[%zu].ports: missing; expected "
		    "the ports to capture, like 80,443,8000-8100 or *", idx);
}

static void
policy_parse_rule(struct policy_load *ld, size_t idx,
    const struct ytree_node *node, struct policy_rule *r)
{
	const struct ytree_pair *pair;
	const struct ytree_node *v;
	struct policy_rule_keys k;
	size_t i, cap = 0;

	memset(&k, 0, sizeof(k));
	r->line = node->line;
	k.ports_given = node->kind == YTREE_MAP &&
	    ytree_map_get(node, "ports") != NULL &&
	    ytree_map_get(node, "to") == NULL;
	r->protos = POLICY_TCP;
	r->listen_mode = POLICY_DEFAULT_MODE;
	if (node->kind != YTREE_MAP) {
		policy_fail(ld, node->line, "rules[%zu]: is %s; expected a "
		    "mapping with %s", idx, policy_kind(node),
		    policy_rule_keys);
		return;
	}
	for (i = 0; i < node->n; i++) {
		pair = &node->pairs[i];
		v = pair->value;
		if (strcmp(pair->key, "client") == 0) {
			k.have_client = 1;
			if (v->kind == YTREE_SEQ) {
				for (size_t j = 0; j < v->n; j++)
					policy_add_client(ld, r, idx,
					    v->items[j], &cap);
			} else
				policy_add_client(ld, r, idx, v, &cap);
			continue;
		}
		if (strcmp(pair->key, "protocol") == 0) {
			policy_parse_protocol(ld, idx, v, &r->protos);
			continue;
		}
		if (strcmp(pair->key, "ports") == 0) {
			k.ports = v;
			if (policy_parse_ports(ld, idx, v, &r->ports) == 0)
				r->has_ports = 1;
			continue;
		}
		if (strcmp(pair->key, "name") != 0 &&
		    strcmp(pair->key, "listen") != 0 &&
		    strcmp(pair->key, "service") != 0 &&
		    strcmp(pair->key, "target") != 0 &&
		    strcmp(pair->key, "to") != 0 &&
		    strcmp(pair->key, "as") != 0 &&
		    strcmp(pair->key, "expires") != 0 &&
		    strcmp(pair->key, "mode") != 0 &&
		    strcmp(pair->key, "direct") != 0 &&
		    strcmp(pair->key, "description") != 0) {
			policy_fail(ld, pair->line, "rules[%zu].%.64s: unknown "
			    "key; expected one of %s", idx, pair->key,
			    policy_rule_keys);
			continue;
		}
		/* Present counts as given, valid or not: one message each. */
		if (strcmp(pair->key, "name") == 0)
			k.have_name = 1;
		else if (strcmp(pair->key, "service") == 0)
			k.have_service = 1;
		if (v->kind != YTREE_SCALAR) {
			policy_fail(ld, v->line, "rules[%zu].%s: is %s; "
			    "expected a scalar", idx, pair->key,
			    policy_kind(v));
			continue;
		}
		if (strcmp(pair->key, "listen") == 0) {
			k.listen = v;
			if (ytree_map_get(node, "to") == NULL &&
			    policy_parse_endpoint(ld, idx, "listen", v,
			    k.ports_given, &r->listen) == 0)
				k.listen_ok = 1;
		} else if (strcmp(pair->key, "target") == 0) {
			k.target = v;
			if (ytree_map_get(node, "to") == NULL)
				(void)policy_parse_endpoint(ld, idx, "target",
				    v, k.ports_given, &r->target);
		} else if (strcmp(pair->key, "to") == 0)
			k.to = v;
		else if (strcmp(pair->key, "as") == 0)
			k.as = v;
		else if (strcmp(pair->key, "name") == 0) {
			if (identity_name_check(v->scalar) != 0) {
				policy_fail(ld, v->line, "rules[%zu].name: "
				    "'%.64s' is not a valid rule name; "
				    "expected " POLICY_NAME_RULES, idx,
				    v->scalar);
				continue;
			}
			snprintf(r->name, sizeof(r->name), "%s", v->scalar);
		} else if (strcmp(pair->key, "service") == 0) {
			if (identity_name_check(v->scalar) != 0) {
				policy_fail(ld, v->line, "rules[%zu].service: "
				    "'%.64s' is not a portal name; expected "
				    POLICY_NAME_RULES " (one portal, not a "
				    "group)", idx, v->scalar);
				continue;
			}
			snprintf(r->service, sizeof(r->service), "%s",
			    v->scalar);
		} else if (strcmp(pair->key, "mode") == 0) {
			char *end;
			unsigned long m;

			k.mode = v;
			errno = 0;
			m = strtoul(v->scalar, &end, 8);
			if (errno || *end || v->scalar[0] < '0' ||
			    v->scalar[0] > '7' || m > 0777) {
				policy_fail(ld, v->line, "rules[%zu].mode: "
				    "'%.64s' is not a file mode; expected octal "
				    "digits like 0660", idx, v->scalar);
				continue;
			}
			r->listen_mode = (unsigned)m;
		} else if (strcmp(pair->key, "direct") == 0) {
			if (strcmp(v->scalar, "auto") == 0)
				r->direct_off = 0;
			else if (strcmp(v->scalar, "off") == 0)
				r->direct_off = 1;
			else {
				policy_fail(ld, v->line, "rules[%zu].direct: "
				    "'%.64s' is not a choice; expected auto or "
				    "off", idx, v->scalar);
				continue;
			}
		} else if (strcmp(pair->key, "expires") == 0) {
			if (policy_parse_time(v->scalar, &r->expires) != 0) {
				policy_fail(ld, v->line, "rules[%zu].expires: "
				    "'%.64s' is not a date; expected "
				    "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)",
				    idx, v->scalar);
				continue;
			}
		}
		/* description: free text for people, not used. */
	}
	if (!k.have_name)
		policy_fail(ld, node->line, "rules[%zu].name: missing; expected "
		    "a rule name", idx);
	if (!k.have_client)
		policy_fail(ld, node->line, "rules[%zu].client: missing; "
		    "expected a portal name, @group, or a list of them", idx);
	if (!k.to && !k.as && k.listen == NULL)
		policy_fail(ld, node->line, "rules[%zu].listen: missing; "
		    "expected host:port where the client portal listens", idx);
	if (!k.have_service)
		policy_fail(ld, node->line, "rules[%zu].service: missing; "
		    "expected the name of the portal that reaches the target",
		    idx);
	if (!k.to && !k.as && k.target == NULL)
		policy_fail(ld, node->line, "rules[%zu].target: missing; "
		    "expected host:port the service portal connects to", idx);
	if (k.to)
		policy_rule_capture(ld, idx, &k, r);
	else if (k.as)
		policy_fail(ld, k.as->line, "rules[%zu].as: only a capture rule "
		    "maps a range; expected to: with it", idx);
	else
		policy_rule_endpoints(ld, idx, &k, r);
	r->nclients = policy_names_unique(r->clients, r->nclients);
	if (r->service[0] && r->nclients && bsearch(r->service, r->clients, r->nclients,
	    sizeof(*r->clients), policy_name_cmp) != NULL)
		policy_fail(ld, node->line, "rules[%zu].client: portal %s is "
		    "also the service; expected a rule between two different "
		    "portals", idx, r->service);
}

/*
 * One client portal's claim on a listen address's port range (listener
 * rules), or on a client-side address range (capture rules), for one
 * protocol.
 */
struct policy_binding {
	const char		*client;
	const struct policy_rule *rule;
	unsigned		 proto;		/* POLICY_TCP or POLICY_UDP */
	uint16_t		 lo, hi;	/* listener: the ports */
	const struct prefix	*range;		/* capture: as, or to */
};

static int
policy_binding_cmp(const void *a, const void *b)
{
	const struct policy_binding *x = a, *y = b;
	int c;

	if ((c = strcmp(x->client, y->client)) != 0)
		return c;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->range) {
		if (x->range->family != y->range->family)
			return x->range->family < y->range->family ? -1 : 1;
		if (x->range->len != y->range->len)
			return x->range->len < y->range->len ? -1 : 1;
		if ((c = memcmp(x->range->addr, y->range->addr,
		    sizeof(x->range->addr))) != 0)
			return c;
	} else {
		if ((c = strcmp(x->rule->listen.host,
		    y->rule->listen.host)) != 0)
			return c;
		if (x->lo != y->lo)
			return x->lo < y->lo ? -1 : 1;
	}
	return x->rule->line < y->rule->line ? -1 :
	    x->rule->line > y->rule->line;
}

static int
policy_rule_cmp(const void *a, const void *b)
{
	const struct policy_rule *const *x = a, *const *y = b;
	int c;

	if ((c = strcmp((*x)->name, (*y)->name)) != 0)
		return c;
	return (*x)->line < (*y)->line ? -1 : (*x)->line > (*y)->line;
}

static const char *
policy_proto_name(unsigned proto)
{
	return proto == POLICY_UDP ? "udp" : "tcp";
}

/* Listener bindings sorted: a port range that reaches into the next. */
static void
policy_check_listens(struct policy_load *ld, const struct policy_binding *b,
    size_t n)
{
	const struct policy_binding *reach = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (reach == NULL || strcmp(b[i].client, reach->client) != 0 ||
		    b[i].proto != reach->proto ||
		    strcmp(b[i].rule->listen.host,
		    reach->rule->listen.host) != 0) {
			reach = &b[i];
			continue;
		}
		if (b[i].lo <= reach->hi)
			policy_fail(ld, b[i].rule->line, "rules: portal %s "
			    "would listen on %s:%u for both rule '%s' (line "
			    "%lu) and rule '%s'; expected one rule per client "
			    "portal and listen address", b[i].client,
			    b[i].rule->listen.host, b[i].lo, reach->rule->name,
			    reach->rule->line, b[i].rule->name);
		if (b[i].hi > reach->hi)
			reach = &b[i];
	}
}

/*
 * Capture bindings sorted: two rules of one client on the same range with
 * a port in common.  Ranges of different lengths may overlap: the longest
 * prefix that matches a destination wins, as in a routing table.
 */
static void
policy_check_captures(struct policy_load *ld,
    const struct policy_binding *b, size_t n)
{
	char range[PREFIX_TEXT_MAX];
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n && strcmp(b[j].client,
		    b[i].client) == 0 && b[j].proto == b[i].proto &&
		    prefix_equal(b[j].range, b[i].range); j++) {
			if (!portset_overlaps(&b[i].rule->ports,
			    &b[j].rule->ports))
				continue;
			prefix_format(b[i].range, range, sizeof(range));
			policy_fail(ld, b[j].rule->line, "rules: portal %s "
			    "would capture %s %s on ports that both rule '%s' "
			    "(line %lu) and rule '%s' name; expected disjoint "
			    "ports, or a more specific range (the longest "
			    "prefix wins)", b[i].client,
			    policy_proto_name(b[i].proto), range,
			    b[i].rule->name, b[i].rule->line, b[j].rule->name);
		}
}

/* Bindings of one rule (NULL b: only counts them). */
static size_t
policy_rule_bindings(const struct policy_rule *r, struct policy_binding *b)
{
	static const unsigned protos[] = { POLICY_TCP, POLICY_UDP };
	size_t n = 0, c, k, q, nranges;

	nranges = r->capture ? 1 : r->has_ports ? r->ports.n : 1;
	for (c = 0; c < r->nclients; c++)
		for (q = 0; q < 2; q++) {
			if (!(r->protos & protos[q]))
				continue;
			for (k = 0; k < nranges; k++, n++) {
				if (b == NULL)
					continue;
				b[n].client = r->clients[c];
				b[n].rule = r;
				b[n].proto = protos[q];
				if (r->capture) {
					b[n].range = r->as.family ? &r->as :
					    &r->to;
				} else if (r->has_ports) {
					b[n].lo = r->ports.r[k].lo;
					b[n].hi = r->ports.r[k].hi;
				} else
					b[n].lo = b[n].hi = r->listen.port;
			}
		}
	return n;
}

/*
 * Rule names are unique; no client portal listens twice on one port, or
 * captures one range's port for two rules.
 */
static void
policy_check_conflicts(struct policy_load *ld)
{
	struct policy *p = ld->p;
	struct policy_binding *b = NULL;
	const struct policy_rule **byname = NULL;
	size_t i, n = 0, ncap = 0;

	if (p->nrules == 0)
		return;
	if ((byname = calloc(p->nrules, sizeof(*byname))) == NULL)
		goto nomem;
	for (i = 0; i < p->nrules; i++)
		byname[i] = &p->rules[i];
	qsort(byname, p->nrules, sizeof(*byname), policy_rule_cmp);
	for (i = 1; i < p->nrules; i++)
		if (byname[i]->name[0] &&
		    strcmp(byname[i]->name, byname[i - 1]->name) == 0)
			policy_fail(ld, byname[i]->line, "rules: duplicate rule "
			    "name '%s' (first at line %lu); expected unique "
			    "names", byname[i]->name, byname[i - 1]->line);

	for (i = 0; i < p->nrules; i++)
		n += policy_rule_bindings(&p->rules[i], NULL);
	if (n > ld->lim.max_bindings) {
		policy_fail(ld, 1, "rules: %zu clients in all (groups "
		    "expanded); expected at most %zu (" POLICY_KEY_MAX_BINDINGS
		    ")", n, ld->lim.max_bindings);
		goto out;
	}
	if (n == 0 || (b = calloc(n, sizeof(*b))) == NULL) {
		if (n)
			goto nomem;
		goto out;
	}
	/* Capture bindings first, then listener bindings: sorted apart. */
	n = 0;
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].capture)
			n += policy_rule_bindings(&p->rules[i], b + n);
	ncap = n;
	for (i = 0; i < p->nrules; i++)
		if (!p->rules[i].capture)
			n += policy_rule_bindings(&p->rules[i], b + n);
	qsort(b, ncap, sizeof(*b), policy_binding_cmp);
	qsort(b + ncap, n - ncap, sizeof(*b), policy_binding_cmp);
	policy_check_captures(ld, b, ncap);
	policy_check_listens(ld, b + ncap, n - ncap);
	goto out;
nomem:
	ld->nomem = 1;
out:
	free(b);
	free(byname);
}

void
policy_free(struct policy *p)
{
	struct hmap_node *n, *next;
	struct policy_portal *pp;
	size_t i, iter = 0;

	if (p == NULL)
		return;
	for (n = hmap_first(&p->by_portal, &iter); n; n = next) {
		next = hmap_next(&p->by_portal, n, &iter);
		pp = hmap_entry(n, struct policy_portal, node);
		free(pp->rules);
		free(pp);
	}
	hmap_release(&p->by_portal);
	for (i = 0; i < p->nrules; i++)
		free(p->rules[i].clients);
	hmap_release(&p->by_name);
	free(p->rules);
	free(p);
}

/* The limits a load applies: the caller's, and the defaults for the rest. */
static void
policy_limits_resolve(const struct policy_limits *in, struct policy_limits *out)
{
	static const struct policy_limits none;

	if (in == NULL)
		in = &none;
	out->max_rules = in->max_rules ? in->max_rules :
	    POLICY_DEFAULT_MAX_RULES;
	out->max_members = in->max_members ? in->max_members :
	    POLICY_DEFAULT_MAX_MEMBERS;
	out->max_nodes = in->max_nodes ? in->max_nodes :
	    POLICY_DEFAULT_MAX_NODES;
	out->max_file = in->max_file ? in->max_file :
	    (size_t)POLICY_DEFAULT_MAX_FILE_MIB * 1024 * 1024;
	out->max_groups = in->max_groups ? in->max_groups :
	    POLICY_DEFAULT_MAX_GROUPS;
	out->max_bindings = in->max_bindings ? in->max_bindings :
	    POLICY_DEFAULT_MAX_BINDINGS;
}

int
policy_parse(const char *name, const char *text, size_t len,
    struct policy **out, struct conf_errors *errs)
{
	return policy_parse_limits(name, text, len, NULL, out, errs);
}

int
policy_parse_limits(const char *name, const char *text, size_t len,
    const struct policy_limits *limits, struct policy **out,
    struct conf_errors *errs)
{
	struct ytree_node *root = NULL;
	const struct ytree_node *groups, *rules;
	struct ytree_limits ylim = { .nodes_key = POLICY_KEY_MAX_NODES };
	struct policy_load ld;
	size_t i;
	int r;

	*out = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.file = name;
	ld.errs = errs;
	policy_limits_resolve(limits, &ld.lim);
	ylim.max_nodes = ld.lim.max_nodes;
	if ((r = ytree_parse(name, text, len, &ylim, &root, errs)) != 0)
		return r;
	if ((ld.p = calloc(1, sizeof(*ld.p))) == NULL)
		goto nomem;
	if (root->kind != YTREE_MAP) {
		policy_fail(&ld, root->line, "policy: is %s; expected a mapping "
		    "with groups and rules", policy_kind(root));
		goto done;
	}
	for (i = 0; i < root->n; i++)
		if (strcmp(root->pairs[i].key, "groups") != 0 &&
		    strcmp(root->pairs[i].key, "rules") != 0)
			policy_fail(&ld, root->pairs[i].line, "%.64s: unknown "
			    "key; expected groups or rules",
			    root->pairs[i].key);
	/* Groups first, wherever they are in the file: rules refer to them. */
	if ((groups = ytree_map_get(root, "groups")) != NULL)
		policy_parse_groups(&ld, groups);
	if (ld.nomem)
		goto nomem;
	rules = ytree_map_get(root, "rules");
	if (rules == NULL)
		goto done;	/* no rules: nothing is allowed */
	if (rules->kind != YTREE_SEQ) {
		policy_fail(&ld, rules->line, "rules: is %s; expected a list of "
		    "rules", policy_kind(rules));
		goto done;
	}
	if (rules->n > ld.lim.max_rules) {
		policy_fail(&ld, rules->line, "rules: %zu rules; expected at "
		    "most %zu (" POLICY_KEY_MAX_RULES ")", rules->n,
		    ld.lim.max_rules);
		goto done;
	}
	if (rules->n && (ld.p->rules = calloc(rules->n,
	    sizeof(*ld.p->rules))) == NULL)
		goto nomem;
	ld.p->nrules = rules->n;
	for (i = 0; i < rules->n && !ld.nomem; i++)
		policy_parse_rule(&ld, i, rules->items[i], &ld.p->rules[i]);
	if (!ld.nomem && !ld.failed)
		policy_check_conflicts(&ld);
	/* Each tunnel request finds its rule by name: a hash, not a walk. */
	for (i = 0; i < ld.p->nrules && !ld.nomem && !ld.failed; i++)
		if (hmap_insert(&ld.p->by_name, &ld.p->rules[i].name_node,
		    hmap_hash_bytes(ld.p->rules[i].name,
		    strlen(ld.p->rules[i].name))) != 0 ||
		    policy_index_rule(ld.p, i) != 0)
			ld.nomem = 1;
done:
	if (ld.nomem)
		goto nomem;
	r = ld.failed ? NP_ECONFIG : 0;
	if (r == 0) {
		*out = ld.p;
		ld.p = NULL;
	}
	goto out;
nomem:
	r = -ENOMEM;
out:
	for (i = 0; i < ld.ngroups; i++)
		free(ld.groups[i].members);
	free(ld.groups);
	policy_free(ld.p);
	ytree_free(root);
	return r;
}

int
policy_read_file(const char *path, const struct policy_limits *limits,
    char **text, size_t *len, struct conf_errors *errs)
{
	struct policy_limits lim;
	struct stat st;
	size_t n = 0;
	ssize_t got;
	int fd, r = 0;

	*text = NULL;
	*len = 0;
	policy_limits_resolve(limits, &lim);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		goto fail;
	}
	if (fstat(fd, &st) != 0) {
		r = -errno;
		goto fail;
	}
	/* The whole text is held while it is parsed: bound it first. */
	if ((unsigned long long)st.st_size > lim.max_file) {
		(void)conf_errorf(errs, path, 0, "%lld bytes; expected at most "
		    "%zu (" POLICY_KEY_MAX_FILE ")", (long long)st.st_size,
		    lim.max_file);
		r = NP_ECONFIG;
		goto out;
	}
	if ((*text = malloc((size_t)st.st_size + 1)) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	/* A file that grows meanwhile is read as far as its size was. */
	while (n < (size_t)st.st_size) {
		got = read(fd, *text + n, (size_t)st.st_size - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	(*text)[n] = '\0';
	*len = n;
	goto out;
fail:
	(void)conf_errorf(errs, path, 0, "cannot read: %s", strerror(-r));
out:
	if (r != 0) {
		free(*text);
		*text = NULL;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int
policy_load_file(const char *path, const struct policy_limits *limits,
    struct policy **out, struct conf_errors *errs)
{
	char *text;
	size_t n;
	int r;

	*out = NULL;
	if ((r = policy_read_file(path, limits, &text, &n, errs)) != 0)
		return r;
	r = policy_parse_limits(path, text, n, limits, out, errs);
	free(text);
	return r;
}

static int
policy_portal_eq(const struct hmap_node *n, const void *key)
{
	return strcmp(hmap_entry_const(n, struct policy_portal, node)->name,
	    key) == 0;
}

static struct policy_portal *
policy_portal_get(const struct policy *p, const char *name)
{
	struct hmap_node *n;

	n = hmap_find(&p->by_portal, hmap_hash_bytes(name, strlen(name)),
	    policy_portal_eq, name);
	return n ? hmap_entry(n, struct policy_portal, node) : NULL;
}

/* Notes rule i under one portal; 0 or -1 when out of memory. */
static int
policy_index_add(struct policy *p, const char *name, size_t i)
{
	struct policy_portal *pp = policy_portal_get(p, name);
	uint32_t *grown;

	if (pp == NULL) {
		if ((pp = calloc(1, sizeof(*pp))) == NULL)
			return -1;
		snprintf(pp->name, sizeof(pp->name), "%s", name);
		if (hmap_insert(&p->by_portal, &pp->node,
		    hmap_hash_bytes(name, strlen(name))) != 0) {
			free(pp);
			return -1;
		}
	}
	if (pp->n == pp->cap) {
		pp->cap = pp->cap ? pp->cap * 2 : 4;
		if ((grown = realloc(pp->rules, pp->cap *
		    sizeof(*grown))) == NULL)
			return -1;
		pp->rules = grown;
	}
	pp->rules[pp->n++] = (uint32_t)i;
	return 0;
}

/* Rule i under its service portal and each client (distinct names). */
static int
policy_index_rule(struct policy *p, size_t i)
{
	const struct policy_rule *r = &p->rules[i];
	size_t j;

	if (policy_index_add(p, r->service, i) != 0)
		return -1;
	for (j = 0; j < r->nclients; j++)
		if (policy_index_add(p, r->clients[j], i) != 0)
			return -1;
	return 0;
}

size_t
policy_portal_rules(const struct policy *p, const char *portal,
    const uint32_t **idx)
{
	const struct policy_portal *pp = policy_portal_get(p, portal);

	*idx = pp ? pp->rules : NULL;
	return pp ? pp->n : 0;
}

static int
policy_rule_name_eq(const struct hmap_node *n, const void *key)
{
	return strcmp(hmap_entry_const(n, struct policy_rule,
	    name_node)->name, key) == 0;
}

const struct policy_rule *
policy_find(const struct policy *p, const char *name)
{
	const struct hmap_node *n;

	n = hmap_find(&p->by_name, hmap_hash_bytes(name, strlen(name)),
	    policy_rule_name_eq, name);
	return n ? hmap_entry_const(n, struct policy_rule, name_node) : NULL;
}

int
policy_rule_has_client(const struct policy_rule *r, const char *portal)
{
	return r->nclients && bsearch(portal, r->clients, r->nclients,
	    sizeof(*r->clients), policy_name_cmp) != NULL;
}

int
policy_rule_involves(const struct policy_rule *r, const char *portal)
{
	return strcmp(r->service, portal) == 0 ||
	    policy_rule_has_client(r, portal);
}

int
policy_rule_is_active(const struct policy_rule *r, int64_t now)
{
	return r->expires == 0 || now < r->expires;
}

int
policy_pair_direct_off(const struct policy *p, const char *a, const char *b,
    int64_t now)
{
	const struct policy_rule *r;
	const uint32_t *idx;
	size_t i, n = policy_portal_rules(p, a, &idx);

	for (i = 0; i < n; i++) {
		r = &p->rules[idx[i]];
		if (!r->direct_off || !policy_rule_is_active(r, now))
			continue;
		if ((strcmp(r->service, b) == 0 &&
		    policy_rule_has_client(r, a)) ||
		    (strcmp(r->service, a) == 0 &&
		    policy_rule_has_client(r, b)))
			return 1;
	}
	return 0;
}

int64_t
policy_next_expiry(const struct policy *p, int64_t now)
{
	int64_t next = 0;
	size_t i;

	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].expires > now &&
		    (next == 0 || p->rules[i].expires < next))
			next = p->rules[i].expires;
	return next;
}
