/* SPDX-License-Identifier: MIT */
/*
 * Client side: one listener per client-side rule and port (a rule with
 * `ports` listens on each of them), opened and closed as rule sets arrive.  A listener whose address cannot be bound (in use, not
 * configured yet) is retried every few seconds while its rule stands.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <unistd.h>

#include "core/err.h"
#include "core/listener.h"
#include "core/log.h"
#include "portal/portal_impl.h"
#include "portal/portal_tunnel.h"

#define PORTAL_LISTEN_RETRY_MS	5000

static void
portal_listener_close(struct portal *p, struct portal_listener *l,
    const char *why)
{
	char addr[PROTO_ADDR_MAX + 1];

	conf_endpoint_format(&l->rule.listen, addr, sizeof(addr));
	if (l->listener || l->udp)
		log_info(NULL, "closed listener %s%s of rule %s: %s",
		    l->udp ? "udp " : "", addr, l->rule.name, why);
	TAILQ_REMOVE(&p->listeners, l, entry);
	if (l->listener && l->rule.listen.is_unix)
		net_unlink_unix(l->rule.listen.host, l->unix_dev,
		    l->unix_ino);
	listener_free(l->listener);
	udp_listener_close(l);
	free(l);
}

static void
portal_accept_cb(int fd, const struct sockaddr *sa, void *arg)
{
	struct portal_listener *l = arg;
	struct mux_dest dest = { 0, 0, { 0 } };
	char remote[NET_ADDR_STR_MAX];

	/* A port-range rule's stream names its port; the host is the
	 * rule's target. */
	if (l->rule.has_ports)
		dest.port = l->rule.listen.port;
	net_addr_format(sa, remote, sizeof(remote));
	portal_tunnel_accept(l->p, &l->rule, fd, remote, &dest);
}

static int
portal_listener_open(struct portal *p, struct portal_listener *l)
{
	char addr[PROTO_ADDR_MAX + 1], bound[PROTO_ADDR_MAX + 16];
	const char *proto = l->rule.ipproto == PROTO_UDP ? "udp " : "";
	int fd, r;

	conf_endpoint_format(&l->rule.listen, addr, sizeof(addr));
	if (l->rule.ipproto == PROTO_UDP) {
		if ((r = udp_listener_open(p, l)) != 0)
			goto fail;
		log_info(NULL, "listening on udp %s for rule %s (to portal/%s)",
		    addr, l->rule.name, l->rule.peer);
		return 0;
	}
	if (l->rule.listen.is_unix)
		fd = net_listen_unix(l->rule.listen.host, l->rule.listen_mode,
		    512, &l->unix_dev, &l->unix_ino);
	else
		fd = net_listen_tcp(&l->rule.listen, 512);
	if ((r = fd) < 0)
		goto fail;
	if (l->rule.listen.is_unix)
		snprintf(bound, sizeof(bound), "%s (mode %03o)", addr,
		    l->rule.listen_mode);
	else
		net_local_addr(fd, bound, sizeof(bound));
	if ((l->listener = listener_new(p->loop, fd, l->rule.name,
	    portal_accept_cb, l)) == NULL)
		return -ENOMEM;
	log_info(NULL, "listening on %s for rule %s (to portal/%s)", bound,
	    l->rule.name, l->rule.peer);
	return 0;
fail:
	log_warn(NULL, "cannot listen on %s%s for rule %s: %s; retrying "
	    "every %d s", proto, addr, l->rule.name, np_strerror(r),
	    PORTAL_LISTEN_RETRY_MS / 1000);
	return r;
}

/* 1 when rule r makes a listener on port as l's (l: a listener's copy). */
static int
portal_rule_listens_as(const struct portal_rule *r, uint16_t port,
    const struct portal_rule *l)
{
	return strcmp(r->name, l->name) == 0 && strcmp(r->peer, l->peer) == 0 &&
	    r->ipproto == l->ipproto && port == l->listen.port &&
	    r->has_ports == l->has_ports &&
	    r->listen.is_unix == l->listen.is_unix &&
	    r->listen_mode == l->listen_mode &&
	    strcmp(r->listen.host, l->listen.host) == 0;
}

/* A client-side rule that listens (capture rules do not). */
static int
portal_rule_listens(const struct portal_rule *r)
{
	return r->side == PROTO_SIDE_CLIENT && !r->capture;
}

/* The first port rule r listens on (0 when none), and the next. */
static uint16_t
portal_rule_port(const struct portal_rule *r, uint16_t prev)
{
	if (!r->has_ports)
		return prev ? 0 : r->listen.port;
	return portset_next(&r->ports, prev);
}

static void
portal_listen_retry_cb(struct loop_timer *t, void *arg)
{
	struct portal *p = arg;
	struct portal_listener *l;
	int pending = 0;

	TAILQ_FOREACH(l, &p->listeners, entry)
		if (l->listener == NULL && l->udp == NULL &&
		    portal_listener_open(p, l) != 0)
			pending = 1;
	if (pending)
		loop_timer_arm(t, PORTAL_LISTEN_RETRY_MS);
}

void
portal_listen_apply(struct portal *p)
{
	struct portal_listener *l, *next;
	size_t i;
	uint16_t port;
	int found, pending = 0;

	/* Close the listeners whose rule is gone or changed. */
	TAILQ_FOREACH_SAFE(l, &p->listeners, entry, next) {
		found = 0;
		for (i = 0; i < p->nrules && !found; i++)
			if (portal_rule_listens(&p->rules[i]) &&
			    portal_rule_listens_as(&p->rules[i],
			    !p->rules[i].has_ports ? p->rules[i].listen.port :
			    portset_has(&p->rules[i].ports,
			    l->rule.listen.port) ? l->rule.listen.port : 0,
			    &l->rule))
				found = 1;
		if (!found)
			portal_listener_close(p, l, "rule removed, expired or "
			    "changed");
	}
	/* Open the new ones. */
	for (i = 0; i < p->nrules; i++) {
		if (!portal_rule_listens(&p->rules[i]))
			continue;
		for (port = portal_rule_port(&p->rules[i], 0); port != 0 ||
		    p->rules[i].listen.is_unix; port = portal_rule_port(
		    &p->rules[i], port)) {
			found = 0;
			TAILQ_FOREACH(l, &p->listeners, entry)
				if (portal_rule_listens_as(&p->rules[i], port,
				    &l->rule)) {
					l->rule.expires = p->rules[i].expires;
					found = 1;
				}
			if (!found) {
				if ((l = calloc(1, sizeof(*l))) == NULL) {
					log_error(NULL, "cannot listen for rule "
					    "%s: out of memory",
					    p->rules[i].name);
					break;
				}
				l->p = p;
				l->rule = p->rules[i];
				l->rule.listen.port = port;
				TAILQ_INSERT_TAIL(&p->listeners, l, entry);
				if (portal_listener_open(p, l) != 0)
					pending = 1;
			}
			if (p->rules[i].listen.is_unix)
				break;	/* a Unix socket has no ports */
		}
	}
	if (pending) {
		if (p->listen_retry == NULL)
			p->listen_retry = loop_timer_new(p->loop,
			    portal_listen_retry_cb, p);
		if (p->listen_retry && !loop_timer_pending(p->listen_retry))
			loop_timer_arm(p->listen_retry,
			    PORTAL_LISTEN_RETRY_MS);
	}
}

void
portal_listen_close_all(struct portal *p)
{
	struct portal_listener *l;

	while ((l = TAILQ_FIRST(&p->listeners)) != NULL)
		portal_listener_close(p, l, "shutting down");
	loop_timer_free(p->listen_retry);
	p->listen_retry = NULL;
}
