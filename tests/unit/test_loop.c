/* SPDX-License-Identifier: MIT */
/* The loop: deferred frees run after the callback, timers, signals. */
#include <signal.h>
#include <stdlib.h>

#include "core/loop.h"
#include "t.h"

struct t_obj {
	struct loop_defer	 defer;
	int			*freed;
	struct loop		*loop;
};

static int t_free_seen_inside;

static void
t_obj_free(void *arg)
{
	struct t_obj *o = arg;

	(*o->freed)++;
	free(o);
}

static void
t_timer_cb(struct loop_timer *t, void *arg)
{
	struct t_obj *o = arg;
	int *freed = o->freed;

	/* Queue twice: the second is a no-op; nothing is freed yet. */
	loop_defer_free(o->loop, &o->defer, t_obj_free, o);
	loop_defer_free(o->loop, &o->defer, t_obj_free, o);
	t_free_seen_inside = *freed;
	loop_stop(o->loop);
}

T_CASE(deferred_free_runs_after_callback)
{
	struct loop *loop = loop_new();
	struct loop_timer *t;
	struct t_obj *o;
	int freed = 0;

	T_ASSERT(loop);
	o = calloc(1, sizeof(*o));
	T_ASSERT(o);
	o->freed = &freed;
	o->loop = loop;
	t = loop_timer_new(loop, t_timer_cb, o);
	T_ASSERT(t);
	loop_timer_arm(t, 1);
	T_EQ_INT(loop_run(loop), 0);
	T_EQ_INT(t_free_seen_inside, 0);
	T_EQ_INT(freed, 1);
	loop_timer_free(t);
	loop_free(loop);
}

static void
t_count_cb(struct loop_timer *t, void *arg)
{
	int *n = arg;

	if (++*n < 3)
		loop_timer_arm(t, 1);
}

static void
t_stop_cb(struct loop_timer *t, void *arg)
{
	loop_stop(arg);
}

T_CASE(timers_rearm_and_cancel)
{
	struct loop *loop = loop_new();
	struct loop_timer *count, *stop, *never;
	int n = 0, never_n = 0;

	T_ASSERT(loop);
	count = loop_timer_new(loop, t_count_cb, &n);
	stop = loop_timer_new(loop, t_stop_cb, loop);
	never = loop_timer_new(loop, t_count_cb, &never_n);
	T_ASSERT(count && stop && never);
	loop_timer_arm(count, 1);
	loop_timer_arm(never, 5);
	T_ASSERT(loop_timer_pending(never));
	loop_timer_cancel(never);
	T_ASSERT(!loop_timer_pending(never));
	loop_timer_arm(stop, 50);
	T_EQ_INT(loop_run(loop), 0);
	T_EQ_INT(n, 3);
	T_EQ_INT(never_n, 0);
	loop_timer_free(count);
	loop_timer_free(stop);
	loop_timer_free(never);
	loop_free(loop);
}

static void
t_sig_cb(int signo, void *arg)
{
	struct loop *loop = arg;

	loop_stop(loop);
}

static void
t_raise_cb(struct loop_timer *t, void *arg)
{
	raise(SIGUSR1);
}

T_CASE(signal_runs_in_loop)
{
	struct loop *loop = loop_new();
	struct loop_timer *t;

	T_ASSERT(loop);
	T_EQ_INT(loop_on_signal(loop, SIGUSR1, t_sig_cb, loop), 0);
	t = loop_timer_new(loop, t_raise_cb, NULL);
	T_ASSERT(t);
	loop_timer_arm(t, 1);
	T_EQ_INT(loop_run(loop), 0);
	loop_timer_free(t);
	loop_free(loop);
}

T_CASE(conn_ids_increase)
{
	uint64_t a = loop_next_conn_id(), b = loop_next_conn_id();

	T_ASSERT(a != 0);
	T_ASSERT(b > a);
	T_ASSERT(loop_now_ms() > 0);
}

int
main(void)
{
	T_RUN(deferred_free_runs_after_callback);
	T_RUN(timers_rearm_and_cancel);
	T_RUN(signal_runs_in_loop);
	T_RUN(conn_ids_increase);
	return t_done();
}
