/* SPDX-License-Identifier: MIT */
/*
 * Forwarding between the two halves of a paired tunnel, without parsing a
 * byte: the portals' TLS runs through here end to end.
 *
 * Each direction moves data socket -> pipe -> socket with splice(2), so the
 * payload never enters user space.  When the writing side is full the
 * bytes wait in the pipe and reading from the other socket stops until it
 * drains (the pipe is the whole buffer of a direction).  An EOF is passed
 * on as shutdown(SHUT_WR) once the pipe is empty; a reset or error on one
 * side resets the other (SO_LINGER 0), so each portal learns what happened.
 * Where splice is not available for a pair of sockets, a direction falls
 * back to read/write through a user-space buffer of the same size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/err.h"
#include "core/log.h"
#include "relay/relay_impl.h"

/* Bytes a direction holds in flight: the pipe's (or fallback's) capacity. */
#define RELAY_DIR_BUF		(256 * 1024)
/* Splices per callback, so that one fast tunnel cannot starve the rest. */
#define RELAY_MAX_ROUNDS	8

struct relay_dir {
	struct relay_tunnel	*t;		/* borrowed: the owner */
	int			 from, to;	/* borrowed from the tunnel */
	int			 pipe[2];	/* owned; -1 in fallback mode */
	uint8_t			*buf;		/* owned; fallback mode only */
	size_t			 buf_off;
	size_t			 held;		/* bytes in pipe or buf */
	int			 eof;		/* from reached EOF */
	int			 shut;		/* to got SHUT_WR */
	struct event		*rev;		/* from readable */
	struct event		*wev;		/* to writable */
	uint64_t		 bytes;
};

struct relay_tunnel {
	TAILQ_ENTRY(relay_tunnel) entry;
	struct relay		*r;		/* borrowed */
	int			 fd[2];		/* 0: initiator, 1: acceptor */
	struct relay_dir	 dir[2];	/* 0: fd0 -> fd1, 1: fd1 -> fd0 */
	struct log_ctx		 log;
	char			 who[2 * NP_NAME_MAX + 8];
	int			 closed;
	struct loop_defer	 defer;
};

static void
relay_fwd_free(void *arg)
{
	struct relay_tunnel *t = arg;
	int i;

	for (i = 0; i < 2; i++) {
		struct relay_dir *d = &t->dir[i];

		if (d->rev)
			event_free(d->rev);
		if (d->wev)
			event_free(d->wev);
		if (d->pipe[0] >= 0)
			close(d->pipe[0]);
		if (d->pipe[1] >= 0)
			close(d->pipe[1]);
		free(d->buf);
		if (t->fd[i] >= 0)
			close(t->fd[i]);
	}
	free(t);
}

