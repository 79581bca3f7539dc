/* SPDX-License-Identifier: MIT */
/*
 * The event loop: a thin layer over one libevent event_base per thread.
 *
 * It adds what libevent does not give: deferred frees (no object is freed
 * inside its own callback; loop_defer_free() queues it and the loop frees
 * the queue once the callbacks already due have run), connection ids,
 * and small wrappers for timers and signals so that roles need not call
 * libevent for those in a hundred places.  Modules that need libevent's own
 * objects (bufferevents, listeners) take the base from loop_base().
 *
 * A loop and everything registered on it belong to the thread that runs it.
 */
#ifndef NETPORT_CORE_LOOP_H
#define NETPORT_CORE_LOOP_H

#include <stdint.h>

struct event_base;
struct evdns_base;
struct loop;
struct loop_timer;

typedef void loop_free_fn(void *obj);
typedef void loop_timer_cb(struct loop_timer *t, void *arg);
typedef void loop_signal_cb(int signo, void *arg);

/* Embedded in an object that may be freed through loop_defer_free(). */
struct loop_defer {
	struct loop_defer	*next;
	loop_free_fn		*fn;
	void			*obj;
	int			 queued;
};

/* Returns a new loop, or NULL when out of memory. */
struct loop	*loop_new(void);
/*
 * A loop whose timers fire to the microsecond (a timerfd under epoll)
 * when precise is set, for a daemon that paces packets; plain loops wake
 * on millisecond boundaries, with fewer system calls.
 */
struct loop	*loop_new_precise(int precise);
/* Runs pending deferred frees, then frees the loop; NULL-safe. */
void		 loop_free(struct loop *loop);
struct event_base *loop_base(struct loop *loop);
/*
 * The loop's asynchronous resolver (evdns, reading /etc/resolv.conf and
 * /etc/hosts), created on first use; NULL if it cannot be created.
 */
struct evdns_base *loop_dns(struct loop *loop);

/* Runs until loop_stop(); returns 0, or -1 if libevent failed. */
int		 loop_run(struct loop *loop);
/* Makes loop_run() return after the current iteration. */
void		 loop_stop(struct loop *loop);

/*
 * Queues fn(obj) to run once the callbacks already due have run.  The node
 * is embedded in obj, so queueing never allocates and never fails; queueing
 * an object that is already queued is a no-op.
 */
void		 loop_defer_free(struct loop *loop, struct loop_defer *node,
		    loop_free_fn *fn, void *obj);

/* A process-wide increasing id for log lines; never 0. */
uint64_t	 loop_next_conn_id(void);

/* Milliseconds from a monotonic clock. */
uint64_t	 loop_now_ms(void);

/* One-shot timers, re-armed by the caller; NULL when out of memory. */
struct loop_timer *loop_timer_new(struct loop *loop, loop_timer_cb *cb,
		    void *arg);
void		 loop_timer_arm(struct loop_timer *t, uint64_t ms);
/* The same in microseconds (as precise as the loop: loop_new_precise). */
void		 loop_timer_arm_us(struct loop_timer *t, uint64_t us);
void		 loop_timer_cancel(struct loop_timer *t);
int		 loop_timer_pending(const struct loop_timer *t);
void		 loop_timer_free(struct loop_timer *t);

/*
 * Calls cb from the loop (not from signal context) when signo arrives.
 * Returns 0 or -ENOMEM.  The handler lives as long as the loop.
 */
int		 loop_on_signal(struct loop *loop, int signo,
		    loop_signal_cb *cb, void *arg)
		    __attribute__((warn_unused_result));

#endif
