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
 *
 * With the sockmap fast path (relay_sockmap.c) the kernel forwards instead:
 * both sockets go into the program's hash before the portals are told they
 * are paired, so not one byte of the tunnel passes through here.  The relay
 * then only watches for the ends: the sockets sit in an epoll set of their
 * own that asks for hang-ups and errors but not for data (the kernel still
 * signals "readable" on every segment it redirects, and libevent's epoll
 * backend cannot wait for a hang-up without also waking for data).  An EOF
 * is passed on once everything received before it has been written to the
 * other side, which the relay learns by comparing the bytes one socket
 * received (TCP_INFO) with those the other has taken to send.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/err.h"
#include "core/log.h"
#include "relay/relay_impl.h"
#include "relay/relay_sockmap.h"

/* Bytes a direction holds in flight: the pipe's (or fallback's) capacity. */
#define RELAY_DIR_BUF		(256 * 1024)
/* Splices per callback, so that one fast tunnel cannot starve the rest. */
#define RELAY_MAX_ROUNDS	8
/* Fast path: how often to look whether an EOF may be passed on yet. */
#define RELAY_DRAIN_MIN_MS	1
#define RELAY_DRAIN_MAX_MS	100
/* Hang-ups handled per wake-up of the fast path's epoll set. */
#define RELAY_KWATCH_BATCH	64

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
	/* Fast path: from's received and to's written byte counts when the
	 * kernel took over (the relay handshake and its answer). */
	uint64_t		 rx_base, tx_base;
};

struct relay_tunnel {
	TAILQ_ENTRY(relay_tunnel) entry;
	struct relay		*r;		/* borrowed */
	int			 fd[2];		/* 0: initiator, 1: acceptor */
	struct relay_dir	 dir[2];	/* 0: fd0 -> fd1, 1: fd1 -> fd0 */
	struct log_ctx		 log;
	char			 who[2 * NP_NAME_MAX + 8];
	int			 closed;
	int			 kernel;	/* forwarded by the sockmap */
	uint64_t		 cookies[2];	/* kernel: keys in the hash */
	struct loop_timer	*drain_timer;	/* kernel: pending EOFs */
	uint64_t		 drain_ms;
	struct loop_defer	 defer;
};

static int	relay_kernel_watch(struct relay_tunnel *t);
static void	relay_kernel_unwatch(struct relay_tunnel *t);
static void	relay_kernel_count(struct relay_tunnel *t);

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
	loop_timer_free(t->drain_timer);
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
	if (t->kernel) {
		relay_kernel_count(t);
		relay_kernel_unwatch(t);
		loop_timer_cancel(t->drain_timer);
	}
	for (i = 0; i < 2; i++) {
		if (t->dir[i].rev)
			event_del(t->dir[i].rev);
		if (t->dir[i].wev)
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

/* ---- the fast path: the kernel forwards, the relay watches the ends ---- */

/*
 * Bytes the socket has received in order.  The kernel's count is of
 * sequence numbers, so a FIN adds one; eof says one arrived.
 */
static int
relay_tcp_received(int fd, int eof, uint64_t *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	*out = 0;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return -errno;
	*out = ti.tcpi_bytes_received;
	if (eof && *out > 0)
		(*out)--;
	return 0;
}

/*
 * Bytes written into the socket so far: those acknowledged plus those
 * still queued.  Read in this order an ACK in between can only make the
 * sum too small, never too large, so "all written" is never claimed early.
 */
static int
relay_tcp_written(int fd, uint64_t *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int queued;

	*out = 0;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    ioctl(fd, SIOCOUTQ, &queued) != 0)
		return -errno;
	*out = ti.tcpi_bytes_acked + (uint64_t)queued;
	return 0;
}

/* Byte counts of both directions for the log and the load report. */
static void
relay_kernel_count(struct relay_tunnel *t)
{
	uint64_t rx;
	int i;

	for (i = 0; i < 2; i++) {
		struct relay_dir *d = &t->dir[i];

		if (relay_tcp_received(d->from, d->eof, &rx) == 0 &&
		    rx > d->rx_base + d->bytes) {
			t->r->bytes += rx - d->rx_base - d->bytes;
			d->bytes = rx - d->rx_base;
		}
	}
}

/* 1 when every byte from received before its EOF has gone into to. */
static int
relay_kernel_drained(struct relay_dir *d)
{
	struct relay_tunnel *t = d->t;
	uint64_t rx, tx;
	int rc;

	if ((rc = relay_tcp_received(d->from, 1, &rx)) != 0 ||
	    (rc = relay_tcp_written(d->to, &tx)) != 0)
		return rc;
	rx -= d->rx_base;
	tx -= d->tx_base;
	if (tx >= rx)
		return 1;
	if (t->drain_ms == 0)
		log_debug(&t->log, "tunnel %s: EOF from the %s waits for %llu "
		    "bytes to reach the other side", t->who, d == &t->dir[0] ?
		    "initiator" : "acceptor", (unsigned long long)(rx - tx));
	return 0;
}

