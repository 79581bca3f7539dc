/* SPDX-License-Identifier: MIT */
/* Accepting connections on a loop; see listener.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/listener.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/net.h"

/* Connections accepted per wake-up, so one flood cannot starve the loop. */
#define LISTENER_ACCEPTS_PER_WAKEUP	64
/* How long to stop accepting when out of descriptors and no spare. */
#define LISTENER_EMFILE_PAUSE_MS	1000
/* The shortest time between two log lines about shed connections. */
#define LISTENER_SHED_LOG_MS		10000

struct listener {
	int			 fd;
	struct event		*ev;
	struct loop_timer	*resume;
	const char		*what;		/* borrowed */
	listener_cb		*cb;
	void			*arg;
	int			 paused;	/* by the owner */
	int			 starved;	/* by EMFILE, until the timer */
	uint64_t		 shed;		/* closed so, since the last log */
	uint64_t		 shed_logged_ms;
};

static void
listener_resume_cb(struct loop_timer *t, void *arg)
{
	struct listener *l = arg;

	l->starved = 0;
	if (!l->paused)
		event_add(l->ev, NULL);
}

/*
 * One descriptor per process held for the open-file limit: then it is
 * given up for one accept, the connection closed at once, and taken
 * again, so that connections above the limit learn at once that they must
 * try later (a portal backs off) instead of waiting in the backlog until
 * their own timeout.  One for all listeners, not one each: a portal's
 * port-range rule has a listener per port.  Atomic, in case listeners
 * ever run on more than one loop thread; the loser of a race closes its
 * copy.
 */
static atomic_int listener_spare = -1;

static void
listener_spare_take(void)
{
	int fd, none = -1;

	if (atomic_load(&listener_spare) >= 0)
		return;
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		return;
	if (!atomic_compare_exchange_strong(&listener_spare, &none, fd))
		close(fd);
}

/*
 * Out of descriptors: closes one waiting connection with the spare's
 * descriptor.  1 when one was shed (try the next), 0 when the backlog is
 * empty, -1 when there is no spare to do it with.
 */
static int
listener_shed_one(struct listener *l)
{
	uint64_t now;
	int fd, spare, err;

	if ((spare = atomic_exchange(&listener_spare, -1)) < 0)
		return -1;
	close(spare);
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	err = errno;
	if (fd >= 0)
		close(fd);
	listener_spare_take();
	if (fd < 0)
		return err == EAGAIN || err == EWOULDBLOCK ? 0 : -1;
	l->shed++;
	now = loop_now_ms();
	if (l->shed_logged_ms == 0 ||
	    now - l->shed_logged_ms >= LISTENER_SHED_LOG_MS) {
		log_warn(NULL, "accept on %s: out of file descriptors; closed "
		    "%llu waiting connection%s at once so that %s later",
		    l->what, (unsigned long long)l->shed, l->shed == 1 ?
		    "" : "s", l->shed == 1 ? "it tries again" :
		    "they try again");
		l->shed = 0;
		l->shed_logged_ms = now;
	}
	return 1;
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
			int err = errno, r = listener_shed_one(l);

			if (r > 0)
				continue;
			if (r == 0)
				return;
			/* Retrying at once would spin: wait for fds to free. */
			log_warn(NULL, "accept on %s: %s; pausing for %d ms",
			    l->what, strerror(err), LISTENER_EMFILE_PAUSE_MS);
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
	listener_spare_take();
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

void
listener_check_backlog(long long backlog)
{
	long max = net_somaxconn();

	if (max >= 0 && max < backlog)
		log_warn(NULL, "listen_backlog is %lld but net.core.somaxconn "
		    "is %ld: the kernel queues at most %ld connections; raise "
		    "it (sysctl -w net.core.somaxconn=%lld) or lower "
		    "listen_backlog", backlog, max, max, backlog);
}
