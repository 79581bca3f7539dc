/* SPDX-License-Identifier: MIT */
/*
 * The worker thread (see worker.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/worker.h"

struct worker {
	struct event	*ev;		/* finished jobs, on the loop */
	int		 loop_fd;	/* the loop's end */
	int		 thread_fd;	/* the thread's end */
	pthread_t	 thread;
	atomic_int	 stopping;
	const char	*what;		/* borrowed, static */
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct worker_job *job;
	ssize_t n;

	for (;;) {
		n = recv(w->thread_fd, &job, sizeof(job), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(job))
			break;		/* the loop's end is closed */
		if (atomic_load(&w->stopping))
			break;
		job->work(job);
		while ((n = send(w->thread_fd, &job, sizeof(job),
		    MSG_NOSIGNAL)) < 0 && errno == EINTR)
			;
		if (n != (ssize_t)sizeof(job))
			break;
	}
	return NULL;
}

/* A job came back: its done callback runs here, on the loop. */
static void
worker_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_job *job;
	ssize_t n;

	while ((n = recv(fd, &job, sizeof(job), MSG_DONTWAIT)) ==
	    (ssize_t)sizeof(job)) {
		if (job->done)
			job->done(job);
	}
	if (n == 0)
		log_error(NULL, "the %s thread is gone", w->what);
}

struct worker *
worker_start(struct loop *loop, const char *what)
{
	struct worker *w;
	sigset_t all, old;
	int sv[2], r;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->what = what;
	atomic_init(&w->stopping, 0);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		free(w);
		return NULL;
	}
	w->loop_fd = sv[0];
	w->thread_fd = sv[1];
	if ((w->ev = event_new(loop_base(loop), w->loop_fd,
	    EV_READ | EV_PERSIST, worker_on_done, w)) == NULL ||
	    event_add(w->ev, NULL) != 0) {
		r = ENOMEM;
		goto fail;
	}
	/* Signals are the loop's: the thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		goto fail;
	return w;
fail:
	if (w->ev)
		event_free(w->ev);
	close(w->loop_fd);
	close(w->thread_fd);
	free(w);
	errno = r;
	return NULL;
}

int
worker_submit(struct worker *w, struct worker_job *job)
{
	ssize_t n;

	while ((n = send(w->loop_fd, &job, sizeof(job), MSG_NOSIGNAL)) < 0 &&
	    errno == EINTR)
		;
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(job) ? 0 : -EIO;
}

void
worker_stop(struct worker *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stopping, 1);
	/* EOF on its end ends the thread's blocking read. */
	shutdown(w->loop_fd, SHUT_RDWR);
	pthread_join(w->thread, NULL);
	event_free(w->ev);
	close(w->loop_fd);
	close(w->thread_fd);
	free(w);
}
