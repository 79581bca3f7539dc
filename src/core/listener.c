/* SPDX-License-Identifier: MIT */
/* Accepting connections on a loop; see listener.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/listener.h"
#include "core/log.h"
#include "core/loop.h"

/* Connections accepted per wake-up, so one flood cannot starve the loop. */
#define LISTENER_ACCEPTS_PER_WAKEUP	64
/* How long to stop accepting when out of descriptors. */
#define LISTENER_EMFILE_PAUSE_MS	1000

struct listener {
	int			 fd;
	struct event		*ev;
	struct loop_timer	*resume;
	const char		*what;		/* borrowed */
	listener_cb		*cb;
	void			*arg;
	int			 paused;	/* by the owner */
	int			 starved;	/* by EMFILE, until the timer */
};

static void
listener_resume_cb(struct loop_timer *t, void *arg)
{
	struct listener *l = arg;

	l->starved = 0;
	if (!l->paused)
		event_add(l->ev, NULL);
}

static void
listener_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	int i, fd;

	for (i = 0; i < LISTENER_ACCEPTS_PER_WAKEUP && !l->paused &&
	    !l->starved; i++) {
		len = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			l->cb(fd, (struct sockaddr *)&ss, l->arg);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			/* Retrying at once would spin: wait for fds to free. */
			log_warn(NULL, "accept on %s: %s; pausing for %d ms",
			    l->what, strerror(errno), LISTENER_EMFILE_PAUSE_MS);
			l->starved = 1;
			event_del(l->ev);
			loop_timer_arm(l->resume, LISTENER_EMFILE_PAUSE_MS);
		} else if (errno != EAGAIN)
			log_warn(NULL, "accept on %s: %s", l->what,
			    strerror(errno));
		return;
	}
}

struct listener *
listener_new(struct loop *loop, int fd, const char *what, listener_cb *cb,
    void *arg)
{
	struct listener *l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		close(fd);
		return NULL;
	}
	l->fd = fd;
	l->what = what;
	l->cb = cb;
	l->arg = arg;
	l->ev = event_new(loop_base(loop), fd, EV_READ | EV_PERSIST,
	    listener_accept_cb, l);
	l->resume = loop_timer_new(loop, listener_resume_cb, l);
	if (l->ev == NULL || l->resume == NULL ||
	    event_add(l->ev, NULL) != 0) {
		listener_free(l);
		return NULL;
	}
	return l;
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->ev)
		event_free(l->ev);
	loop_timer_free(l->resume);
	close(l->fd);
	free(l);
}

void
listener_pause(struct listener *l)
{
	l->paused = 1;
	event_del(l->ev);
}

void
listener_resume(struct listener *l)
{
	l->paused = 0;
	if (!l->starved)
		event_add(l->ev, NULL);
}

int
listener_fd(const struct listener *l)
{
	return l->fd;
}
