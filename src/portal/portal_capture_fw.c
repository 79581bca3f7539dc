/* SPDX-License-Identifier: MIT */
/*
 * Capture's firewall: nftables through libnftables (the library of the
 * nft tool: the script below is what `nft -f` would read), and the policy
 * route through libnl.  See portal_capture_fw.h.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <nftables/libnftables.h>

#include "core/err.h"
#include "core/log.h"
#include "portal/portal_capture_fw.h"
#include "portal/portal_impl.h"

struct capture_fw {
	struct nft_ctx	*nft;
	struct nl_sock	*nl;
	uint32_t	 mark;
	uint32_t	 table;
};

/* The "daddr ... dport { ... }" match of one rule. */
static int
capture_fw_match(const struct portal_rule *r, struct buf *out)
{
	char range[PREFIX_TEXT_MAX], ports[PORTSET_TEXT_MAX + 1];
	const struct prefix *seen = r->as.family ? &r->as : &r->to;

	prefix_format(seen, range, sizeof(range));
	/* nft wants ranges as LO-HI and single ports bare, comma-separated:
	 * the port set's own form. */
	portset_format(&r->ports, ports, sizeof(ports));
	return buf_appendf(out, "%s daddr %s %s dport { %s }",
	    seen->family == AF_INET6 ? "ip6" : "ip", range,
	    r->ipproto == PROTO_UDP ? "udp" : "tcp", ports);
}

static int
capture_fw_self_return(const struct capture_self *self, struct buf *out)
{
	if (self->by_uid)
		return buf_appendf(out, "    meta skuid %u return\n",
		    self->uid);
	return buf_appendf(out, "    meta mark 0x%x return\n", self->mark);
}

/* Which chain a rule's line goes to. */
enum { FW_PRE_NAT, FW_OUT_NAT, FW_PRE_TPROXY, FW_OUT_ROUTE, FW_CHAINS };

static int
capture_fw_line(const struct portal_rule *r, int chain,
    const struct capture_ports *ports, const struct capture_self *self,
    struct buf *out)
{
	int v6 = (r->as.family ? r->as.family : r->to.family) == AF_INET6;
	uint16_t tcp = v6 ? ports->tcp6 : ports->tcp4;
	uint16_t udp = v6 ? ports->udp6 : ports->udp4;
	int rc;

	if ((rc = buf_appendf(out, "    ")) != 0 ||
	    (rc = capture_fw_match(r, out)) != 0)
		return rc;
	switch (chain) {
	case FW_PRE_NAT:
	case FW_OUT_NAT:
		rc = buf_appendf(out, " redirect to :%u", tcp);
		break;
	case FW_PRE_TPROXY:
		rc = buf_appendf(out, " tproxy %s to :%u meta mark set 0x%x "
		    "accept", v6 ? "ip6" : "ip", udp, self->mark + 1);
		break;
	default:
		rc = buf_appendf(out, " meta mark set 0x%x", self->mark + 1);
		break;
	}
	if (rc == 0)
		rc = buf_appendf(out, " comment \"rule %s\"\n", r->name);
	return rc;
}

/* 1 when rule r goes into chain, with the sockets there are. */
static int
capture_fw_wants(const struct portal_rule *r, int chain,
    const struct capture_ports *ports)
{
	int v6 = (r->as.family ? r->as.family : r->to.family) == AF_INET6;

	if (r->side != PROTO_SIDE_CLIENT || !r->capture)
		return 0;
	if (r->ipproto == PROTO_TCP)
		return (chain == FW_PRE_NAT || chain == FW_OUT_NAT) &&
		    (v6 ? ports->tcp6 : ports->tcp4) != 0;
	return (chain == FW_PRE_TPROXY || chain == FW_OUT_ROUTE) &&
	    (v6 ? ports->udp6 : ports->udp4) != 0;
}