/* Makes the next close() of fd send a RST instead of a FIN. */
static void
relay_fwd_abort_fd(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static void
relay_fwd_close(struct relay_tunnel *t, int reset, const char *why)
{
	struct relay *r = t->r;
	int i;

	if (t->closed)
		return;
	t->closed = 1;
	for (i = 0; i < 2; i++) {
		event_del(t->dir[i].rev);
		event_del(t->dir[i].wev);
		if (reset)
			relay_fwd_abort_fd(t->fd[i]);
	}
	log_info(&t->log, "tunnel %s closed: %s (%llu bytes forward, %llu "
	    "back)", t->who, why, (unsigned long long)t->dir[0].bytes,
	    (unsigned long long)t->dir[1].bytes);
	TAILQ_REMOVE(&r->tunnel_list, t, entry);
	r->tunnels--;
	loop_defer_free(r->loop, &t->defer, relay_fwd_free, t);
	relay_ctl_report_load(r);
}

/* Pushes held bytes to d->to; 0 when all gone, 1 when to is full, -errno. */
static int
relay_dir_flush(struct relay_dir *d)
{
	ssize_t n;

	while (d->held > 0) {
		if (d->buf)
			n = send(d->to, d->buf + d->buf_off, d->held,
			    MSG_NOSIGNAL);
		else
			n = splice(d->pipe[0], NULL, d->to, NULL, d->held,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -errno;
		}
		d->held -= (size_t)n;
		d->buf_off = d->held ? d->buf_off + (size_t)n : 0;
		d->bytes += (uint64_t)n;
		d->t->r->bytes += (uint64_t)n;
	}
	return 0;
}

/* Reads what from has into the pipe or buffer; -errno, 0 (EOF), or n. */
static ssize_t
relay_dir_fill(struct relay_dir *d)
{
	ssize_t n;

	for (;;) {
		if (d->buf)
			n = recv(d->from, d->buf, RELAY_DIR_BUF, 0);
		else
			n = splice(d->from, NULL, d->pipe[1], NULL,
			    RELAY_DIR_BUF, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		/* A pair of sockets the kernel cannot splice: fall back. */
		if (!d->buf && (errno == EINVAL || errno == ENOSYS)) {
			if ((d->buf = malloc(RELAY_DIR_BUF)) == NULL)
				return -ENOMEM;
			log_info(&d->t->log, "splice unavailable; forwarding "
			    "through user space");
			continue;
		}
		return -errno;
	}
}

/*
 * Moves bytes of one direction until the source is empty, the sink is
 * full, or the round cap is hit; then sets which event waits for what.
 */
static void
relay_dir_pump(struct relay_dir *d)
{
	struct relay_tunnel *t = d->t;
	char why[128];
	ssize_t n;
	int i, rc, drained = 0;

	for (i = 0; i < RELAY_MAX_ROUNDS; i++) {
		if ((rc = relay_dir_flush(d)) < 0) {
			snprintf(why, sizeof(why), "write to the %s failed: %s",
			    d == &t->dir[0] ? "acceptor" : "initiator",
			    strerror(-rc));
			relay_fwd_close(t, 1, why);
			return;
		}
		if (rc == 1) {
			/* Sink full: stop reading, wait for it to drain. */
			event_del(d->rev);
			event_add(d->wev, NULL);
			return;
		}
		if (d->eof) {
			if (!d->shut) {
				shutdown(d->to, SHUT_WR);
				d->shut = 1;
			}
			event_del(d->rev);
			event_del(d->wev);
			if (t->dir[0].shut && t->dir[1].shut)
				relay_fwd_close(t, 0, "both portals closed");
			return;
		}
		/*
		 * A short read last round drained the socket: asking again
		 * would only return EAGAIN.  Wait for the next read event.
		 */
		if (drained)
			break;
		n = relay_dir_fill(d);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			/* What this side sent before it failed still goes
			 * to the other side, as far as it takes it now. */
			(void)relay_dir_flush(d);
			snprintf(why, sizeof(why), "%s: %s", d == &t->dir[0] ?
			    "initiator" : "acceptor", strerror((int)-n));
			relay_fwd_close(t, 1, why);
			return;
		}
		if (n > 0 && n < RELAY_DIR_BUF)
			drained = 1;
		if (n == 0)
			d->eof = 1;
		else if (d->buf) {
			d->held = (size_t)n;
			d->buf_off = 0;
		} else
			d->held += (size_t)n;
	}
	event_del(d->wev);
	event_add(d->rev, NULL);
}

static void
relay_dir_cb(evutil_socket_t fd, short what, void *arg)
{
	relay_dir_pump(arg);
}

static int
relay_dir_init(struct relay_tunnel *t, int i)
{
	struct relay_dir *d = &t->dir[i];
	struct event_base *base = loop_base(t->r->loop);

	d->t = t;
	d->from = t->fd[i];
	d->to = t->fd[1 - i];
	d->pipe[0] = d->pipe[1] = -1;
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) != 0)
		return -errno;
	/* A larger pipe means fewer wake-ups per MB; the default is 64 KiB. */
	(void)fcntl(d->pipe[1], F_SETPIPE_SZ, RELAY_DIR_BUF);
	d->rev = event_new(base, d->from, EV_READ | EV_PERSIST, relay_dir_cb,
	    d);
	d->wev = event_new(base, d->to, EV_WRITE | EV_PERSIST, relay_dir_cb,
	    d);
	if (d->rev == NULL || d->wev == NULL || event_add(d->rev, NULL) != 0)
		return -ENOMEM;
	return 0;
}

int
relay_fwd_start(struct relay *r, int fd_a, int fd_b,
    const uint8_t tunnel_id[TICKET_TUNNEL_ID_LEN], const char *who)
{
	struct relay_tunnel *t;
	int rc;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		close(fd_a);
		close(fd_b);
		log_error(NULL, "tunnel %s dropped: out of memory", who);
		return -ENOMEM;
	}
	t->r = r;
	t->fd[0] = fd_a;
	t->fd[1] = fd_b;
	t->dir[0].pipe[0] = t->dir[0].pipe[1] = -1;
	t->dir[1].pipe[0] = t->dir[1].pipe[1] = -1;
	t->log.conn_id = loop_next_conn_id();
	snprintf(t->who, sizeof(t->who), "%s", who);
	TAILQ_INSERT_TAIL(&r->tunnel_list, t, entry);
	r->tunnels++;
	if ((rc = relay_dir_init(t, 0)) != 0 ||
	    (rc = relay_dir_init(t, 1)) != 0) {
		relay_fwd_close(t, 1, "cannot set up forwarding");
		return rc;
	}
	log_info(&t->log, "tunnel %s paired (tunnel id %02x%02x%02x%02x...)",
	    who, tunnel_id[0], tunnel_id[1], tunnel_id[2], tunnel_id[3]);
	relay_ctl_report_load(r);
	return 0;
}

void
relay_fwd_close_all(struct relay *r)
{
	struct relay_tunnel *t, *next;

	TAILQ_FOREACH_SAFE(t, &r->tunnel_list, entry, next)
		relay_fwd_close(t, 1, "relay shutting down");
}