/* Passes on each EOF whose bytes are through; retries later otherwise. */
static void
relay_kernel_drain(struct relay_tunnel *t)
{
	char why[128];
	int i, rc, waiting = 0;

	for (i = 0; i < 2; i++) {
		struct relay_dir *d = &t->dir[i];

		if (!d->eof || d->shut)
			continue;
		if ((rc = relay_kernel_drained(d)) < 0) {
			snprintf(why, sizeof(why), "cannot read socket "
			    "counters: %s", strerror(-rc));
			relay_fwd_close(t, 1, why);
			return;
		}
		if (rc == 0) {
			waiting = 1;
			continue;
		}
		shutdown(d->to, SHUT_WR);
		d->shut = 1;
	}
	if (t->dir[0].shut && t->dir[1].shut) {
		relay_fwd_close(t, 0, "both portals closed");
		return;
	}
	if (!waiting)
		return;
	/* The other side is slow to take the rest: look again, less often. */
	t->drain_ms = t->drain_ms ? t->drain_ms * 2 : RELAY_DRAIN_MIN_MS;
	if (t->drain_ms > RELAY_DRAIN_MAX_MS)
		t->drain_ms = RELAY_DRAIN_MAX_MS;
	loop_timer_arm(t->drain_timer, t->drain_ms);
}

static void
relay_drain_cb(struct loop_timer *timer, void *arg)
{
	relay_kernel_drain(arg);
}

/* A hang-up or an error on one socket of a kernel-forwarded tunnel. */
static void
relay_kernel_event(struct relay_dir *d, uint32_t events)
{
	struct relay_tunnel *t = d->t;
	socklen_t len = sizeof(int);
	char why[128];
	int err = 0;

	if (t->closed)
		return;
	if (getsockopt(d->from, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0 && (events & EPOLLERR))
		err = ECONNRESET;
	if (err != 0) {
		snprintf(why, sizeof(why), "%s: %s", d == &t->dir[0] ?
		    "initiator" : "acceptor", strerror(err));
		relay_fwd_close(t, 1, why);
		return;
	}
	if (!(events & (EPOLLRDHUP | EPOLLHUP)) || d->eof)
		return;
	d->eof = 1;
	t->drain_ms = 0;
	relay_kernel_drain(t);
}

static void
relay_kwatch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct epoll_event evs[RELAY_KWATCH_BATCH];
	int i, n;

	n = epoll_wait(fd, evs, RELAY_KWATCH_BATCH, 0);
	for (i = 0; i < n; i++)
		relay_kernel_event(evs[i].data.ptr, evs[i].events);
}

static int
relay_kernel_watch(struct relay_tunnel *t)
{
	struct relay *r = t->r;
	int i;

	for (i = 0; i < 2; i++) {
		/*
		 * Edge-triggered: each FIN, reset or error is reported once
		 * (an EOF stays true and would otherwise be reported again
		 * on every turn).  No EPOLLIN, so data does not wake us.
		 */
		struct epoll_event ev = {
			.events = EPOLLRDHUP | EPOLLET,
			.data.ptr = &t->dir[i],
		};

		if (epoll_ctl(r->kwatch_fd, EPOLL_CTL_ADD, t->fd[i], &ev) != 0)
			return -errno;
	}
	return 0;
}

static void
relay_kernel_unwatch(struct relay_tunnel *t)
{
	int i;

	for (i = 0; i < 2; i++)
		(void)epoll_ctl(t->r->kwatch_fd, EPOLL_CTL_DEL, t->fd[i], NULL);
	relay_sockmap_remove(t->r->sockmap, t->cookies);
}

/*
 * Hands a tunnel to the kernel before the portals learn they are paired,
 * so that no byte of theirs can arrive first.  0, or -errno when this
 * tunnel has to use splice instead (nothing is left in the hash then).
 */
