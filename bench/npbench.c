/* SPDX-License-Identifier: MIT */
/*
 * npbench: the echo target and the load generators of bench/run.sh.
 *
 * Everything talks to 127.0.0.1 only.  Every blocking call has a timeout
 * (SO_RCVTIMEO/SO_SNDTIMEO, 10 s), so a broken path fails a measurement
 * instead of hanging it.  Results are one JSON object on standard output.
 *
 *   npbench echo PORT...           echo server on each PORT (one epoll loop,
 *                                  any number of peers)
 *   npbench rr PORT COUNT SIZE     COUNT round trips of SIZE bytes on one
 *                                  connection: p50/p99 in microseconds
 *   npbench ttfb PORT COUNT        COUNT new connections, one after the
 *                                  other: connect, send 64 bytes, time to
 *                                  the first byte of the answer
 *   npbench cps PORT SECONDS PAR   PAR threads, each: connect, 1-byte echo,
 *                                  close, for SECONDS: connections/second
 *   npbench hold PORT N            opens N connections (4 at a time: socat
 *                                  listens with a backlog of 5), each
 *                                  proven by a 1-byte echo, prints
 *                                  "holding N", then keeps them until
 *                                  SIGTERM or SIGINT
 *   npbench stall PORT SECS [US]   one connection: a 64-byte message (a
 *                                  sequence number, its send time, a
 *                                  pattern) every US microseconds (1000)
 *                                  for SECS seconds; checks that the echoes
 *                                  come back in order and intact; the gaps
 *                                  between consecutive echo arrivals (the
 *                                  longest, with wall-clock times, and the
 *                                  median) in milliseconds
 *
 * Written in C rather than Python so that the client's own cost (a few
 * hundred nanoseconds per round trip) stays far below what is measured,
 * and so that the connection rate measures the path, not an interpreter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S	10
#define ECHO_BUF	16384
#define HOLD_BATCH	4
#define STALL_MSG	64
#define STALL_MAGIC	0x6e7073746c6c3634ull	/* "npstll64" */
#define STALL_OUTBUF	(1u << 20)
#define STALL_TOP	5

static void die(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "npbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long
parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi)
		die("bad %s '%s' (expected %ld..%ld)", what, s, lo, hi);
	return v;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct sockaddr_in
loopback(int port)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

