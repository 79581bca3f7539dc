/* SPDX-License-Identifier: MIT */
/*
 * The worker thread: work runs off the loop's thread, done on it, in the
 * order given; stopping with jobs queued neither runs nor reports them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/loop.h"
#include "core/worker.h"
#include "t.h"

#define NJOBS	50

struct t_job {
	struct worker_job	 job;
	pthread_t		 ran_on;
	int			 seq;
	int			 work_done;	/* set by work */
	struct loop		*loop;
};

static pthread_t t_loop_thread;
static int t_done_order[NJOBS];
static int t_ndone;
static int t_done_saw_work;

static void
t_work(struct worker_job *job)
{
	struct t_job *j = (struct t_job *)job;

	j->ran_on = pthread_self();
	j->work_done = 1;
}

static void
t_job_done(struct worker_job *job)
{
	struct t_job *j = (struct t_job *)job;

	/* On the loop's thread, after work, whose writes it sees. */
	if (pthread_equal(pthread_self(), t_loop_thread) && j->work_done)
		t_done_saw_work++;
	t_done_order[t_ndone++] = j->seq;
	if (t_ndone == NJOBS)
		loop_stop(j->loop);
}

static void
t_timeout_cb(struct loop_timer *t, void *arg)
{
	loop_stop(arg);
}

T_CASE(jobs_run_off_the_loop_and_finish_on_it_in_order)
{
	static struct t_job jobs[NJOBS];
	struct loop *loop = loop_new();
	struct loop_timer *guard;
	struct worker *w;
	int i;

	T_ASSERT(loop);
	t_loop_thread = pthread_self();
	w = worker_start(loop, "test");
	T_ASSERT(w);
	for (i = 0; i < NJOBS; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].job.work = t_work;
		jobs[i].job.done = t_job_done;
		jobs[i].seq = i;
		jobs[i].loop = loop;
		T_ASSERT(worker_submit(w, &jobs[i].job) == 0);
	}
	guard = loop_timer_new(loop, t_timeout_cb, loop);
	T_ASSERT(guard);
	loop_timer_arm(guard, 10000);	/* a hang fails, not blocks */
	T_ASSERT(loop_run(loop) == 0);
	T_ASSERT(t_ndone == NJOBS);
	T_ASSERT(t_done_saw_work == NJOBS);
	for (i = 0; i < NJOBS; i++) {
		T_ASSERT(t_done_order[i] == i);
		T_ASSERT(!pthread_equal(jobs[i].ran_on, t_loop_thread));
	}
	worker_stop(w);
	loop_timer_free(guard);
	loop_free(loop);
}

static atomic_int t_slow_started;

static void
t_slow_work(struct worker_job *job)
{
	struct timespec ts = { 0, 50000000 };
	struct t_job *j = (struct t_job *)job;

	atomic_fetch_add(&t_slow_started, 1);
	nanosleep(&ts, NULL);
	j->work_done = 1;
}

static int t_slow_done;

static void
t_slow_done_cb(struct worker_job *job)
{
	t_slow_done++;
}

T_CASE(stop_waits_for_the_running_job_and_drops_the_rest)
{
	static struct t_job jobs[3];
	struct loop *loop = loop_new();
	struct worker *w;
	struct timespec ts = { 0, 10000000 };
	int i;

	T_ASSERT(loop);
	w = worker_start(loop, "test");
	T_ASSERT(w);
	for (i = 0; i < 3; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].job.work = t_slow_work;
		jobs[i].job.done = t_slow_done_cb;
		T_ASSERT(worker_submit(w, &jobs[i].job) == 0);
	}
	/* Until the first is running (10 s at most). */
	for (i = 0; i < 1000 && atomic_load(&t_slow_started) == 0; i++)
		nanosleep(&ts, NULL);
	T_ASSERT(atomic_load(&t_slow_started) == 1);
	worker_stop(w);			/* joins: no job in its hands */
	T_ASSERT(jobs[0].work_done == 1);
	T_ASSERT(jobs[1].work_done == 0 && jobs[2].work_done == 0);
	T_ASSERT(t_slow_done == 0);	/* the loop never ran */
	worker_stop(NULL);
	loop_free(loop);
}

int
main(void)
{
	T_RUN(jobs_run_off_the_loop_and_finish_on_it_in_order);
	T_RUN(stop_waits_for_the_running_job_and_drops_the_rest);
	return t_done();
}
