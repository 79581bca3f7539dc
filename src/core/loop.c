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
 * Callbacks run before the loop looks for new events again: at most this
 * many.  libevent's default runs every active callback first, including
 * ones activated while it runs them (event_active() from a callback queues
 * behind it in the same pass), so a tunnel that keeps reading and flushing
 * from its buffers could hold the loop for seconds under a bulk transfer:
 * no timer fired and no other socket was read, and the control session,
 * silent, was closed by the server's dead-peer timeout.  After this many
 * the loop polls (without waiting), fires due timers and queues what is
 * ready behind the rest.
 */
#define LOOP_MAX_CALLBACKS	32
/* Turns of the loop at loop_free() for libevent's deferred releases: at
 * least the first, more while callbacks are still active. */
#define LOOP_DRAIN_TURNS	4
#define LOOP_DRAIN_TURNS_MAX	10000

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
	if (event_config_set_max_dispatch_interval(cfg, NULL,
	    LOOP_MAX_CALLBACKS, 0) != 0) {
		event_config_free(cfg);
		goto fail;
	}
	loop->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (loop->base == NULL)
		goto fail;
	/*
	 * The deferred-free event shares the one priority: activated, it
	 * queues behind the callbacks already due, and never runs inside the
	 * callback that queued an object.
	 */
	loop->free_ev = event_new(loop->base, -1, 0, loop_free_cb, loop);
	if (loop->free_ev == NULL)
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
	for (i = 0; loop->base && i < LOOP_DRAIN_TURNS_MAX && (i <
	    LOOP_DRAIN_TURNS || event_base_get_num_events(loop->base,
	    EVENT_BASE_COUNT_ACTIVE) > 0); i++) {
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
