/* SPDX-License-Identifier: MIT */
/*
 * Transparent capture (Linux), the client side of capture rules: traffic
 * to a rule's address range and ports is intercepted by the kernel and
 * carried through the tunnel to the rule's service portal, which connects
 * to the real destination.  See docs/TRANSPARENT.md.
 *
 * TCP is redirected (nat REDIRECT, in prerouting for a LAN this portal is
 * the gateway of, in output for its own applications) to a capture
 * listener, where SO_ORIGINAL_DST tells where the application was going.
 * UDP is handed over by TPROXY to a transparent socket, where
 * IP_RECVORIGDSTADDR tells the destination; each (client address,
 * destination) is a flow with a socket of its own, bound to the
 * destination the client sees, through which its replies return and
 * (TPROXY finding that socket) its next datagrams arrive.
 *
 * The destination is mapped from the rule's `as` range onto its `to`
 * range and named in the stream's OPEN.  The firewall rules are netport's
 * own nftables table, replaced whole when the rule set changes and
 * removed on exit and at the next start after a crash
 * (portal_capture_fw.c).  netport's own sockets carry a mark the rules
 * skip, so that nothing it sends is ever captured.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/err.h"
#include "core/listener.h"
#include "core/log.h"
#include "portal/portal_capture_fw.h"
#include "portal/portal_tunnel.h"

/* Datagrams read per wake-up of a capture socket, for fairness. */
#define CAPTURE_UDP_ROUNDS	64
/* At most one line per this for a repeated refusal. */
#define CAPTURE_LOG_MS		10000

enum { CAP_V4, CAP_V6, CAP_FAMILIES };

struct portal_capture {
	struct portal		*p;		/* borrowed */
	struct capture_fw	*fw;		/* auto mode; NULL: print */
	struct capture_self	 self;
	struct listener		*tcp[CAP_FAMILIES];
	uint16_t		 tcp_port[CAP_FAMILIES];
	int			 udp_fd[CAP_FAMILIES];
	struct event		*udp_ev[CAP_FAMILIES];
	uint16_t		 udp_port[CAP_FAMILIES];
	int			 udp_refused;	/* no IP_TRANSPARENT */
	struct hmap		 flows;		/* UDP: streams by client and
						 * destination */
	size_t			 nflows;
	int			 ipt;		/* the iptables backend */
	struct buf		 script;	/* the one in force */
	int			 installed;	/* our rules are in the kernel */
	int			 routes;	/* and the policy route */
	uint64_t		 dropped;	/* flows over udp.max_flows */
	uint64_t		 norule;	/* destinations no rule has */
	uint64_t		 log_ms;
};

static const int capture_af[CAP_FAMILIES] = { AF_INET, AF_INET6 };

const struct portal_rule *
portal_capture_find(const struct portal *p, uint8_t ipproto, int family,
    const uint8_t *addr, uint16_t port)
{
	const struct portal_rule *r, *best = NULL;
	const struct prefix *seen;
	size_t i;

	/* The longest prefix wins, as in a routing table; the policy
	 * refuses two rules on the same range with a port in common. */
	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		if (r->side != PROTO_SIDE_CLIENT || !r->capture ||
		    r->ipproto != ipproto)
			continue;
		seen = r->as.family ? &r->as : &r->to;
		if (!prefix_contains(seen, family, addr) ||
		    !portset_has(&r->ports, port))
			continue;
		if (best == NULL || seen->len > (best->as.family ?
		    best->as.len : best->to.len))
			best = r;
	}
	return best;
}

/* A sockaddr's address and port as a stream destination. */
static void
capture_dest(const struct sockaddr_storage *ss, struct mux_dest *d)
{
	memset(d, 0, sizeof(*d));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		d->family = AF_INET;
		d->port = ntohs(in->sin_port);
		memcpy(d->addr, &in->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		d->family = AF_INET6;
		d->port = ntohs(in6->sin6_port);
		memcpy(d->addr, &in6->sin6_addr, 16);
	}
}

static void
capture_dest_format(const struct mux_dest *d, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(d->family, d->addr, a, sizeof(a));
	snprintf(out, len, d->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
	    d->port);
}

/* A destination nothing captures for: a stale rule, or someone else's
 * redirect to our port.  Logged, at most once per CAPTURE_LOG_MS. */
