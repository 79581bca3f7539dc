/* SPDX-License-Identifier: MIT */
/* Policy parser: rules, groups, expiry, and each bad input's message. */
#include <stdlib.h>
#include <unistd.h>

#include "core/err.h"
#include "core/policy.h"
#include "t.h"

static struct policy *
t_parse_ok(const char *text)
{
	struct conf_errors errs = { 0, NULL };
	struct policy *p = NULL;
	int r;

	r = policy_parse("p.yaml", text, strlen(text), &p, &errs);
	if (r != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "  %s\n", errs.msg[i]);
		conf_errors_free(&errs);
		T_FAIL("parse failed: %s", np_strerror(r));
	}
	conf_errors_free(&errs);
	return p;
}

/* Parses text expecting failure; returns the messages joined by '|'. */
static char t_msgs[4096];

static const char *
t_parse_bad_limits(const char *text, const struct policy_limits *lim)
{
	struct conf_errors errs = { 0, NULL };
	struct policy *p = NULL;
	size_t i, off = 0;
	int r;

	r = policy_parse_limits("p.yaml", text, strlen(text), lim, &p, &errs);
	t_msgs[0] = '\0';
	for (i = 0; i < errs.n; i++)
		off += (size_t)snprintf(t_msgs + off, sizeof(t_msgs) - off,
		    "%s%s", i ? "|" : "", errs.msg[i]);
	conf_errors_free(&errs);
	policy_free(p);
	if (r != NP_ECONFIG)
		T_FAIL("expected NP_ECONFIG, got %d", r);
	return t_msgs;
}

static const char *
t_parse_bad(const char *text)
{
	return t_parse_bad_limits(text, NULL);
}

/*
 * A policy of n listener rules, each between portals of its own, and a
 * group of n members that the last rule takes as its clients (malloc'd).
 */
static char *
t_big_policy(size_t n)
{
	size_t cap = 64 + n * 160, len = 0, i;
	char *text;

	T_ASSERT((text = malloc(cap)) != NULL);
	len += (size_t)snprintf(text + len, cap - len, "groups:\n  all:\n");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len,
		    "    - m-%zu\n", i);
	len += (size_t)snprintf(text + len, cap - len, "rules:\n");
	for (i = 0; i < n; i++) {
		len += (size_t)snprintf(text + len, cap - len,
		    "  - {name: r%zu, client: ", i);
		len += (size_t)snprintf(text + len, cap - len, i + 1 < n ?
		    "c-%zu" : "\"@all\"", i);
		len += (size_t)snprintf(text + len, cap - len, ", listen: "
		    "\"127.0.0.1:1\", service: s-%zu, target: "
		    "\"127.0.0.1:2\"}\n", i);
	}
	T_ASSERT(len < cap);
	return text;
}

T_CASE(rules_and_groups)
{
	struct policy *p = t_parse_ok(
	    "rules:\n"
	    "  - name: cam-ssh\n"
	    "    client: [\"@ops\", laptop-x, anna]\n"
	    "    listen: 127.0.0.1:2222\n"
	    "    service: cam-17\n"
	    "    target: 127.0.0.1:22\n"
	    "    description: SSH on the camera\n"
	    "  - name: web\n"
	    "    client: anna\n"
	    "    listen: \"[::1]:8080\"\n"
	    "    protocol: tcp\n"
	    "    service: web-1\n"
	    "    target: localhost:80\n"
	    "    expires: 2030-01-02T03:04:05Z\n"
	    "groups:\n"
	    "  ops: [anna, bob]\n");
	const struct policy_rule *r;

	T_EQ_INT(p->nrules, 2);
	r = policy_find(p, "cam-ssh");
	T_ASSERT(r);
	T_EQ_INT(r->nclients, 3);		/* anna once, sorted */
	T_EQ_STR(r->clients[0], "anna");
	T_EQ_STR(r->clients[1], "bob");
	T_EQ_STR(r->clients[2], "laptop-x");
	T_ASSERT(policy_rule_has_client(r, "bob"));
	T_ASSERT(!policy_rule_has_client(r, "cam-17"));
	T_ASSERT(policy_rule_involves(r, "cam-17"));
	T_EQ_STR(r->listen.host, "127.0.0.1");
	T_EQ_INT(r->listen.port, 2222);
	T_EQ_INT(r->protos, POLICY_TCP);
	T_EQ_INT(r->expires, 0);
	T_ASSERT(policy_rule_is_active(r, 4000000000LL));
	r = policy_find(p, "web");
	T_ASSERT(r);
	T_EQ_STR(r->listen.host, "::1");
	T_EQ_INT(r->expires, 1893553445);
	T_ASSERT(policy_rule_is_active(r, 1893553444));
	T_ASSERT(!policy_rule_is_active(r, 1893553445));
	T_EQ_INT(policy_next_expiry(p, 0), 1893553445);
	T_EQ_INT(policy_next_expiry(p, 1893553445), 0);
	T_ASSERT(policy_find(p, "nope") == NULL);
	policy_free(p);
}

