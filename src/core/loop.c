/* SPDX-License-Identifier: MIT */
/* The event loop over libevent; see loop.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "core/loop.h"

/*
 * Two priorities: ordinary callbacks run at 0; the deferred-free event runs
 * at 1, so libevent calls it only once no callback of priority 0 is active,
 * that is after everything that could still hold a pointer to a queued
 * object has returned.
 */
#define LOOP_PRIO_NORMAL	0
#define LOOP_PRIO_FREE		1
/* Turns of the loop at loop_free() for libevent's deferred releases. */
#define LOOP_DRAIN_TURNS	4

struct loop_sig {
	struct loop_sig	*next;
	struct event	*ev;
	loop_signal_cb	*cb;
	void		*arg;
};

struct loop {
	struct event_base	*base;
	struct event		*free_ev;
	struct loop_defer	*free_head;
	struct loop_defer	**free_tail;
	struct loop_sig		*sigs;
	struct evdns_base	*dns;
};

struct loop_timer {
	struct event	*ev;
	loop_timer_cb	*cb;
	void		*arg;
};

static void
loop_run_frees(struct loop *loop)
{
	struct loop_defer *d;

	/* A free may queue more frees; keep going until the queue is dry. */
	while ((d = loop->free_head) != NULL) {
		loop->free_head = d->next;
		if (loop->free_head == NULL)
			loop->free_tail = &loop->free_head;
		d->queued = 0;
		d->next = NULL;
		d->fn(d->obj);
	}
}

static void
loop_free_cb(evutil_socket_t fd, short what, void *arg)
{
	loop_run_frees(arg);
}

struct loop *
loop_new(void)
{
	return loop_new_precise(0);
}

struct loop *
loop_new_precise(int precise)
{
	struct event_config *cfg;
	struct loop *loop;

	if ((loop = calloc(1, sizeof(*loop))) == NULL)
		return NULL;
	loop->free_tail = &loop->free_head;
	if ((cfg = event_config_new()) == NULL)
		goto fail;
	/* epoll_wait() counts in milliseconds; a timerfd does better. */
	if (precise)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	loop->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (loop->base == NULL)
		goto fail;
	if (event_base_priority_init(loop->base, 2) != 0)
		goto fail;
	loop->free_ev = event_new(loop->base, -1, 0, loop_free_cb, loop);
	if (loop->free_ev == NULL ||
	    event_priority_set(loop->free_ev, LOOP_PRIO_FREE) != 0)
		goto fail;
	return loop;
fail:
	loop_free(loop);
	return NULL;
}

void
loop_free(struct loop *loop)
{
	struct loop_sig *s;
	int i;

	if (loop == NULL)
		return;
	loop_run_frees(loop);
	/*
	 * libevent releases a bufferevent only when the last of its deferred
	 * callbacks has run; stopped from a signal, the loop may still hold
	 * some.  A few non-blocking turns let them run (and free what they
	 * release) before the base goes.
	 */
	for (i = 0; i < LOOP_DRAIN_TURNS && loop->base; i++) {
		event_base_loop(loop->base, EVLOOP_NONBLOCK);
		loop_run_frees(loop);
	}
	while ((s = loop->sigs) != NULL) {
		loop->sigs = s->next;
		event_free(s->ev);
		free(s);
	}
	if (loop->dns)
		evdns_base_free(loop->dns, 1);
	if (loop->free_ev)
		event_free(loop->free_ev);
	if (loop->base)
		event_base_free(loop->base);
	free(loop);
}

struct event_base *
loop_base(struct loop *loop)
{
	return loop->base;
}

struct evdns_base *
loop_dns(struct loop *loop)
{
	if (loop->dns == NULL)
		loop->dns = evdns_base_new(loop->base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS);
	return loop->dns;
}

int
loop_run(struct loop *loop)
{
	int r;

	r = event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
	loop_run_frees(loop);
	return r < 0 ? -1 : 0;
}

void
loop_stop(struct loop *loop)
{
	event_base_loopbreak(loop->base);
}

void
loop_defer_free(struct loop *loop, struct loop_defer *node, loop_free_fn *fn,
    void *obj)
{
	if (node->queued)
		return;
	node->queued = 1;
	node->fn = fn;
	node->obj = obj;
	node->next = NULL;
	*loop->free_tail = node;
	loop->free_tail = &node->next;
	event_active(loop->free_ev, 0, 0);
}

uint64_t
loop_next_conn_id(void)
{
	static atomic_uint_fast64_t next = 1;

	return atomic_fetch_add(&next, 1);
}

uint64_t
loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
loop_timer_fire(evutil_socket_t fd, short what, void *arg)
{
	struct loop_timer *t = arg;

	t->cb(t, t->arg);
}

struct loop_timer *
loop_timer_new(struct loop *loop, loop_timer_cb *cb, void *arg)
{
	struct loop_timer *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->cb = cb;
	t->arg = arg;
	t->ev = evtimer_new(loop->base, loop_timer_fire, t);
	if (t->ev == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void
loop_timer_arm(struct loop_timer *t, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(t->ev, &tv);
}

void
loop_timer_arm_us(struct loop_timer *t, uint64_t us)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	evtimer_add(t->ev, &tv);
}

void
loop_timer_cancel(struct loop_timer *t)
{
	evtimer_del(t->ev);
}

int
loop_timer_pending(const struct loop_timer *t)
{
	return evtimer_pending(t->ev, NULL);
}

void
loop_timer_free(struct loop_timer *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	free(t);
}

static void
loop_signal_fire(evutil_socket_t signo, short what, void *arg)
{
	struct loop_sig *s = arg;

	s->cb((int)signo, s->arg);
}

int
loop_on_signal(struct loop *loop, int signo, loop_signal_cb *cb, void *arg)
{
	struct loop_sig *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->cb = cb;
	s->arg = arg;
	s->ev = evsignal_new(loop->base, signo, loop_signal_fire, s);
	if (s->ev == NULL || evsignal_add(s->ev, NULL) != 0) {
		if (s->ev)
			event_free(s->ev);
		free(s);
		return -ENOMEM;
	}
	s->next = loop->sigs;
	loop->sigs = s;
	return 0;
}