static void
capture_no_rule(struct portal_capture *cap, const char *proto,
    const struct mux_dest *d, const char *from)
{
	char dst[NET_ADDR_STR_MAX];

	cap->norule++;
	if (loop_now_ms() - cap->log_ms < CAPTURE_LOG_MS && cap->norule > 1)
		return;
	cap->log_ms = loop_now_ms();
	capture_dest_format(d, dst, sizeof(dst));
	log_warn(NULL, "capture: no rule for %s %s (from %s); refused (%llu "
	    "so far)", proto, dst, from, (unsigned long long)cap->norule);
}

/* The destination a rule maps d to (as -> to). */
static void
capture_map(const struct portal_rule *r, struct mux_dest *d)
{
	if (r->as.family)
		prefix_map(&r->to, d->addr);
}

static void
capture_tcp_cb(int fd, const struct sockaddr *sa, void *arg)
{
	struct portal_capture *cap = arg;
	struct sockaddr_storage odst, local;
	socklen_t olen = sizeof(odst), llen = sizeof(local);
	const struct portal_rule *rule;
	struct mux_dest d;
	char remote[NET_ADDR_STR_MAX];
	int r;

	net_addr_format(sa, remote, sizeof(remote));
	memset(&odst, 0, sizeof(odst));
	r = sa->sa_family == AF_INET6 ?
	    getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &odst, &olen) :
	    getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &odst, &olen);
	/* Not redirected (a direct connection to the capture port): the
	 * "original" destination is the socket's own address. */
	if (r != 0 || getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
	    net_sockaddr_same((struct sockaddr *)&odst,
	    (struct sockaddr *)&local)) {
		log_debug(NULL, "capture: connection from %s was not "
		    "redirected; closed", remote);
		close(fd);
		return;
	}
	capture_dest(&odst, &d);
	if ((rule = portal_capture_find(cap->p, PROTO_TCP, d.family, d.addr,
	    d.port)) == NULL) {
		capture_no_rule(cap, "tcp", &d, remote);
		close(fd);
		return;
	}
	capture_map(rule, &d);
	portal_tunnel_accept(cap->p, rule, fd, remote, &d);
}

/* --- UDP ------------------------------------------------------------ */

struct capture_key {
	struct sockaddr_storage	src;
	socklen_t		srclen;
	struct mux_dest		seen;		/* as the client sent it */
};

static uint64_t
capture_key_hash(const struct capture_key *k)
{
	return hmap_hash_bytes(&k->src, k->srclen) ^
	    hmap_hash_bytes(&k->seen, sizeof(k->seen));
}

static int
capture_key_eq(const struct hmap_node *n, const void *key)
{
	const struct stream *s = hmap_entry_const(n, struct stream,
	    flow_node);
	const struct capture_key *k = key;

	return s->srclen == k->srclen && memcmp(&s->src, &k->src,
	    k->srclen) == 0 && memcmp(&s->seen, &k->seen,
	    sizeof(k->seen)) == 0;
}

/*
 * The flow's own socket: transparent, bound to the destination the client
 * sent to and connected to the client, so that replies leave from where
 * the client expects them, and TPROXY hands the client's next datagrams
 * to it.  Marked: the rules must not capture its replies.
 */
