/* SPDX-License-Identifier: MIT */
/*
 * A worker thread for work that must not hold the event loop: parsing a
 * large policy, freeing a large one.  The loop hands a job over, the
 * thread runs job->work, and the loop then runs job->done in its own
 * thread, where the result may touch everything the loop owns.
 *
 * The thread is started once, before the daemon drops privileges and
 * installs its system call filter, so that neither has to allow making
 * threads.  Jobs run one at a time in the order given.  The job is the
 * caller's: neither side frees it, and the loop must not touch it between
 * worker_submit() and its done callback.  work must not use the loop,
 * the log's loop-side state or anything else of the loop's thread; it
 * gets only what the job carries.
 *
 * Job hand-over is a pointer sent over a socket pair (SOCK_SEQPACKET: one
 * message each, never torn), so the loop wakes for a finished job like
 * for any other descriptor and the thread sleeps in a blocking read.
 */
#ifndef NETPORT_CORE_WORKER_H
#define NETPORT_CORE_WORKER_H

struct loop;
struct worker;
struct worker_job;

typedef void worker_fn(struct worker_job *job);

struct worker_job {
	worker_fn	*work;		/* on the worker thread */
	worker_fn	*done;		/* then on the loop; may be NULL */
};

/*
 * Starts the thread; NULL with errno set on failure.  what names it in
 * the log.  Signals stay with the loop's thread.
 */
struct worker	*worker_start(struct loop *loop, const char *what);
/* Queues job; 0, or -errno (the job was not taken). */
int		 worker_submit(struct worker *w, struct worker_job *job);
/*
 * Stops the thread after the job it runs (queued jobs are not run, and
 * their done callbacks not called) and frees; NULL-safe.
 */
void		 worker_stop(struct worker *w);

#endif