static int
relay_kernel_start(struct relay_tunnel *t)
{
	struct relay *r = t->r;
	int i, rc, queued;

	if ((rc = relay_sockmap_add(r->sockmap, t->fd[0], t->fd[1],
	    t->cookies)) != 0)
		return rc;
	for (i = 0; i < 2; i++) {
		struct relay_dir *d = &t->dir[i];

		d->t = t;
		d->from = t->fd[i];
		d->to = t->fd[1 - i];
		d->pipe[0] = d->pipe[1] = -1;
		if ((rc = relay_tcp_received(d->from, 0, &d->rx_base)) != 0 ||
		    (rc = relay_tcp_written(d->to, &d->tx_base)) != 0)
			goto fail;
		/* The answer relay_fwd_start() is about to write. */
		d->tx_base += RELAY_REPLY_LEN;
		/* A byte queued now was sent before the answer: that breaks
		 * the protocol, and the kernel would forward later bytes
		 * ahead of it. */
		if (ioctl(d->from, FIONREAD, &queued) != 0 || queued != 0) {
			rc = -EPROTO;
			goto fail;
		}
	}
	if ((t->drain_timer = loop_timer_new(r->loop, relay_drain_cb,
	    t)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	t->kernel = 1;
	if ((rc = relay_kernel_watch(t)) != 0) {
		t->kernel = 0;
		relay_kernel_unwatch(t);
		return rc;
	}
	return 0;
fail:
	relay_sockmap_remove(r->sockmap, t->cookies);
	return rc;
}

/* ---- starting and stopping ---------------------------------------------- */

int
relay_fwd_start(struct relay *r, int fd_a, int fd_b,
    const uint8_t tunnel_id[TICKET_TUNNEL_ID_LEN], const char *who)
{
	struct relay_tunnel *t;
	const char *how = "splice";
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
	if (r->sockmap) {
		if ((rc = relay_kernel_start(t)) == -EPROTO) {
			relay_fwd_close(t, 1, "a portal sent data before "
			    "being paired");
			return rc;
		}
		if (rc == 0)
			how = "sockmap";
		else
			log_warn(&t->log, "tunnel %s: the kernel fast path "
			    "refused it (%s); forwarding with splice", who,
			    strerror(-rc));
	}
	/*
	 * The acceptor hears first: it sends nothing until the initiator's
	 * TLS hello reaches it, and that is sent only after the initiator's
	 * answer, so on the fast path no forwarded byte can overtake the
	 * acceptor's answer.
	 */
	if (relay_send_status(fd_b, RELAY_OK) != 0 ||
	    relay_send_status(fd_a, RELAY_OK) != 0) {
		char why[128];

		rc = -errno;
		snprintf(why, sizeof(why), "a half closed while waiting to be "
		    "paired: %s", strerror(errno));
		relay_fwd_close(t, 1, why);
		return rc;
	}
	if (!t->kernel && ((rc = relay_dir_init(t, 0)) != 0 ||
	    (rc = relay_dir_init(t, 1)) != 0)) {
		relay_fwd_close(t, 1, "cannot set up forwarding");
		return rc;
	}
	log_info(&t->log, "tunnel %s paired (tunnel id %02x%02x%02x%02x..., "
	    "%s)", who, tunnel_id[0], tunnel_id[1], tunnel_id[2],
	    tunnel_id[3], how);
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

int
relay_fwd_init(struct relay *r)
{
	char why[256];
	int rc;

	r->kwatch_fd = -1;
	if (r->conf->fast_path == RELAY_FAST_SPLICE) {
		log_info(NULL, "forwarding with splice (fast_path: splice)");
		return 0;
	}
	rc = relay_sockmap_open((uint32_t)r->conf->capacity, &r->sockmap, why,
	    sizeof(why));
	if (rc == 0) {
		r->kwatch_fd = epoll_create1(EPOLL_CLOEXEC);
		r->kwatch_ev = r->kwatch_fd < 0 ? NULL : event_new(
		    loop_base(r->loop), r->kwatch_fd, EV_READ | EV_PERSIST,
		    relay_kwatch_cb, r);
		if (r->kwatch_ev == NULL || event_add(r->kwatch_ev, NULL) != 0) {
			rc = r->kwatch_fd < 0 ? -errno : -ENOMEM;
			snprintf(why, sizeof(why), "cannot watch sockets: %s",
			    strerror(-rc));
			relay_fwd_fini(r);
		}
	}
	if (rc == 0) {
		log_info(NULL, "forwarding in the kernel (fast_path: sockmap)");
		return 0;
	}
	if (r->conf->fast_path == RELAY_FAST_SOCKMAP) {
		log_error(NULL, "fast_path sockmap: %s", why);
		return rc;
	}
	log_info(NULL, "forwarding with splice (fast_path: auto; sockmap "
	    "unavailable: %s)", why);
	return 0;
}

void
relay_fwd_fini(struct relay *r)
{
	if (r->kwatch_ev)
		event_free(r->kwatch_ev);
	r->kwatch_ev = NULL;
	if (r->kwatch_fd >= 0)
		close(r->kwatch_fd);
	r->kwatch_fd = -1;
	relay_sockmap_close(r->sockmap);
	r->sockmap = NULL;
}

size_t
relay_fwd_count(const struct relay *r)
{
	const struct relay_tunnel *t;
	size_t n = 0;

	TAILQ_FOREACH(t, &r->tunnel_list, entry)
		n++;
	return n;
}