static int
capture_flow_socket(const struct capture_key *k,
    const struct sockaddr_storage *odst, socklen_t olen)
{
	int fd, one = 1, r;

	if ((fd = socket(odst->ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if ((odst->ss_family == AF_INET6 ? setsockopt(fd, SOL_IPV6,
	    IPV6_TRANSPARENT, &one, sizeof(one)) : setsockopt(fd, SOL_IP,
	    IP_TRANSPARENT, &one, sizeof(one))) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    net_mark_socket(fd) != 0 ||
	    bind(fd, (const struct sockaddr *)odst, olen) != 0 ||
	    connect(fd, (const struct sockaddr *)&k->src, k->srclen) != 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* One datagram the kernel handed over; returns the tunnel it went to. */
static struct tunnel *
capture_udp_datagram(struct portal_capture *cap, const uint8_t *data,
    size_t len, const struct sockaddr_storage *src, socklen_t srclen,
    const struct sockaddr_storage *odst, socklen_t olen)
{
	struct portal *p = cap->p;
	const struct portal_rule *rule;
	struct capture_key k;
	struct hmap_node *n;
	struct stream *s;
	struct mux_dest d;
	char from[NET_ADDR_STR_MAX];
	uint64_t hash;
	int fd;

	memset(&k, 0, sizeof(k));
	memcpy(&k.src, src, srclen);
	k.srclen = srclen;
	capture_dest(odst, &k.seen);
	hash = capture_key_hash(&k);
	if ((n = hmap_find(&cap->flows, hash, capture_key_eq, &k)) != NULL) {
		s = hmap_entry(n, struct stream, flow_node);
		udp_capture_input(s, data, len);
		return s->t;
	}
	net_addr_format((const struct sockaddr *)src, from, sizeof(from));
	if ((rule = portal_capture_find(p, PROTO_UDP, k.seen.family,
	    k.seen.addr, k.seen.port)) == NULL) {
		capture_no_rule(cap, "udp", &k.seen, from);
		return NULL;
	}
	if (cap->nflows >= (size_t)p->conf->udp_max_flows) {
		if (cap->dropped++ == 0 ||
		    loop_now_ms() - cap->log_ms >= CAPTURE_LOG_MS) {
			cap->log_ms = loop_now_ms();
			log_warn(NULL, "capture: %zu UDP flows (udp.max_flows); "
			    "dropping datagrams of new flows such as from %s "
			    "(%llu so far)", cap->nflows, from,
			    (unsigned long long)cap->dropped);
		}
		return NULL;
	}
	if ((fd = capture_flow_socket(&k, odst, olen)) < 0) {
		log_warn(NULL, "capture: UDP flow from %s: no socket: %s", from,
		    strerror(-fd));
		return NULL;
	}
	d = k.seen;
	capture_map(rule, &d);
	if ((s = udp_capture_flow(p, rule, fd, src, srclen, &d)) == NULL)
		return NULL;	/* refused and logged; fd closed */
	s->seen = k.seen;
	if (hmap_insert(&cap->flows, &s->flow_node, hash) != 0) {
		stream_reset(s, MUX_R_INTERNAL, "out of memory");
		return NULL;
	}
	s->capture_flow = 1;
	cap->nflows++;
	udp_capture_input(s, data, len);
	return s->t;
}

void
portal_capture_flow_closed(struct portal *p, struct stream *s)
{
	struct portal_capture *cap = p->capture;

	if (cap == NULL || !s->capture_flow)
		return;
	hmap_remove(&cap->flows, &s->flow_node);
	cap->nflows--;
	s->capture_flow = 0;
}

/* The original destination from recvmsg()'s ancillary data. */
static int
capture_orig_dst(struct msghdr *mh, struct sockaddr_storage *out,
    socklen_t *len)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_IP && c->cmsg_type ==
		    IP_ORIGDSTADDR && c->cmsg_len >=
		    CMSG_LEN(sizeof(struct sockaddr_in))) {
			memcpy(out, CMSG_DATA(c), sizeof(struct sockaddr_in));
			*len = sizeof(struct sockaddr_in);
			return 0;
		}
		if (c->cmsg_level == SOL_IPV6 && c->cmsg_type ==
		    IPV6_ORIGDSTADDR && c->cmsg_len >=
		    CMSG_LEN(sizeof(struct sockaddr_in6))) {
			memcpy(out, CMSG_DATA(c), sizeof(struct sockaddr_in6));
			*len = sizeof(struct sockaddr_in6);
			return 0;
		}
	}
	return -1;
}

static void
capture_udp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct portal_capture *cap = arg;
	struct sockaddr_storage src, odst;
	socklen_t olen = 0;
	union {
		struct cmsghdr	align;
		uint8_t		buf[CMSG_SPACE(sizeof(struct sockaddr_in6))];
	} ctl;
	struct iovec iov;
	struct msghdr mh;
	uint8_t *buf = portal_udp_scratch(cap->p);
	struct tunnel *touched[CAPTURE_UDP_ROUNDS], *t;
	ssize_t n;
	int i, j, ntouched = 0;

	(void)what;
	if (buf == NULL)
		return;
	for (i = 0; i < CAPTURE_UDP_ROUNDS; i++) {
		iov.iov_base = buf;
		iov.iov_len = MUX_MAX_DGRAM + 1;
		memset(&mh, 0, sizeof(mh));
		memset(&src, 0, sizeof(src));
		mh.msg_name = &src;
		mh.msg_namelen = sizeof(src);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		if ((n = recvmsg(fd, &mh, MSG_DONTWAIT)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n > MUX_MAX_DGRAM || (mh.msg_flags & MSG_CTRUNC))
			continue;
		memset(&odst, 0, sizeof(odst));
		if (capture_orig_dst(&mh, &odst, &olen) != 0)
			continue;	/* not handed over by TPROXY */
		if ((t = capture_udp_datagram(cap, buf, (size_t)n, &src,
		    mh.msg_namelen, &odst, olen)) == NULL)
			continue;
		for (j = 0; j < ntouched && touched[j] != t; j++)
			;
		if (j == ntouched)
			touched[ntouched++] = t;
	}
	for (j = 0; j < ntouched; j++)
		tunnel_flush(touched[j]);
}

/* --- sockets ------------------------------------------------------------ */

/* A socket of family bound to port (0: any), on every address. */
static int
capture_bind(int family, int type, uint16_t port, int transparent)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, r;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (void *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (void *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		len = sizeof(*in6);
	}
	if ((fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (transparent && (family == AF_INET ?
	    setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one)) :
	    setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &one,
	    sizeof(one))) != 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (type == SOCK_DGRAM)
		net_udp_buffers(fd, NET_UDP_BUFFER);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 512) != 0)) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Opens the TCP and UDP capture sockets the rules need; 0 or -errno. */
