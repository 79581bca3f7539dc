/* SPDX-License-Identifier: MIT */
/* The loop: deferred frees run after the callback, timers, signals. */
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

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

/*
 * A callback that activates itself again (as a tunnel that flushes "in the
 * next turn" does under a bulk transfer) must not keep due timers and
 * ready sockets from running: the loop polls between bounded batches.
 */
#define T_BUSY_MAX	5000000

struct t_busy {
	struct event	*ev;
	struct loop	*loop;
	int		 turns;
	int		 timer_at;	/* busy turns when the timer fired */
	int		 read_at;	/* and when the socket was read */
	int		 wfd;		/* written to at turn 1000 */
};

static void
t_busy_cb(evutil_socket_t fd, short what, void *arg)
{
	struct t_busy *b = arg;

	if (++b->turns >= T_BUSY_MAX || (b->timer_at && b->read_at)) {
		loop_stop(b->loop);
		return;
	}
	/* Only a poll of the kernel can tell that this is readable now. */
	if (b->turns == 1000 && write(b->wfd, "x", 1) != 1)
		b->turns = T_BUSY_MAX;
	event_active(b->ev, 0, 0);
}

static void
t_busy_timer_cb(struct loop_timer *t, void *arg)
{
	struct t_busy *b = arg;

	b->timer_at = b->turns;
}

static void
t_busy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct t_busy *b = arg;
	char c;

	if (read(fd, &c, 1) == 1)
		b->read_at = b->turns;
}

T_CASE(busy_callback_leaves_room_for_timers_and_sockets)
{
	struct t_busy b = { 0 };
	struct loop_timer *t;
	struct event *rev;
	int sv[2];

	T_ASSERT((b.loop = loop_new()) != NULL);
	T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	b.wfd = sv[1];
	b.ev = event_new(loop_base(b.loop), -1, 0, t_busy_cb, &b);
	rev = event_new(loop_base(b.loop), sv[0], EV_READ, t_busy_read_cb, &b);
	T_ASSERT(b.ev && rev);
	T_EQ_INT(event_add(rev, NULL), 0);
	T_ASSERT((t = loop_timer_new(b.loop, t_busy_timer_cb, &b)) != NULL);
	/* Due only once the busy callback has been running for a while. */
	loop_timer_arm(t, 20);
	event_active(b.ev, 0, 0);
	T_EQ_INT(loop_run(b.loop), 0);
	/* Both ran while the busy callback still went on. */
	T_ASSERT(b.turns < T_BUSY_MAX);
	T_ASSERT(b.timer_at > 0 && b.timer_at < T_BUSY_MAX);
	T_ASSERT(b.read_at > 1000 && b.read_at < T_BUSY_MAX);
	event_free(rev);
	event_free(b.ev);
	loop_timer_free(t);
	loop_free(b.loop);
	close(sv[0]);
	close(sv[1]);
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
	T_RUN(busy_callback_leaves_room_for_timers_and_sockets);
	T_RUN(conn_ids_increase);
	return t_done();
}