int
capture_fw_script(const struct portal_rule *rules, size_t n,
    const struct capture_ports *ports, const struct capture_self *self,
    int *udp, struct buf *out)
{
	static const char *const heads[FW_CHAINS] = {
		"prerouting_nat {\n    type nat hook prerouting priority "
		    "dstnat; policy accept;\n",
		"output_nat {\n    type nat hook output priority -100; "
		    "policy accept;\n",
		"prerouting_tproxy {\n    type filter hook prerouting "
		    "priority mangle; policy accept;\n",
		"output_route {\n    type route hook output priority mangle; "
		    "policy accept;\n",
	};
	size_t i;
	int chain, rc, count = 0;

	*udp = 0;
	/* Create-then-delete makes the replacement work whether or not the
	 * table is there; all of it is one transaction. */
	if ((rc = buf_appendf(out, "table inet " CAPTURE_NFT_TABLE "\n"
	    "delete table inet " CAPTURE_NFT_TABLE "\n"
	    "table inet " CAPTURE_NFT_TABLE " {\n")) != 0)
		return rc;
	for (chain = 0; chain < FW_CHAINS; chain++) {
		if ((rc = buf_appendf(out, "  chain %s", heads[chain])) != 0)
			return rc;
		/* Locally made traffic: netport's own stays out. */
		if ((chain == FW_OUT_NAT || chain == FW_OUT_ROUTE) &&
		    (rc = capture_fw_self_return(self, out)) != 0)
			return rc;
		for (i = 0; i < n; i++) {
			if (!capture_fw_wants(&rules[i], chain, ports))
				continue;
			if ((rc = capture_fw_line(&rules[i], chain, ports, self,
			    out)) != 0)
				return rc;
			if (chain == FW_PRE_NAT || chain == FW_PRE_TPROXY)
				count++;
			if (chain == FW_PRE_TPROXY)
				*udp = 1;
		}
		if ((rc = buf_appendf(out, "  }\n")) != 0)
			return rc;
	}
	if ((rc = buf_appendf(out, "}\n")) != 0)
		return rc;
	return count;
}

int
capture_fw_route_text(const struct capture_self *self, uint32_t table,
    struct buf *out)
{
	return buf_appendf(out,
	    "ip rule add fwmark 0x%x lookup %u\n"
	    "ip route add local default dev lo table %u\n"
	    "ip -6 rule add fwmark 0x%x lookup %u\n"
	    "ip -6 route add local default dev lo table %u\n",
	    self->mark + 1, table, table, self->mark + 1, table, table);
}