/* A blocking, connected socket with I/O timeouts and TCP_NODELAY; or -1. */
static int
dial(int port)
{
	struct sockaddr_in sa = loopback(port);
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
recv_all(int fd, void *p, size_t n)
{
	char *c = p;
	ssize_t r;

	while (n > 0) {
		r = recv(fd, c, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n], in microseconds. */
static double
pct_us(const uint64_t *v, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1000.0;
}

static void
print_stats(const char *extra, uint64_t *v, size_t n, int with_samples)
{
	double sum = 0;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (i = 0; i < n; i++)
		sum += (double)v[i];
	printf("{%s\"n\": %zu, \"p50_us\": %.1f, \"p99_us\": %.1f, "
	    "\"min_us\": %.1f, \"max_us\": %.1f, \"mean_us\": %.1f", extra, n,
	    pct_us(v, n, 0.50), pct_us(v, n, 0.99), (double)v[0] / 1000.0,
	    (double)v[n - 1] / 1000.0, sum / (double)n / 1000.0);
	if (with_samples) {
		printf(", \"samples_us\": [");
		for (i = 0; i < n; i++)
			printf("%s%.1f", i ? ", " : "", (double)v[i] / 1000.0);
		printf("]");
	}
	printf("}\n");
}

/* ---- echo server ------------------------------------------------------ */

struct echo_conn {
	int	fd;
	int	listener;	/* a listening socket: no buffer follows */
	size_t	len, off;	/* bytes read but not yet written back */
	char	buf[];
};

static void
echo_close(int ep, struct echo_conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Writes back what is held; 1 when some is left, 0 when done, -1 on error. */
static int
echo_flush(struct echo_conn *c)
{
	ssize_t w;

	while (c->off < c->len) {
		w = send(c->fd, c->buf + c->off, c->len - c->off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 1;
		if (w < 0)
			return -1;
		c->off += (size_t)w;
	}
	c->len = c->off = 0;
	return 0;
}

static void
echo_event(int ep, struct echo_conn *c, uint32_t events)
{
	struct epoll_event ev = { 0 };
	ssize_t r;
	int rc, rounds;

	if (c->len > 0) {		/* was waiting for EPOLLOUT */
		if ((rc = echo_flush(c)) < 0) {
			echo_close(ep, c);
			return;
		}
		if (rc == 1)
			return;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	for (rounds = 0; rounds < 16; rounds++) {
		r = recv(c->fd, c->buf, ECHO_BUF, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			echo_close(ep, c);
			return;
		}
		c->len = (size_t)r;
		c->off = 0;
		if ((rc = echo_flush(c)) < 0) {
			echo_close(ep, c);
			return;
		}
		if (rc == 1) {
			ev.events = EPOLLOUT;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
	}
	(void)events;
}

static int
cmd_echo(char **ports, int nports)
{
	struct epoll_event ev = { 0 }, evs[256];
	struct sockaddr_in sa;
	struct echo_conn *c, *l;
	int ep, fd, n, i, one = 1;

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < nports; i++) {
		sa = loopback((int)parse_num(ports[i], 1, 65535, "port"));
		if ((l = calloc(1, sizeof(*l))) == NULL)
			die("out of memory");
		l->listener = 1;
		l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (l->fd < 0)
			die("socket: %s", strerror(errno));
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    listen(l->fd, 4096) != 0)
			die("listen on 127.0.0.1:%s: %s", ports[i],
			    strerror(errno));
		ev.events = EPOLLIN;
		ev.data.ptr = l;
		epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &ev);
		printf("echo listening on 127.0.0.1:%s\n", ports[i]);
	}
	fflush(stdout);
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			l = evs[i].data.ptr;
			if (!l->listener) {
				echo_event(ep, l, evs[i].events);
				continue;
			}
			while ((fd = accept4(l->fd, NULL, NULL,
			    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
				if ((c = malloc(sizeof(*c) + ECHO_BUF)) ==
				    NULL) {
					close(fd);
					continue;
				}
				c->fd = fd;
				c->listener = 0;
				c->len = c->off = 0;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
					close(fd);
					free(c);
				}
			}
		}
	}
	return 0;
}

/* ---- request/response ------------------------------------------------- */

static int
cmd_rr(int port, long count, long size)
{
	long warm = count / 10 < 100 ? count / 10 : 100, i;
	uint64_t *v, t0;
	char *buf;
	int fd;

	if ((v = calloc((size_t)count, sizeof(*v))) == NULL ||
	    (buf = calloc(1, (size_t)size)) == NULL)
		die("out of memory");
	memset(buf, 'r', (size_t)size);
	if ((fd = dial(port)) < 0)
		die("connect to 127.0.0.1:%d: %s", port, strerror(errno));
	for (i = -warm; i < count; i++) {
		t0 = now_ns();
		if (send_all(fd, buf, (size_t)size) != 0 ||
		    recv_all(fd, buf, (size_t)size) != 0)
			die("round trip %ld on 127.0.0.1:%d: %s", i, port,
			    errno ? strerror(errno) : "connection closed");
		if (i >= 0)
			v[i] = now_ns() - t0;
	}
	close(fd);
	print_stats("", v, (size_t)count, 0);
	return 0;
}

/* ---- time to first byte of a new connection --------------------------- */

static int
cmd_ttfb(int port, long count)
{
	char buf[64];
	uint64_t *v, t0;
	long i;
	int fd;

	if ((v = calloc((size_t)count, sizeof(*v))) == NULL)
		die("out of memory");
	memset(buf, 't', sizeof(buf));
	for (i = 0; i < count; i++) {
		t0 = now_ns();
		if ((fd = dial(port)) < 0)
			die("connect to 127.0.0.1:%d: %s", port,
			    strerror(errno));
		if (send_all(fd, buf, sizeof(buf)) != 0 ||
		    recv_all(fd, buf, 1) != 0)
			die("first byte from 127.0.0.1:%d: %s", port,
			    errno ? strerror(errno) : "connection closed");
		v[i] = now_ns() - t0;
		if (recv_all(fd, buf, sizeof(buf) - 1) != 0)
			die("echo from 127.0.0.1:%d: %s", port,
			    errno ? strerror(errno) : "connection closed");
		close(fd);
	}
	print_stats("", v, (size_t)count, 1);
	return 0;
}

/* ---- short connections per second ------------------------------------- */

struct cps_worker {
	pthread_t	th;
	int		port;
	uint64_t	deadline;
	uint64_t	conns, errors;
	int		last_errno;
};

static void *
cps_run(void *arg)
{
	struct cps_worker *w = arg;
	char b = 'c';
	int fd;

	while (now_ns() < w->deadline) {
		if ((fd = dial(w->port)) < 0) {
			w->errors++;
			w->last_errno = errno;
		} else {
			if (send_all(fd, &b, 1) != 0 || recv_all(fd, &b, 1) != 0) {
				w->errors++;
				w->last_errno = errno ? errno : ECONNRESET;
			} else
				w->conns++;
			close(fd);
		}
		/* A path that refuses everything must not spin for long. */
		if (w->errors > 1000)
			break;
	}
	return NULL;
}

static int
cmd_cps(int port, long secs, long par)
{
	struct cps_worker *w;
	uint64_t t0, conns = 0, errors = 0;
	double elapsed;
	int last_errno = 0;
	long i;

	raise_nofile();
	if ((w = calloc((size_t)par, sizeof(*w))) == NULL)
		die("out of memory");
	t0 = now_ns();
	for (i = 0; i < par; i++) {
		w[i].port = port;
		w[i].deadline = t0 + (uint64_t)secs * 1000000000u;
		if (pthread_create(&w[i].th, NULL, cps_run, &w[i]) != 0)
			die("pthread_create failed");
	}
	for (i = 0; i < par; i++) {
		pthread_join(w[i].th, NULL);
		conns += w[i].conns;
		errors += w[i].errors;
		if (w[i].last_errno)
			last_errno = w[i].last_errno;
	}
	elapsed = (double)(now_ns() - t0) / 1e9;
	printf("{\"cps\": %.1f, \"conns\": %llu, \"errors\": %llu, "
	    "\"seconds\": %.3f, \"last_error\": \"%s\"}\n",
	    (double)conns / elapsed, (unsigned long long)conns,
	    (unsigned long long)errors, elapsed,
	    last_errno ? strerror(last_errno) : "");
	/* Errors beyond 1% mean the figure describes a failing path. */
	return errors * 100 > conns + errors ? 1 : 0;
}

/* ---- many idle connections -------------------------------------------- */

static int
cmd_hold(int port, long n)
{
	sigset_t set;
	uint64_t t0 = now_ns();
	char b = 'h';
	int *fds, sig;
	long i;

	raise_nofile();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((fds = calloc((size_t)n, sizeof(*fds))) == NULL)
		die("out of memory");
	/* In batches: a forwarder that sets up each connection slowly (a TLS
	 * handshake, a channel) works on a whole batch at once. */
	for (i = 0; i < n; i += HOLD_BATCH) {
		long end = i + HOLD_BATCH < n ? i + HOLD_BATCH : n, j;

		for (j = i; j < end; j++) {
			if ((fds[j] = dial(port)) < 0)
				die("connection %ld to 127.0.0.1:%d: %s", j,
				    port, strerror(errno));
			if (send_all(fds[j], &b, 1) != 0)
				die("send on connection %ld to 127.0.0.1:%d: "
				    "%s", j, port, strerror(errno));
		}
		for (j = i; j < end; j++)
			if (recv_all(fds[j], &b, 1) != 0)
				die("echo on connection %ld to 127.0.0.1:%d: "
				    "%s", j, port,
				    errno ? strerror(errno) : "closed");
	}
	printf("holding %ld connections (opened in %.3f s)\n", n,
	    (double)(now_ns() - t0) / 1e9);
	fflush(stdout);
	sigwait(&set, &sig);
	for (i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}

/* ---- the stall a stream sees (a path switch under it) ----------------- */

/*
 * A message: magic, sequence number, send time (CLOCK_MONOTONIC, ns), then
 * a pattern that depends on the sequence number, so that a byte lost,
 * duplicated or reordered by a replay shows as a wrong sequence number or
 * a broken pattern.
 */
static void
stall_fill(unsigned char *m, uint64_t seq, uint64_t sent_ns)
{
	uint64_t magic = STALL_MAGIC;
	size_t i;

	memcpy(m, &magic, 8);
	memcpy(m + 8, &seq, 8);
	memcpy(m + 16, &sent_ns, 8);
	for (i = 24; i < STALL_MSG; i++)
		m[i] = (unsigned char)(seq * 31 + i);
}

static void
stall_check(const unsigned char *m, uint64_t want, uint64_t *sent_ns)
{
	uint64_t magic, seq;
	size_t i;

	memcpy(&magic, m, 8);
	memcpy(&seq, m + 8, 8);
	memcpy(sent_ns, m + 16, 8);
	if (magic != STALL_MAGIC)
		die("echo %llu: not a message of ours (stream corrupted)",
		    (unsigned long long)want);
	if (seq != want)
		die("echo %llu came back as message %llu (out of order, lost "
		    "or duplicated)", (unsigned long long)want,
		    (unsigned long long)seq);
	for (i = 24; i < STALL_MSG; i++)
		if (m[i] != (unsigned char)(seq * 31 + i))
			die("echo %llu: byte %zu corrupted",
			    (unsigned long long)seq, i);
}

static int
cmd_stall(int port, long secs, long interval_us)
{
	uint64_t total = (uint64_t)secs * 1000000u / (uint64_t)interval_us;
	uint64_t interval = (uint64_t)interval_us * 1000u;
	uint64_t *arr, *rtt, *gaps, t0, now, next, end, last_rx, wait;
	uint64_t sent = 0, got = 0, sent_ns, top[STALL_TOP] = { 0 };
	unsigned char *out, in[STALL_MSG * 256];
	size_t out_len = 0, in_len = 0, off, ngaps, top_at[STALL_TOP] = { 0 };
	struct timespec rt, ts;
	struct pollfd pfd;
	double wall0, first_ms;
	ssize_t r;
	size_t i, k;
	int fd, rc;

	if (total < 2)
		die("stall: fewer than 2 messages in %ld s at %ld us", secs,
		    interval_us);
	if ((arr = calloc(total, sizeof(*arr))) == NULL ||
	    (rtt = calloc(total, sizeof(*rtt))) == NULL ||
	    (gaps = calloc(total, sizeof(*gaps))) == NULL ||
	    (out = malloc(STALL_OUTBUF)) == NULL)
		die("out of memory");
	clock_gettime(CLOCK_REALTIME, &rt);
	t0 = now_ns();
	/* Wall-clock times are derived from the monotonic clock and one
	 * reading of the real-time clock, so they compare with the portals'
	 * log timestamps (CLOCK_REALTIME, UTC) and cannot jump mid-run. */
	wall0 = (double)rt.tv_sec * 1e3 + (double)rt.tv_nsec / 1e6;
	if ((fd = dial(port)) < 0)
		die("connect to 127.0.0.1:%d: %s", port, strerror(errno));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
		die("fcntl: %s", strerror(errno));
	next = now_ns();
	end = t0 + (uint64_t)secs * 1000000000u;
	last_rx = next;
	while (got < total) {
		now = now_ns();
		/* On schedule, not "interval after the last send": a sender
		 * delayed by the scheduler catches up, so the messages keep
		 * coming at the set rate whatever the path does.  While the
		 * path is stalled they pile up in the socket and then in out;
		 * when out is full they wait (1 MiB: 16,384 messages). */
		while (sent < total && now >= next &&
		    out_len + STALL_MSG <= STALL_OUTBUF) {
			stall_fill(out + out_len, sent, now);
			out_len += STALL_MSG;
			sent++;
			next += interval;
		}
		while (out_len > 0) {
			r = send(fd, out, out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EAGAIN)
				break;
			if (r <= 0)
				die("send to 127.0.0.1:%d after %llu messages: "
				    "%s", port, (unsigned long long)sent,
				    strerror(errno));
			memmove(out, out + r, out_len - (size_t)r);
			out_len -= (size_t)r;
		}
		pfd.fd = fd;
		pfd.events = POLLIN | (out_len > 0 ? POLLOUT : 0);
		pfd.revents = 0;
		if (sent < total && out_len + STALL_MSG <= STALL_OUTBUF) {
			wait = next > now ? next - now : 0;
			ts.tv_sec = (time_t)(wait / 1000000000u);
			ts.tv_nsec = (long)(wait % 1000000000u);
		} else {
			ts.tv_sec = 1;
			ts.tv_nsec = 0;
		}
		rc = ppoll(&pfd, 1, &ts, NULL);
		if (rc < 0 && errno != EINTR)
			die("ppoll: %s", strerror(errno));
		if (rc > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP))) {
			r = recv(fd, in + in_len, sizeof(in) - in_len,
			    MSG_DONTWAIT);
			now = now_ns();
			if (r == 0)
				die("127.0.0.1:%d closed the connection after "
				    "%llu of %llu echoes", port,
				    (unsigned long long)got,
				    (unsigned long long)total);
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				die("recv from 127.0.0.1:%d after %llu echoes: "
				    "%s", port, (unsigned long long)got,
				    strerror(errno));
			if (r > 0) {
				in_len += (size_t)r;
				last_rx = now;
			}
			/* Every message completed by this read arrived now. */
			for (off = 0; in_len - off >= STALL_MSG &&
			    got < total; off += STALL_MSG) {
				stall_check(in + off, got, &sent_ns);
				arr[got] = now;
				rtt[got] = now - sent_ns;
				got++;
			}
			memmove(in, in + off, in_len - off);
			in_len -= off;
			if (got == total && in_len > 0)
				die("more bytes echoed than sent");
		}
		now = now_ns();
		if (now - last_rx > (uint64_t)IO_TIMEOUT_S * 1000000000u &&
		    (got < sent || now > end))
			die("no echo from 127.0.0.1:%d for %d s (%llu of %llu "
			    "echoes)", port, IO_TIMEOUT_S,
			    (unsigned long long)got, (unsigned long long)sent);
	}
	close(fd);

	/* Gaps after the first echo: its own wait is the tunnel coming up. */
	ngaps = (size_t)total - 1;
	for (i = 0; i < ngaps; i++) {
		gaps[i] = arr[i + 1] - arr[i];
		for (k = 0; k < STALL_TOP; k++) {
			if (gaps[i] <= top[k])
				continue;
			memmove(top + k + 1, top + k,
			    (STALL_TOP - k - 1) * sizeof(*top));
			memmove(top_at + k + 1, top_at + k,
			    (STALL_TOP - k - 1) * sizeof(*top_at));
			top[k] = gaps[i];
			top_at[k] = i;
			break;
		}
	}
	first_ms = (double)(arr[0] - t0) / 1e6;
	printf("{\"sent\": %llu, \"echoes\": %llu, \"interval_us\": %ld, "
	    "\"first_echo_ms\": %.3f, \"max_gap_ms\": %.3f, ",
	    (unsigned long long)sent, (unsigned long long)got, interval_us,
	    first_ms, (double)top[0] / 1e6);
	printf("\"longest_gaps\": [");
	for (k = 0; k < STALL_TOP && k < ngaps; k++)
		printf("%s{\"ms\": %.3f, \"after_echo\": %zu, "
		    "\"start_wall_ms\": %.3f, \"end_wall_ms\": %.3f}",
		    k ? ", " : "", (double)top[k] / 1e6, top_at[k],
		    wall0 + (double)(arr[top_at[k]] - t0) / 1e6,
		    wall0 + (double)(arr[top_at[k] + 1] - t0) / 1e6);
	printf("], \"start_wall_ms\": %.3f, \"first_echo_wall_ms\": %.3f, "
	    "\"last_echo_wall_ms\": %.3f, ", wall0, wall0 + first_ms,
	    wall0 + (double)(arr[total - 1] - t0) / 1e6);
	qsort(gaps, ngaps, sizeof(*gaps), cmp_u64);
	qsort(rtt, (size_t)total, sizeof(*rtt), cmp_u64);
	printf("\"median_gap_ms\": %.3f, \"p99_gap_ms\": %.3f, "
	    "\"rtt_p50_ms\": %.3f, \"rtt_max_ms\": %.3f}\n",
	    pct_us(gaps, ngaps, 0.50) / 1e3, pct_us(gaps, ngaps, 0.99) / 1e3,
	    pct_us(rtt, (size_t)total, 0.50) / 1e3,
	    (double)rtt[total - 1] / 1e6);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: npbench echo PORT...\n"
	    "       npbench rr PORT COUNT SIZE\n"
	    "       npbench ttfb PORT COUNT\n"
	    "       npbench cps PORT SECONDS PARALLEL\n"
	    "       npbench hold PORT N\n"
	    "       npbench stall PORT SECONDS [INTERVAL_US]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int port;

	if (argc < 3)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "echo") == 0)
		return cmd_echo(argv + 2, argc - 2);
	port = (int)parse_num(argv[2], 1, 65535, "port");
	if (strcmp(argv[1], "rr") == 0 && argc == 5)
		return cmd_rr(port, parse_num(argv[3], 1, 10000000, "count"),
		    parse_num(argv[4], 1, 65536, "size"));
	if (strcmp(argv[1], "ttfb") == 0 && argc == 4)
		return cmd_ttfb(port, parse_num(argv[3], 1, 100000, "count"));
	if (strcmp(argv[1], "cps") == 0 && argc == 5)
		return cmd_cps(port, parse_num(argv[3], 1, 600, "seconds"),
		    parse_num(argv[4], 1, 256, "parallel"));
	if (strcmp(argv[1], "hold") == 0 && argc == 4)
		return cmd_hold(port, parse_num(argv[3], 1, 100000, "count"));
	if (strcmp(argv[1], "stall") == 0 && (argc == 4 || argc == 5))
		return cmd_stall(port, parse_num(argv[3], 1, 600, "seconds"),
		    argc == 5 ? parse_num(argv[4], 100, 1000000,
		    "interval (us)") : 1000);
	usage();
	return 2;
}