static int
capture_open(struct portal_capture *cap, int want_tcp, int want_udp)
{
	struct portal *p = cap->p;
	uint16_t port = (uint16_t)p->conf->capture_port;
	int f, fd;

	for (f = 0; f < CAP_FAMILIES; f++) {
		if (want_tcp && cap->tcp[f] == NULL) {
			fd = capture_bind(capture_af[f], SOCK_STREAM,
			    port ? port : cap->tcp_port[CAP_V4], 0);
			if (fd < 0 && f == CAP_V6)
				continue;	/* no IPv6 here */
			if (fd < 0)
				return fd;
			cap->tcp_port[f] = net_local_port(fd);
			if ((cap->tcp[f] = listener_new(p->loop, fd, "capture",
			    capture_tcp_cb, cap)) == NULL)
				return -ENOMEM;
		}
		if (want_udp && cap->udp_fd[f] < 0 && !cap->udp_refused) {
			fd = capture_bind(capture_af[f], SOCK_DGRAM, port ?
			    port : cap->tcp_port[f], 1);
			if (fd == -EADDRINUSE && port == 0)
				fd = capture_bind(capture_af[f], SOCK_DGRAM, 0,
				    1);
			if (fd == -EPERM) {
				cap->udp_refused = 1;
				log_warn(NULL, "capture: UDP needs IP_TRANSPARENT, "
				    "which takes CAP_NET_ADMIN or CAP_NET_RAW; "
				    "udp capture rules are not served");
				continue;
			}
			if (fd < 0 && f == CAP_V6)
				continue;
			if (fd < 0)
				return fd;
			cap->udp_fd[f] = fd;
			cap->udp_port[f] = net_local_port(fd);
			if ((cap->udp_ev[f] = event_new(loop_base(p->loop), fd,
			    EV_READ | EV_PERSIST, capture_udp_cb, cap)) ==
			    NULL || event_add(cap->udp_ev[f], NULL) != 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static void
capture_close_flows(struct portal_capture *cap, const char *why)
{
	struct hmap_node *n, *next;
	struct stream *s;
	size_t iter = 0;

	for (n = hmap_first(&cap->flows, &iter); n; n = next) {
		next = hmap_next(&cap->flows, n, &iter);
		s = hmap_entry(n, struct stream, flow_node);
		stream_reset(s, MUX_R_RULE_REVOKED, "%s", why);
		tunnel_flush(s->t);
	}
}

static void
capture_close(struct portal_capture *cap, int tcp, int udp, const char *why)
{
	int f;

	if (udp)
		capture_close_flows(cap, why);
	for (f = 0; f < CAP_FAMILIES; f++) {
		if (tcp) {
			listener_free(cap->tcp[f]);
			cap->tcp[f] = NULL;
			cap->tcp_port[f] = 0;
		}
		if (udp && cap->udp_fd[f] >= 0) {
			if (cap->udp_ev[f])
				event_free(cap->udp_ev[f]);
			cap->udp_ev[f] = NULL;
			close(cap->udp_fd[f]);
			cap->udp_fd[f] = -1;
			cap->udp_port[f] = 0;
		}
	}
}

/* --- rules in force ------------------------------------------------------ */

/* Logs a script (or route commands) for an administrator, line by line. */
static void
capture_print(const char *what, const struct buf *b)
{
	const char *t = (const char *)buf_data(b), *end = t + buf_len(b), *nl;

	log_info(NULL, "capture: install %s (capture.mode print):", what);
	for (; t < end; t = nl + 1) {
		if ((nl = memchr(t, '\n', (size_t)(end - t))) == NULL)
			nl = end;
		log_info(NULL, "capture:   %.*s", (int)(nl - t), t);
	}
}

static const char *
capture_what(const struct portal_capture *cap)
{
	return cap->ipt ? "iptables chains NETPORT_PREROUTING and "
	    "NETPORT_OUTPUT" : "table inet " CAPTURE_NFT_TABLE;
}

/* Removes our rules and route; logs what it removed. */
static void
capture_uninstall(struct portal_capture *cap, const char *why)
{
	char err[512];
	int r;

	buf_reset(&cap->script);
	if (cap->fw == NULL || (!cap->installed && !cap->routes))
		return;
	if (cap->ipt) {
		(void)capture_ipt_clear(AF_INET);
		(void)capture_ipt_clear(AF_INET6);
	}
	/* The table (if any) and the policy route, for both backends. */
	if ((r = capture_fw_clear(cap->fw, err, sizeof(err))) < 0)
		log_error(NULL, "capture: cannot remove %s: %s",
		    capture_what(cap), err);
	else
		log_info(NULL, "capture: removed %s%s", capture_what(cap), why);
	cap->installed = 0;
	cap->routes = 0;
}

/*
 * The rules for the backend in use, NUL-terminated: the nftables script;
 * or the iptables-restore scripts for IPv4 and IPv6, the second at *v6.
 */
static int
capture_build(struct portal_capture *cap, const struct capture_ports *ports,
    int *udp, struct buf *out, size_t *v6)
{
	const struct portal *p = cap->p;
	int count, more;

	*udp = 0;
	*v6 = 0;
	if (!cap->ipt) {
		if ((count = capture_fw_script(p->rules, p->nrules, ports,
		    &cap->self, udp, out)) < 0 || buf_append(out, "", 1) != 0)
			return -1;
		return count;
	}
	if ((count = capture_ipt_script(p->rules, p->nrules, AF_INET, ports,
	    &cap->self, udp, out)) < 0 || buf_append(out, "", 1) != 0)
		return -1;
	*v6 = buf_len(out);
	if ((more = capture_ipt_script(p->rules, p->nrules, AF_INET6, ports,
	    &cap->self, udp, out)) < 0 || buf_append(out, "", 1) != 0)
		return -1;
	return count + more;
}

static int
capture_install(struct portal_capture *cap, const struct buf *script,
    size_t v6, char *err, size_t errlen)
{
	const char *text = (const char *)buf_data(script);

	if (!cap->ipt)
		return capture_fw_apply(cap->fw, text, err, errlen);
	if (capture_ipt_apply(AF_INET, text, err, errlen) != 0)
		return -1;
	/* A host without IPv6 (or ip6tables) still captures IPv4. */
	if (capture_ipt_apply(AF_INET6, text + v6, err, errlen) != 0)
		log_info(NULL, "capture: no IPv6 rules (%s)", err);
	return 0;
}

/* Logs the rules of the backend in use for an administrator. */
static void
capture_print_rules(struct portal_capture *cap, struct buf *script,
    size_t v6, int udp)
{
	struct buf part;

	buf_init(&part, buf_len(script));
	if (!cap->ipt) {
		if (buf_append(&part, buf_data(script),
		    buf_len(script) - 1) == 0)
			capture_print("these nftables rules with nft -f", &part);
	} else {
		if (buf_append(&part, buf_data(script), v6 - 1) == 0)
			capture_print("these rules with iptables-restore "
			    "--noflush", &part);
		buf_reset(&part);
		if (buf_append(&part, buf_data(script) + v6,
		    buf_len(script) - v6 - 1) == 0)
			capture_print("these rules with ip6tables-restore "
			    "--noflush", &part);
	}
	buf_reset(&part);
	if (udp && capture_fw_route_text(&cap->self,
	    (uint32_t)cap->p->conf->capture_route_table, &part) == 0)
		capture_print("this policy route (for UDP)", &part);
	buf_release(&part);
}

void
portal_capture_apply(struct portal *p)
{
	struct portal_capture *cap = p->capture;
	struct capture_ports ports;
	struct buf script;
	char err[512];
	size_t i, v6;
	int tcp = 0, udp = 0, r, count;

	if (cap == NULL) {
		for (i = 0; i < p->nrules; i++)
			if (p->rules[i].side == PROTO_SIDE_CLIENT &&
			    p->rules[i].capture) {
				log_warn(NULL, "rule %s is a capture rule, and "
				    "capture.mode is off: not captured",
				    p->rules[i].name);
				break;
			}
		return;
	}
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].side == PROTO_SIDE_CLIENT &&
		    p->rules[i].capture) {
			tcp |= p->rules[i].ipproto == PROTO_TCP;
			udp |= p->rules[i].ipproto == PROTO_UDP;
		}
	capture_close(cap, !tcp, !udp, "its capture rule is gone");
	if (!tcp && !udp) {
		capture_uninstall(cap, " (no capture rules)");
		return;
	}
	if ((r = capture_open(cap, tcp, udp)) != 0) {
		log_error(NULL, "capture: cannot open the capture sockets: %s",
		    np_strerror(r));
		return;
	}
	ports.tcp4 = cap->tcp_port[CAP_V4];
	ports.tcp6 = cap->tcp_port[CAP_V6];
	ports.udp4 = cap->udp_fd[CAP_V4] >= 0 ? cap->udp_port[CAP_V4] : 0;
	ports.udp6 = cap->udp_fd[CAP_V6] >= 0 ? cap->udp_port[CAP_V6] : 0;
	buf_init(&script, 16 << 20);
	if ((count = capture_build(cap, &ports, &udp, &script, &v6)) < 0) {
		log_error(NULL, "capture: out of memory for the rules");
		goto out;
	}
	/* The same rules as in force: nothing to do. */
	if (buf_len(&script) == buf_len(&cap->script) && memcmp(
	    buf_data(&script), buf_data(&cap->script), buf_len(&script)) == 0)
		goto out;
	buf_reset(&cap->script);
	if (cap->fw == NULL) {
		capture_print_rules(cap, &script, v6, udp);
		goto keep;
	}
	if (udp && !cap->routes) {
		if (capture_fw_route_add(cap->fw, err, sizeof(err)) != 0)
			log_error(NULL, "capture: %s; UDP is not captured", err);
		else
			cap->routes = 1;
	}
	if (capture_install(cap, &script, v6, err, sizeof(err)) != 0) {
		if (cap->ipt || p->conf->capture_backend !=
		    PORTAL_CAPTURE_BACKEND_AUTO || !capture_ipt_available()) {
			log_error(NULL, "capture: cannot install %s: %s",
			    capture_what(cap), err);
			goto out;
		}
		log_warn(NULL, "capture: nftables refused the table (%s); "
		    "using iptables (capture.backend auto)", err);
		cap->ipt = 1;
		buf_reset(&script);
		if ((count = capture_build(cap, &ports, &udp, &script,
		    &v6)) < 0 || capture_install(cap, &script, v6, err,
		    sizeof(err)) != 0) {
			log_error(NULL, "capture: cannot install %s: %s",
			    capture_what(cap), count < 0 ? "out of memory" :
			    err);
			goto out;
		}
	}
	cap->installed = 1;
	log_info(NULL, "capture: installed %s (%d rules; tcp to port %u, "
	    "udp to port %u)", capture_what(cap), count, ports.tcp4,
	    ports.udp4);
keep:
	if (buf_append(&cap->script, buf_data(&script), buf_len(&script)) != 0)
		buf_reset(&cap->script);
out:
	buf_release(&script);
}

int
portal_capture_start(struct portal *p)
{
	struct portal_capture *cap;
	char err[512];
	int f, probe, r;
	uint32_t mark = (uint32_t)p->conf->capture_mark;

	if (p->conf->capture_mode == PORTAL_CAPTURE_OFF)
		return 0;
	if ((cap = calloc(1, sizeof(*cap))) == NULL)
		return -ENOMEM;
	cap->p = p;
	for (f = 0; f < CAP_FAMILIES; f++)
		cap->udp_fd[f] = -1;
	hmap_init(&cap->flows);
	buf_init(&cap->script, 16 << 20);
	cap->self.mark = mark;
	cap->ipt = p->conf->capture_backend == PORTAL_CAPTURE_BACKEND_IPT;
	/* Marking sockets takes CAP_NET_ADMIN: a portal that has it marks
	 * every socket from the start, its control session included. */
	probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	net_set_socket_mark(mark);
	if (probe < 0 || net_mark_socket(probe) != 0) {
		net_set_socket_mark(0);
		cap->self.by_uid = 1;
		cap->self.uid = (unsigned)getuid();
	}
	if (probe >= 0)
		close(probe);
	p->capture = cap;
	if (p->conf->capture_mode == PORTAL_CAPTURE_PRINT)
		return 0;
	if (cap->self.by_uid) {
		log_info(NULL, "capture: without CAP_NET_ADMIN this portal "
		    "cannot install capture rules; capture rules, if any, "
		    "are printed (as with capture.mode print)");
		return 0;
	}
	if ((cap->fw = capture_fw_new(mark, (uint32_t)
	    p->conf->capture_route_table, err, sizeof(err))) == NULL) {
		log_error(NULL, "capture: %s; capture rules are printed instead",
		    err);
		return 0;
	}
	cap->ipt = p->conf->capture_backend == PORTAL_CAPTURE_BACKEND_IPT;
	/* What a portal that crashed left behind goes before anything. */
	if ((r = capture_fw_clear(cap->fw, err, sizeof(err))) < 0)
		log_error(NULL, "capture: cannot remove what an earlier run "
		    "left: %s", err);
	else if (r > 0)
		log_info(NULL, "capture: removed table inet " CAPTURE_NFT_TABLE
		    " left by an earlier run");
	if (p->conf->capture_backend != PORTAL_CAPTURE_BACKEND_NFT &&
	    capture_ipt_available() && (capture_ipt_clear(AF_INET) |
	    capture_ipt_clear(AF_INET6)))
		log_info(NULL, "capture: removed iptables chains "
		    "NETPORT_PREROUTING and NETPORT_OUTPUT left by an earlier "
		    "run");
	return 0;
}

void
portal_capture_stop(struct portal *p)
{
	struct portal_capture *cap = p->capture;

	if (cap == NULL)
		return;
	capture_close(cap, 1, 1, "portal shutting down");
	capture_uninstall(cap, "");
	capture_fw_free(cap->fw);
	hmap_release(&cap->flows);
	buf_release(&cap->script);
	free(cap);
	p->capture = NULL;
}

json_t *
portal_capture_status(const struct portal *p)
{
	const struct portal_capture *cap = p->capture;

	if (cap == NULL)
		return json_null();
	return json_pack("{s:s, s:s, s:b, s:i, s:i, s:I, s:I, s:I}",
	    "mode", cap->fw ? "auto" : "print",
	    "backend", cap->ipt ? "iptables" : "nftables",
	    "installed", cap->installed,
	    "tcp_port", (int)cap->tcp_port[CAP_V4],
	    "udp_port", cap->udp_fd[CAP_V4] >= 0 ? (int)cap->udp_port[CAP_V4] :
	    0, "udp_flows", (json_int_t)cap->nflows,
	    "no_rule", (json_int_t)cap->norule,
	    "dropped_flows", (json_int_t)cap->dropped);
}

int
portal_capture_installs(const struct portal *p)
{
	return p->capture != NULL && p->capture->fw != NULL;
}