T_CASE(empty_policy_allows_nothing)
{
	struct policy *p = t_parse_ok("# nothing yet\n");

	T_EQ_INT(p->nrules, 0);
	policy_free(p);
}

T_CASE(date_only_expiry)
{
	struct policy *p = t_parse_ok(
	    "rules:\n"
	    "  - {name: a, client: x, listen: \"127.0.0.1:1\", service: y, "
	    "target: \"127.0.0.1:2\", expires: 2026-12-31}\n");

	T_EQ_INT(p->rules[0].expires, 1798675200);
	policy_free(p);
}

T_CASE(missing_and_unknown_keys)
{
	T_EQ_STR(t_parse_bad(
	    "rules:\n"
	    "  - name: a\n"
	    "    clinet: x\n"),
	    "p.yaml:3: rules[0].clinet: unknown key; expected one of name, "
	    "client, listen, protocol, service, target, ports, to, as, mode, "
	    "expires, direct, description|"
	    "p.yaml:2: rules[0].client: missing; expected a portal name, "
	    "@group, or a list of them|"
	    "p.yaml:2: rules[0].listen: missing; expected host:port where "
	    "the client portal listens|"
	    "p.yaml:2: rules[0].service: missing; expected the name of the "
	    "portal that reaches the target|"
	    "p.yaml:2: rules[0].target: missing; expected host:port the "
	    "service portal connects to");
	T_EQ_STR(t_parse_bad("rulez: []\n"),
	    "p.yaml:1: rulez: unknown key; expected groups or rules");
}

