/* SPDX-License-Identifier: MIT */
/*
 * Client side: one TCP listener per client-side rule, opened and closed as
 * rule sets arrive.  A listener whose address cannot be bound (in use, not
 * configured yet) is retried every few seconds while its rule stands.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/err.h"
#include "core/log.h"
#include "portal/portal_impl.h"

#define PORTAL_LISTEN_RETRY_MS	5000
#define PORTAL_ACCEPTS_PER_WAKEUP 64

static void
portal_listener_close(struct portal *p, struct portal_listener *l,
    const char *why)
{
	char addr[PROTO_ADDR_MAX + 1];

	conf_endpoint_format(&l->rule.listen, addr, sizeof(addr));
	if (l->fd >= 0)
		log_info(NULL, "closed listener %s of rule %s: %s", addr,
		    l->rule.name, why);
	TAILQ_REMOVE(&p->listeners, l, entry);
	if (l->ev)
		event_free(l->ev);
	loop_timer_free(l->resume);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}

static void
portal_listener_resume_cb(struct loop_timer *t, void *arg)
{
	struct portal_listener *l = arg;

	l->paused = 0;
	if (l->ev)
		event_add(l->ev, NULL);
}

static void
portal_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct portal_listener *l = arg;
	char remote[NET_ADDR_STR_MAX];
	struct sockaddr_storage ss;
	socklen_t len;
	int i, fd;

	for (i = 0; i < PORTAL_ACCEPTS_PER_WAKEUP; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) &&
			    !l->paused) {
				/* Retrying at once would spin the loop. */
				log_warn(NULL, "accept on rule %s: %s; pausing "
				    "for 1 s", l->rule.name, strerror(errno));
				l->paused = 1;
				event_del(l->ev);
				loop_timer_arm(l->resume, 1000);
			}
			return;
		}
		net_addr_format((struct sockaddr *)&ss, remote,
		    sizeof(remote));
		/* Accepting may close listeners (rule sets do not change
		 * here, but keep the rule copy stable for the callee). */
		portal_tunnel_accept(l->p, &l->rule, fd, remote);
	}
}

static int
portal_listener_open(struct portal *p, struct portal_listener *l)
{
	char addr[PROTO_ADDR_MAX + 1], bound[NET_ADDR_STR_MAX];
	int fd;

	conf_endpoint_format(&l->rule.listen, addr, sizeof(addr));
	if ((fd = net_listen_tcp(&l->rule.listen, 512)) < 0) {
		log_warn(NULL, "cannot listen on %s for rule %s: %s; retrying "
		    "every %d s", addr, l->rule.name, np_strerror(fd),
		    PORTAL_LISTEN_RETRY_MS / 1000);
		return fd;
	}
	l->ev = event_new(loop_base(p->loop), fd, EV_READ | EV_PERSIST,
	    portal_accept_cb, l);
	if (l->ev == NULL || event_add(l->ev, NULL) != 0) {
		close(fd);
		return -ENOMEM;
	}
	l->fd = fd;
	net_local_addr(fd, bound, sizeof(bound));
	log_info(NULL, "listening on %s for rule %s (to portal/%s)", bound,
	    l->rule.name, l->rule.peer);
	return 0;
}

static int
portal_rule_same_listener(const struct portal_rule *a,
    const struct portal_rule *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->peer, b->peer) == 0 &&
	    a->ipproto == b->ipproto && a->listen.port == b->listen.port &&
	    strcmp(a->listen.host, b->listen.host) == 0;
}

static void
portal_listen_retry_cb(struct loop_timer *t, void *arg)
{
	struct portal *p = arg;
	struct portal_listener *l;
	int pending = 0;

	TAILQ_FOREACH(l, &p->listeners, entry)
		if (l->fd < 0 && portal_listener_open(p, l) != 0)
			pending = 1;
	if (pending)
		loop_timer_arm(t, PORTAL_LISTEN_RETRY_MS);
}

void
portal_listen_apply(struct portal *p)
{
	struct portal_listener *l, *next;
	size_t i;
	int found, pending = 0;

	/* Close the listeners whose rule is gone or changed. */
	TAILQ_FOREACH_SAFE(l, &p->listeners, entry, next) {
		found = 0;
		for (i = 0; i < p->nrules && !found; i++)
			if (p->rules[i].side == PROTO_SIDE_CLIENT &&
			    portal_rule_same_listener(&p->rules[i], &l->rule))
				found = 1;
		if (!found)
			portal_listener_close(p, l, "rule removed, expired or "
			    "changed");
	}
	/* Open the new ones. */
	for (i = 0; i < p->nrules; i++) {
		if (p->rules[i].side != PROTO_SIDE_CLIENT)
			continue;
		found = 0;
		TAILQ_FOREACH(l, &p->listeners, entry)
			if (portal_rule_same_listener(&p->rules[i], &l->rule)) {
				l->rule.expires = p->rules[i].expires;
				found = 1;
			}
		if (found)
			continue;
		if ((l = calloc(1, sizeof(*l))) == NULL) {
			log_error(NULL, "cannot listen for rule %s: out of "
			    "memory", p->rules[i].name);
			continue;
		}
		l->p = p;
		l->fd = -1;
		l->rule = p->rules[i];
		if ((l->resume = loop_timer_new(p->loop,
		    portal_listener_resume_cb, l)) == NULL) {
			free(l);
			continue;
		}
		TAILQ_INSERT_TAIL(&p->listeners, l, entry);
		if (portal_listener_open(p, l) != 0)
			pending = 1;
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
