/* SPDX-License-Identifier: MIT */
/*
 * The firewall side of capture (Linux): netport's own nftables table,
 * "inet netport", and for UDP the policy route that TPROXY needs (packets
 * marked NP_MARK+1 are delivered locally, through table capture.route_table).
 * The table is written whole and replaced in one nftables transaction, so
 * the kernel never holds half a rule set.  Nothing else in the ruleset is
 * touched.
 */
#ifndef NETPORT_PORTAL_CAPTURE_FW_H
#define NETPORT_PORTAL_CAPTURE_FW_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define CAPTURE_NFT_TABLE	"netport"

struct portal_rule;
struct capture_fw;

/* Where captured traffic goes: the capture sockets' ports, 0 for none. */
struct capture_ports {
	uint16_t	tcp4, tcp6, udp4, udp6;
};

/*
 * How the rules keep netport's own traffic out: by its socket mark, or,
 * when the portal cannot mark sockets (capture.mode print, no
 * CAP_NET_ADMIN), by its user id.
 */
struct capture_self {
	uint32_t	mark;		/* own sockets; mark + 1 routes UDP */
	int		by_uid;
	unsigned	uid;
};

/*
 * Appends the nftables script for the client-side capture rules among
 * rules (n of them) to out: it creates or replaces table inet netport.
 * Sets *udp when a UDP rule made it in.  Returns the number of capture
 * rules written, or a buf error.
 */
int	capture_fw_script(const struct portal_rule *rules, size_t n,
	    const struct capture_ports *ports, const struct capture_self *self,
	    int *udp, struct buf *out);
/* Appends the `ip rule` / `ip route` lines an administrator would run. */
int	capture_fw_route_text(const struct capture_self *self, uint32_t table,
	    struct buf *out);

/* Opens the netlink and nftables handles: NULL with why on failure. */
struct capture_fw *capture_fw_new(uint32_t mark, uint32_t table, char *why,
	    size_t whylen);
void	capture_fw_free(struct capture_fw *fw);
/* Runs an nftables script: 0, or -1 with nftables' message in why. */
int	capture_fw_apply(struct capture_fw *fw, const char *script, char *why,
	    size_t whylen);
/*
 * Removes table inet netport and the policy routes: 1 when something was
 * there, 0 when nothing was, -1 with why on failure.
 */
int	capture_fw_clear(struct capture_fw *fw, char *why, size_t whylen);
/* Installs the policy route for captured UDP (IPv4 and IPv6): 0 or -1. */
int	capture_fw_route_add(struct capture_fw *fw, char *why, size_t whylen);

/* portal_capture_ipt.c: the same rules through iptables(-nft). */
/* 1 when iptables-restore can be run. */
int	capture_ipt_available(void);
/*
 * Appends the iptables-restore script of family's capture rules (tables
 * nat and mangle, chains NETPORT_PREROUTING and NETPORT_OUTPUT and the
 * jumps to them).  Returns the number of rules, or a buf error.
 */
int	capture_ipt_script(const struct portal_rule *rules, size_t n,
	    int family, const struct capture_ports *ports,
	    const struct capture_self *self, int *udp, struct buf *out);
/* Replaces our chains with script (NUL-terminated): 0, or -1 with why. */
int	capture_ipt_apply(int family, const char *script, char *why,
	    size_t whylen);
/* Removes our chains and jumps: 1 when something was there. */
int	capture_ipt_clear(int family);

#endif