struct capture_fw *
capture_fw_new(uint32_t mark, uint32_t table, char *why, size_t whylen)
{
	struct capture_fw *fw;
	int r;

	if ((fw = calloc(1, sizeof(*fw))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	fw->mark = mark;
	fw->table = table;
	if ((fw->nft = nft_ctx_new(NFT_CTX_DEFAULT)) == NULL ||
	    nft_ctx_buffer_output(fw->nft) != 0 ||
	    nft_ctx_buffer_error(fw->nft) != 0) {
		snprintf(why, whylen, "cannot set up libnftables");
		capture_fw_free(fw);
		return NULL;
	}
	if ((fw->nl = nl_socket_alloc()) == NULL) {
		snprintf(why, whylen, "out of memory");
		capture_fw_free(fw);
		return NULL;
	}
	if ((r = nl_connect(fw->nl, NETLINK_ROUTE)) != 0) {
		snprintf(why, whylen, "netlink: %s", nl_geterror(r));
		capture_fw_free(fw);
		return NULL;
	}
	return fw;
}

void
capture_fw_free(struct capture_fw *fw)
{
	if (fw == NULL)
		return;
	if (fw->nft)
		nft_ctx_free(fw->nft);
	if (fw->nl)
		nl_socket_free(fw->nl);
	free(fw);
}

/* nftables' message, on one line. */
static void
capture_fw_nft_error(struct capture_fw *fw, char *why, size_t whylen)
{
	const char *e = nft_ctx_get_error_buffer(fw->nft);
	size_t i;

	snprintf(why, whylen, "%s", e && e[0] ? e : "nftables refused it");
	for (i = 0; why[i]; i++)
		if (why[i] == '\n')
			why[i] = why[i + 1] ? ' ' : '\0';
}

int
capture_fw_apply(struct capture_fw *fw, const char *script, char *why,
    size_t whylen)
{
	if (nft_run_cmd_from_buffer(fw->nft, script) == 0)
		return 0;
	capture_fw_nft_error(fw, why, whylen);
	return -1;
}

static struct rtnl_rule *
capture_fw_rule(const struct capture_fw *fw, int family)
{
	struct rtnl_rule *rule;

	if ((rule = rtnl_rule_alloc()) == NULL)
		return NULL;
	rtnl_rule_set_family(rule, family);
	rtnl_rule_set_mark(rule, fw->mark + 1);
	rtnl_rule_set_mask(rule, 0xffffffffu);
	rtnl_rule_set_table(rule, fw->table);
	rtnl_rule_set_action(rule, FR_ACT_TO_TBL);
	return rule;
}

static struct rtnl_route *
capture_fw_route(const struct capture_fw *fw, int family)
{
	struct rtnl_route *rt;
	struct rtnl_nexthop *nh;
	struct nl_addr *dst = NULL;
	unsigned lo = if_nametoindex("lo");

	if (lo == 0 || (rt = rtnl_route_alloc()) == NULL)
		return NULL;
	rtnl_route_set_family(rt, (uint8_t)family);
	rtnl_route_set_table(rt, fw->table);
	rtnl_route_set_type(rt, RTN_LOCAL);
	rtnl_route_set_scope(rt, RT_SCOPE_HOST);
	if (nl_addr_parse("default", family, &dst) != 0 ||
	    rtnl_route_set_dst(rt, dst) != 0 ||
	    (nh = rtnl_route_nh_alloc()) == NULL) {
		nl_addr_put(dst);
		rtnl_route_put(rt);
		return NULL;
	}
	nl_addr_put(dst);
	rtnl_route_nh_set_ifindex(nh, (int)lo);
	rtnl_route_add_nexthop(rt, nh);
	return rt;
}

/* Removes our rules and routes of family: 1 when one was there. */
static int
capture_fw_route_del(struct capture_fw *fw, int family)
{
	struct rtnl_rule *rule = capture_fw_rule(fw, family);
	struct rtnl_route *rt = capture_fw_route(fw, family);
	int found = 0, i;

	/* Bounded: a rule added twice by hand is removed twice. */
	for (i = 0; rule && i < 16 && rtnl_rule_delete(fw->nl, rule, 0) == 0;
	    i++)
		found = 1;
	if (rt && rtnl_route_delete(fw->nl, rt, 0) == 0)
		found = 1;
	if (rule)
		rtnl_rule_put(rule);
	if (rt)
		rtnl_route_put(rt);
	return found;
}

int
capture_fw_clear(struct capture_fw *fw, char *why, size_t whylen)
{
	int found = 0;

	if (nft_run_cmd_from_buffer(fw->nft, "list table inet "
	    CAPTURE_NFT_TABLE) == 0) {
		if (nft_run_cmd_from_buffer(fw->nft, "delete table inet "
		    CAPTURE_NFT_TABLE) != 0) {
			capture_fw_nft_error(fw, why, whylen);
			return -1;
		}
		found = 1;
	}
	found |= capture_fw_route_del(fw, AF_INET);
	found |= capture_fw_route_del(fw, AF_INET6);
	return found;
}

int
capture_fw_route_add(struct capture_fw *fw, char *why, size_t whylen)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct rtnl_rule *rule;
	struct rtnl_route *rt;
	size_t i;
	int r;

	for (i = 0; i < 2; i++) {
		rule = capture_fw_rule(fw, families[i]);
		rt = capture_fw_route(fw, families[i]);
		if (rule == NULL || rt == NULL) {
			if (rule)
				rtnl_rule_put(rule);
			if (rt)
				rtnl_route_put(rt);
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		r = rtnl_route_add(fw->nl, rt, NLM_F_CREATE | NLM_F_REPLACE);
		if (r == 0 || r == -NLE_EXIST)
			r = rtnl_rule_add(fw->nl, rule, NLM_F_CREATE |
			    NLM_F_EXCL);
		rtnl_rule_put(rule);
		rtnl_route_put(rt);
		if (r == 0 || r == -NLE_EXIST)
			continue;
		/* A host without IPv6 (or with it disabled on lo, which
		 * the kernel answers with EACCES) has no IPv6 to capture. */
		if (families[i] == AF_INET6) {
			log_info(NULL, "capture: no IPv6 policy route (%s); "
			    "IPv6 UDP is not captured", nl_geterror(r));
			continue;
		}
		snprintf(why, whylen, "policy route (IPv4): %s", nl_geterror(r));
		return -1;
	}
	return 0;
}
