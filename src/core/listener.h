/* SPDX-License-Identifier: MIT */
/*
 * A listening socket on a loop: accepts up to a cap of connections per
 * wake-up (so a flood cannot starve the loop) and hands each to a callback
 * as a non-blocking, close-on-exec fd.  When the process is out of
 * descriptors, the connections waiting are closed at once with the one spare
 * descriptor the process keeps for that (so that they retry later, not wait
 * for their own timeout); without the spare it pauses for a second instead
 * of spinning on EMFILE.
 */
#ifndef NETPORT_CORE_LISTENER_H
#define NETPORT_CORE_LISTENER_H

#include <sys/socket.h>

struct listener;
struct loop;

/* Called for each accepted connection; the callee owns fd. */
typedef void listener_cb(int fd, const struct sockaddr *sa, void *arg);

/*
 * Starts accepting on fd (consumes it, also on failure).  `what` names the
 * listener in log lines (borrowed; it must outlive the listener).  NULL
 * when out of memory.
 */
struct listener *listener_new(struct loop *loop, int fd, const char *what,
	    listener_cb *cb, void *arg);
/* Stops accepting and closes the socket; NULL-safe. */
void	listener_free(struct listener *l);

/*
 * Warns when the listen backlog a daemon asked for (configuration key
 * listen_backlog) is above net.core.somaxconn, which silently cuts it.
 */
void	listener_check_backlog(long long backlog);
/* Stops or restarts accepting (the socket stays bound). */
void	listener_pause(struct listener *l);
void	listener_resume(struct listener *l);
int	listener_fd(const struct listener *l);

#endif