T_CASE(bad_values)
{
	T_EQ_STR(t_parse_bad(
	    "rules:\n"
	    "  - name: Bad Name\n"
	    "    client: \"@nogroup\"\n"
	    "    listen: 127.0.0.1:70000\n"
	    "    protocol: sctp\n"
	    "    service: \"@ops\"\n"
	    "    target: nohost\n"
	    "    expires: 2026-02-30\n"),
	    "p.yaml:2: rules[0].name: 'Bad Name' is not a valid rule name; "
	    "expected 1 to 63 characters of a-z 0-9 . _ -, starting and "
	    "ending with a letter or digit|"
	    "p.yaml:3: rules[0].client: unknown group 'nogroup'; expected a "
	    "group defined under groups|"
	    "p.yaml:4: rules[0].listen: port 70000 out of range; expected "
	    "host:port with port 1..65535, or unix:/path|"
	    "p.yaml:5: rules[0].protocol: 'sctp' is not supported; expected "
	    "tcp, udp, or both as [tcp, udp]|"
	    "p.yaml:6: rules[0].service: '@ops' is not a portal name; "
	    "expected 1 to 63 characters of a-z 0-9 . _ -, starting and "
	    "ending with a letter or digit (one portal, not a group)|"
	    "p.yaml:7: rules[0].target: 'nohost' has no port; expected "
	    "host:port with port 1..65535, or unix:/path|"
	    "p.yaml:8: rules[0].expires: '2026-02-30' is not a date; "
	    "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
}

T_CASE(conflicts)
{
	T_EQ_STR(t_parse_bad(
	    "groups: {g: [a, b]}\n"
	    "rules:\n"
	    "  - {name: r1, client: a, listen: \"127.0.0.1:80\", service: s, "
	    "target: \"127.0.0.1:80\"}\n"
	    "  - {name: r1, client: \"@g\", listen: \"127.0.0.1:80\", "
	    "service: t, target: \"127.0.0.1:80\"}\n"),
	    "p.yaml:4: rules: duplicate rule name 'r1' (first at line 3); "
	    "expected unique names|"
	    "p.yaml:4: rules: portal a would listen on 127.0.0.1:80 for both "
	    "rule 'r1' (line 3) and rule 'r1'; expected one rule per client "
	    "portal and listen address");
	T_EQ_STR(t_parse_bad(
	    "rules:\n"
	    "  - {name: self, client: a, listen: \"127.0.0.1:80\", service: a, "
	    "target: \"127.0.0.1:80\"}\n"),
	    "p.yaml:2: rules[0].client: portal a is also the service; "
	    "expected a rule between two different portals");
}

T_CASE(wrong_shapes)
{
	T_EQ_STR(t_parse_bad("- a\n- b\n"),
	    "p.yaml:1: policy: is a list; expected a mapping with groups and "
	    "rules");
	T_EQ_STR(t_parse_bad("rules: {a: 1}\n"),
	    "p.yaml:1: rules: is a mapping; expected a list of rules");
	T_EQ_STR(t_parse_bad("groups: [a]\n"),
	    "p.yaml:1: groups: is a list; expected a mapping of group names "
	    "to lists of portal names");
	T_EQ_STR(t_parse_bad("groups: {ops: anna}\n"),
	    "p.yaml:1: groups.ops: is a scalar; expected a list of portal "
	    "names");
	T_EQ_STR(t_parse_bad("rules: [x]\n"),
	    "p.yaml:1: rules[0]: is a scalar; expected a mapping with name, "
	    "client, listen, protocol, service, target, ports, to, as, mode, "
	    "expires, direct, description");
}

T_CASE(unix_sockets)
{
	struct policy *p = t_parse_ok(
	    "rules:\n"
	    "  - {name: docker, client: ops, listen: \"unix:/run/np/docker.sock\", "
	    "mode: \"0600\", service: host-1, target: \"unix:/run/docker.sock\"}\n"
	    "  - {name: web, client: ops, listen: \"127.0.0.1:8080\", "
	    "service: host-1, target: \"unix:/run/web.sock\"}\n");

	T_ASSERT(p->rules[0].listen.is_unix);
	T_EQ_STR(p->rules[0].listen.host, "/run/np/docker.sock");
	T_EQ_INT(p->rules[0].listen_mode, 0600);
	T_ASSERT(p->rules[0].target.is_unix);
	T_EQ_INT(p->rules[1].listen_mode, 0660);
	T_ASSERT(!p->rules[1].listen.is_unix);
	policy_free(p);
	T_EQ_STR(t_parse_bad(
	    "rules:\n"
	    "  - {name: a, client: x, listen: \"unix:@abstract\", service: y, "
	    "target: \"unix:relative\", mode: \"0999\"}\n"),
	    "p.yaml:2: rules[0].listen: abstract Unix socket names are not "
	    "supported; expected host:port with port 1..65535, or unix:/path|"
	    "p.yaml:2: rules[0].target: Unix socket path 'relative' is not "
	    "absolute; expected host:port with port 1..65535, or unix:/path|"
	    "p.yaml:2: rules[0].mode: '0999' is not a file mode; expected "
	    "octal digits like 0660");
	T_EQ_STR(t_parse_bad(
	    "rules:\n"
	    "  - {name: a, client: x, listen: \"127.0.0.1:1\", service: y, "
	    "target: \"127.0.0.1:2\", mode: \"0600\"}\n"),
	    "p.yaml:2: rules[0].mode: applies only to a Unix socket listener; "
	    "expected listen: unix:/path, or no mode");
}

/* direct: off on one rule keeps the pair of portals on relays, in
 * either direction, while the rule is active. */
T_CASE(direct_off_per_pair)
{
	struct policy *p = t_parse_ok(
	    "rules:\n"
	    "  - {name: ssh, client: [anna, bob], listen: \"127.0.0.1:1\", "
	    "service: cam, target: \"127.0.0.1:22\", direct: \"off\"}\n"
	    "  - {name: web, client: anna, listen: \"127.0.0.1:2\", "
	    "service: web1, target: \"127.0.0.1:80\", direct: auto}\n"
	    "  - {name: old, client: carl, listen: \"127.0.0.1:3\", "
	    "service: cam, target: \"127.0.0.1:22\", direct: \"off\", "
	    "expires: 2030-01-01}\n");

	T_ASSERT(policy_find(p, "ssh")->direct_off);
	T_ASSERT(!policy_find(p, "web")->direct_off);
	T_ASSERT(policy_pair_direct_off(p, "anna", "cam", 0));
	T_ASSERT(policy_pair_direct_off(p, "cam", "bob", 0));
	T_ASSERT(!policy_pair_direct_off(p, "anna", "web1", 0));
	T_ASSERT(!policy_pair_direct_off(p, "anna", "bob", 0));
	T_ASSERT(policy_pair_direct_off(p, "carl", "cam", 0));
	T_ASSERT(!policy_pair_direct_off(p, "carl", "cam", 1893456000LL));
	policy_free(p);
	T_EQ_STR(t_parse_bad(
	    "rules:\n"
	    "  - {name: a, client: x, listen: \"127.0.0.1:1\", service: y, "
	    "target: \"127.0.0.1:2\", direct: never}\n"),
	    "p.yaml:2: rules[0].direct: 'never' is not a choice; expected "
	    "auto or off");
}

T_CASE(capture_and_port_range_rules)
{
	struct policy *p = t_parse_ok(
	    "rules:\n"
	    "  - name: lan1\n"
	    "    client: gw\n"
	    "    service: s1\n"
	    "    to: 192.168.1.0/24\n"
	    "    as: 100.64.1.0/24\n"
	    "    ports: 22, 80,8000-8100\n"
	    "    protocol: [tcp, udp]\n"
	    "  - name: lan1-host\n"
	    "    client: gw\n"
	    "    service: s2\n"
	    "    to: 192.168.1.5\n"
	    "    as: 100.64.1.5\n"
	    "    ports: 80\n"
	    "  - name: v6\n"
	    "    client: gw\n"
	    "    service: s2\n"
	    "    to: fd00:20::/32\n"
	    "    ports: \"*\"\n"
	    "    protocol: udp\n"
	    "  - name: game\n"
	    "    client: gw\n"
	    "    listen: 127.0.0.1\n"
	    "    service: s1\n"
	    "    target: \"::1\"\n"
	    "    ports: [27015-27030, 27036]\n"
	    "    protocol: tcp,udp\n"
	    "  - name: game2\n"
	    "    client: gw\n"
	    "    listen: 127.0.0.1\n"
	    "    service: s1\n"
	    "    target: 10.0.0.1\n"
	    "    ports: 27031-27035\n");
	const struct policy_rule *r = policy_find(p, "lan1");
	char text[PORTSET_TEXT_MAX + 1];

	T_ASSERT(r != NULL);
	T_EQ_INT(r->capture, 1);
	T_EQ_INT(r->protos, POLICY_TCP | POLICY_UDP);
	portset_format(&r->ports, text, sizeof(text));
	T_EQ_STR(text, "22,80,8000-8100");
	prefix_format(&r->as, text, sizeof(text));
	T_EQ_STR(text, "100.64.1.0/24");
	r = policy_find(p, "v6");
	T_EQ_INT(r->as.family, 0);
	T_EQ_INT(portset_count(&r->ports), 65535);
	r = policy_find(p, "game");
	T_EQ_INT(r->capture, 0);
	T_EQ_INT(r->has_ports, 1);
	T_EQ_INT(r->listen.port, 0);
	T_EQ_STR(r->target.host, "::1");
	T_EQ_INT(portset_count(&r->ports), 17);
	policy_free(p);
}

T_CASE(capture_and_port_range_mistakes)
{
	T_EQ_STR(t_parse_bad(
	    "rules:\n"
	    "  - {name: a, client: gw, service: s, to: 10.1.2.3/8, ports: 80}\n"
	    "  - {name: b, client: gw, service: s, to: 10.0.0.0/8, "
	    "as: 100.64.0.0/10, ports: 80}\n"
	    "  - {name: c, client: gw, service: s, to: 10.0.0.0/8}\n"
	    "  - {name: d, client: gw, service: s, to: 10.0.0.0/8, ports: 80, "
	    "listen: \"127.0.0.1:80\"}\n"
	    "  - {name: e, client: gw, service: s, listen: \"127.0.0.1:80\", "
	    "target: \"h:80\", as: 10.0.0.0/8}\n"
	    "  - {name: f, client: gw, service: s, listen: \"127.0.0.1:80\", "
	    "target: \"h:80\", ports: 80}\n"
	    "  - {name: g, client: gw, service: s, listen: 127.0.0.1, "
	    "target: h, ports: 1-2000}\n"
	    "  - {name: h, client: gw, service: s, to: 10.0.0.0/8, ports: 0}\n"
	    "  - {name: i, client: gw, service: s, to: 10.0.0.0/8, ports: 80, "
	    "protocol: sctp}\n"),
	    "p.yaml:2: rules[0].to: '10.1.2.3/8' has host bits set past /8; "
	    "expected an address range like 192.168.1.0/24|"
	    "p.yaml:3: rules[1].as: 100.64.0.0/10 does not match to: "
	    "10.0.0.0/8; expected a range of the same family and length|"
	    "p.yaml:4: rules[2].ports: missing; expected the ports to "
	    "capture, like 80,443,8000-8100 or *|"
	    "p.yaml:5: rules[3]: a capture rule (to:) has no listen, target "
	    "or mode; expected to, ports and optionally as|"
	    "p.yaml:6: rules[4].as: only a capture rule maps a range; "
	    "expected to: with it|"
	    "p.yaml:7: rules[5].listen: '127.0.0.1:80' has a port; expected "
	    "a host without a port (ports: gives them)|"
	    "p.yaml:7: rules[5].target: 'h:80' has a port; expected a host "
	    "without a port (ports: gives them)|"
	    "p.yaml:8: rules[6].ports: 2000 ports; expected at most 1024 for "
	    "a listener rule (a socket each)|"
	    "p.yaml:9: rules[7].ports: '0' is not a port list; expected "
	    "ports and ranges like 80,443,8000-8100, or *|"
	    "p.yaml:10: rules[8].protocol: 'sctp' is not supported; expected "
	    "tcp, udp, or both as [tcp, udp]");
}

T_CASE(capture_and_port_range_conflicts)
{
	/* Nested ranges are fine: the longest prefix wins. */
	policy_free(t_parse_ok(
	    "rules:\n"
	    "  - {name: a, client: gw, service: s1, to: 10.0.0.0/8, ports: "
	    "\"*\"}\n"
	    "  - {name: b, client: gw, service: s2, to: 10.20.0.0/16, ports: "
	    "80}\n"
	    "  - {name: c, client: gw, service: s2, to: 10.0.0.0/8, ports: "
	    "80, protocol: udp}\n"
	    "  - {name: d, client: gw2, service: s2, to: 10.0.0.0/8, ports: "
	    "80}\n"));
	T_EQ_STR(t_parse_bad(
	    "rules:\n"
	    "  - {name: a, client: gw, service: s1, to: 10.0.0.0/8, ports: "
	    "\"80,443\"}\n"
	    "  - {name: b, client: gw, service: s2, to: 10.0.0.0/8, ports: "
	    "400-500, protocol: [udp, tcp]}\n"
	    "  - {name: c, client: gw, service: s2, to: 192.168.1.0/24, "
	    "as: 100.64.1.0/24, ports: 80}\n"
	    "  - {name: d, client: gw, service: s1, to: 192.168.2.0/24, "
	    "as: 100.64.1.0/24, ports: 80}\n"
	    "  - {name: e, client: gw, listen: 127.0.0.1, service: s1, "
	    "target: h, ports: 8000-8100}\n"
	    "  - {name: f, client: gw, listen: \"127.0.0.1:8050\", "
	    "service: s1, target: \"h:1\"}\n"
	    "  - {name: g, client: gw, listen: 127.0.0.1, service: s1, "
	    "target: h, ports: 8050, protocol: udp}\n"),
	    "p.yaml:3: rules: portal gw would capture tcp 10.0.0.0/8 on ports "
	    "that both rule 'a' (line 2) and rule 'b' name; expected "
	    "disjoint ports, or a more specific range (the longest prefix "
	    "wins)|"
	    "p.yaml:5: rules: portal gw would capture tcp 100.64.1.0/24 on "
	    "ports that both rule 'c' (line 4) and rule 'd' name; expected "
	    "disjoint ports, or a more specific range (the longest prefix "
	    "wins)|"
	    "p.yaml:7: rules: portal gw would listen on 127.0.0.1:8050 for "
	    "both rule 'e' (line 6) and rule 'f'; expected one rule per "
	    "client portal and listen address");
}

T_CASE(rules_by_portal)
{
	struct policy *p = t_parse_ok(
	    "groups: {ops: [anna, bob]}\n"
	    "rules:\n"
	    "  - {name: r0, client: \"@ops\", listen: \"127.0.0.1:1\", "
	    "service: cam, target: \"127.0.0.1:22\"}\n"
	    "  - {name: r1, client: cam, listen: \"127.0.0.1:2\", "
	    "service: anna, target: \"127.0.0.1:22\"}\n"
	    "  - {name: r2, client: [bob, anna], listen: \"127.0.0.1:3\", "
	    "service: dev, target: \"127.0.0.1:22\"}\n");
	const uint32_t *idx;

	T_EQ_INT(policy_portal_rules(p, "anna", &idx), 3);
	T_EQ_INT(idx[0], 0);
	T_EQ_INT(idx[1], 1);
	T_EQ_INT(idx[2], 2);
	T_EQ_INT(policy_portal_rules(p, "cam", &idx), 2);
	T_EQ_INT(idx[1], 1);
	T_EQ_INT(policy_portal_rules(p, "dev", &idx), 1);
	T_EQ_INT(idx[0], 2);
	T_EQ_INT(policy_portal_rules(p, "nobody", &idx), 0);
	T_ASSERT(idx == NULL);
	T_ASSERT(policy_find(p, "r2") == &p->rules[2]);
	T_ASSERT(policy_find(p, "r3") == NULL);
	policy_free(p);
}

/* Each limit refuses one more than it allows, naming the key to raise. */
T_CASE(limits_name_their_keys)
{
	static const char four[] =
	    "groups: {ops: [anna, bob, carl]}\n"
	    "rules:\n"
	    "  - {name: r0, client: \"@ops\", listen: \"127.0.0.1:1\", "
	    "service: cam, target: \"127.0.0.1:22\"}\n"
	    "  - {name: r1, client: cam, listen: \"127.0.0.1:2\", "
	    "service: anna, target: \"127.0.0.1:22\"}\n"
	    "  - {name: r2, client: bob, listen: \"127.0.0.1:3\", "
	    "service: dev, target: \"127.0.0.1:22\"}\n"
	    "  - {name: r3, client: dev, listen: \"127.0.0.1:4\", "
	    "service: bob, target: \"127.0.0.1:22\"}\n";
	struct policy_limits lim = { .max_rules = 3 };
	struct conf_errors errs = { 0, NULL };
	struct policy *p = NULL;

	T_EQ_STR(t_parse_bad_limits(four, &lim), "p.yaml:3: rules: 4 rules; "
	    "expected at most 3 (policy_limits.max_rules)");
	lim = (struct policy_limits){ .max_members = 2 };
	T_EQ_STR(t_parse_bad_limits(four, &lim), "p.yaml:1: groups.ops: 3 "
	    "members; expected at most 2 (policy_limits.max_group_members)|"
	    "p.yaml:3: rules[0].client: unknown group 'ops'; expected a group "
	    "defined under groups");
	lim = (struct policy_limits){ .max_nodes = 20 };
	T_EQ_STR(t_parse_bad_limits(four, &lim), "p.yaml:3: more than 20 "
	    "nodes; expected a smaller document "
	    "(policy_limits.max_yaml_nodes)");
	lim.max_nodes = 53;
	T_ASSERT(strstr(t_parse_bad_limits(four, &lim), "more than 53 nodes")
	    != NULL);
	/* r0's group counts its three members. */
	lim = (struct policy_limits){ .max_bindings = 5 };
	T_EQ_STR(t_parse_bad_limits(four, &lim), "p.yaml:1: rules: 6 clients "
	    "in all (groups expanded); expected at most 5 "
	    "(policy_limits.max_bindings)");
	lim = (struct policy_limits){ .max_groups = 1 };
	T_EQ_STR(t_parse_bad_limits("groups: {a: [x], b: [y]}\nrules: []\n",
	    &lim), "p.yaml:1: groups: 2 groups; expected at most 1 "
	    "(policy_limits.max_groups)");
	/* Exactly at each limit, and with limits of zero (the defaults). */
	lim = (struct policy_limits){ .max_rules = 4, .max_members = 3,
	    .max_nodes = 54, .max_groups = 1, .max_bindings = 6 };
	T_EQ_INT(policy_parse_limits("p.yaml", four, strlen(four), &lim, &p,
	    &errs), 0);
	policy_free(p);
	lim = (struct policy_limits){ 0 };
	T_EQ_INT(policy_parse_limits("p.yaml", four, strlen(four), &lim, &p,
	    &errs), 0);
	T_EQ_INT(p->nrules, 4);
	policy_free(p);
	T_EQ_INT(errs.n, 0);
}

/* policy_load_file holds the whole file: its size is bounded first. */
T_CASE(limits_file_size)
{
	static const char text[] = "rules:\n"
	    "  - {name: r0, client: a, listen: \"127.0.0.1:1\", service: b, "
	    "target: \"127.0.0.1:22\"}\n";
	struct policy_limits lim = { .max_file = sizeof(text) - 2 };
	struct conf_errors errs = { 0, NULL };
	struct policy *p = NULL;
	char path[] = "/tmp/test_policy.XXXXXX", want[256];
	int fd;

	T_ASSERT((fd = mkstemp(path)) >= 0);
	T_EQ_INT(write(fd, text, sizeof(text) - 1), (long)sizeof(text) - 1);
	close(fd);
	T_EQ_INT(policy_load_file(path, &lim, &p, &errs), NP_ECONFIG);
	T_ASSERT(p == NULL);
	T_EQ_INT(errs.n, 1);
	snprintf(want, sizeof(want), "%s: %zu bytes; expected at most %zu "
	    "(policy_limits.max_file_size)", path, sizeof(text) - 1,
	    sizeof(text) - 2);
	T_EQ_STR(errs.msg[0], want);
	conf_errors_free(&errs);
	lim.max_file = sizeof(text) - 1;
	T_EQ_INT(policy_load_file(path, &lim, &p, &errs), 0);
	T_EQ_INT(p->nrules, 1);
	policy_free(p);
	T_EQ_INT(policy_load_file(path, NULL, &p, &errs), 0);
	policy_free(p);
	T_EQ_INT(errs.n, 0);
	unlink(path);
}

/*
 * The defaults hold more than the fixed caps they replace (10,000 rules,
 * 10,000 members in a group, 200,000 YAML nodes): 10,001 rules and a
 * group of 10,001 are some 80,000 nodes; 20,001 rules, 220,000.
 */
T_CASE(default_limits_above_old_caps)
{
	struct policy *p;
	const uint32_t *idx;
	char *text;

	text = t_big_policy(10001);
	p = t_parse_ok(text);
	T_EQ_INT(p->nrules, 10001);
	T_EQ_INT(p->rules[10000].nclients, 10001);
	T_EQ_INT(policy_portal_rules(p, "m-10000", &idx), 1);
	policy_free(p);
	free(text);
	text = t_big_policy(20001);
	p = t_parse_ok(text);
	T_EQ_INT(p->nrules, 20001);
	policy_free(p);
	free(text);
}

int
main(void)
{
	T_RUN(rules_and_groups);
	T_RUN(empty_policy_allows_nothing);
	T_RUN(date_only_expiry);
	T_RUN(missing_and_unknown_keys);
	T_RUN(bad_values);
	T_RUN(conflicts);
	T_RUN(wrong_shapes);
	T_RUN(unix_sockets);
	T_RUN(direct_off_per_pair);
	T_RUN(capture_and_port_range_rules);
	T_RUN(capture_and_port_range_mistakes);
	T_RUN(capture_and_port_range_conflicts);
	T_RUN(rules_by_portal);
	T_RUN(limits_name_their_keys);
	T_RUN(limits_file_size);
	T_RUN(default_limits_above_old_caps);
	return t_done();
}
