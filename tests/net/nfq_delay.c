/* SPDX-License-Identifier: MIT */
/*
 * nfq_delay: a delay line for the network test bed (tests/net/), for
 * kernels without the netem qdisc.
 *
 *	nfq_delay -q QUEUE [-d DELAY_MS] [-j JITTER_MS] [-l LOSS_PCT] [-s SEED]
 *
 * An iptables rule sends packets to NFQUEUE number QUEUE, e.g.
 *
 *	iptables -t mangle -A POSTROUTING -o wan0 \
 *	    -j NFQUEUE --queue-num 100 --queue-bypass
 *
 * and this program holds each one for DELAY_MS milliseconds (plus a
 * uniform random jitter in [-JITTER_MS, +JITTER_MS]) before accepting it,
 * and drops LOSS_PCT percent of them at random.  The hold is a FIFO: a
 * packet never leaves before one that arrived earlier, so jitter spreads
 * the delay without reordering (as netem does when it has a rate).  Only
 * packet metadata crosses to user space (NFQNL_COPY_META); the kernel
 * segments GSO packets for the queue, so every decision is per wire packet.
 *
 * It prints one line when it is ready, and on SIGTERM or SIGINT releases
 * every packet it holds, prints its counters and exits 0.  Errors print
 * "nfq_delay: ..." on stderr and exit 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK	270
#endif
#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS	5
#endif

/* Packets held at once; more are let through at once and counted. */
#define HOLD_MAX	(1u << 18)
/* Packets the kernel queues for us before it drops (NFQUEUE maxlen). */
#define QUEUE_MAXLEN	(1u << 17)
#define RCVBUF_BYTES	(32u << 20)

struct held {
	uint32_t	id;
	uint64_t	due_ns;
};

static struct {
	struct nfq_handle	*h;
	struct nfq_q_handle	*qh;
	struct held		*ring;
	uint32_t		 head, count;	/* FIFO in ring */
	uint64_t		 delay_ns, jitter_ns, last_due_ns;
	double			 loss;		/* probability, 0..1 */
	uint64_t		 rng;
	/* Counters, printed at exit. */
	uint64_t		 seen, dropped, delayed, overflow, enobufs;
	uint64_t		 max_held;
} g;

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, and good enough to pick packets to drop. */
static uint64_t
rng_next(void)
{
	g.rng ^= g.rng >> 12;
	g.rng ^= g.rng << 25;
	g.rng ^= g.rng >> 27;
	return g.rng * 2685821657736338717ull;
}

/* Uniform in [0, 1). */
static double
rng_unit(void)
{
	return (double)(rng_next() >> 11) / 9007199254740992.0;
}

static void
die(const char *what)
{
	fprintf(stderr, "nfq_delay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
verdict(uint32_t id, uint32_t v)
{
	if (nfq_set_verdict(g.qh, id, v, 0, NULL) < 0 && errno != ENOENT)
		fprintf(stderr, "nfq_delay: verdict for packet %" PRIu32
		    ": %s\n", id, strerror(errno));
}

/*
 * Accepts every held packet that is due by now_ns (all when all != 0).
 * The FIFO releases in arrival order and every packet before the last one
 * released has had its verdict (dropped ones at once), so one batch
 * verdict for the last id covers them all.
 */
static void
release(uint64_t now, int all)
{
	uint32_t last = 0;
	int any = 0;

	while (g.count > 0 && (all || g.ring[g.head].due_ns <= now)) {
		last = g.ring[g.head].id;
		any = 1;
		g.head = (g.head + 1) & (HOLD_MAX - 1);
		g.count--;
	}
	if (any && nfq_set_verdict_batch(g.qh, last, NF_ACCEPT) < 0 &&
	    errno != ENOENT)
		fprintf(stderr, "nfq_delay: batch verdict up to packet %"
		    PRIu32 ": %s\n", last, strerror(errno));
}

static int
on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
    struct nfq_data *nfa, void *data)
{
	struct nfqnl_msg_packet_hdr *ph;
	uint64_t now, due, j;
	uint32_t id, tail;

	(void)qh;
	(void)msg;
	(void)data;
	if ((ph = nfq_get_msg_packet_hdr(nfa)) == NULL)
		return 0;
	id = ntohl(ph->packet_id);
	g.seen++;
	if (g.loss > 0 && rng_unit() < g.loss) {
		/*
		 * Answered at once: a later batch verdict for the packets
		 * held before this one must not cover it.
		 */
		g.dropped++;
		verdict(id, NF_DROP);
		return 0;
	}
	if (g.delay_ns == 0 && g.jitter_ns == 0 && g.count == 0) {
		verdict(id, NF_ACCEPT);
		return 0;
	}
	if (g.count == HOLD_MAX) {
		g.overflow++;
		release(0, 1);
		verdict(id, NF_ACCEPT);
		return 0;
	}
	now = now_ns();
	due = now + g.delay_ns;
	if (g.jitter_ns) {
		j = rng_next() % (2 * g.jitter_ns + 1);
		due = due + j >= g.jitter_ns ? due + j - g.jitter_ns : now;
	}
	if (due < g.last_due_ns)
		due = g.last_due_ns;	/* FIFO: never before an earlier one */
	g.last_due_ns = due;
	tail = (g.head + g.count) & (HOLD_MAX - 1);
	g.ring[tail].id = id;
	g.ring[tail].due_ns = due;
	g.count++;
	g.delayed++;
	if (g.count > g.max_held)
		g.max_held = g.count;
	return 0;
}

static double
parse_num(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "nfq_delay: -%s %s: expected a number in "
		    "%g..%g\n", opt, s, lo, hi);
		exit(2);
	}
	return v;
}

static void
usage(void)
{
	fprintf(stderr, "usage: nfq_delay -q QUEUE [-d DELAY_MS] "
	    "[-j JITTER_MS] [-l LOSS_PCT] [-s SEED]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	char buf[65536] __attribute__((aligned));
	double delay_ms = 0, jitter_ms = 0, loss_pct = 0;
	struct sigaction sa;
	struct timespec ts, *tsp;
	struct pollfd pfd;
	uint64_t now, wait;
	long queue = -1;
	unsigned long long seed = 0;
	int c, fd, one = 1;
	ssize_t n;

	while ((c = getopt(argc, argv, "q:d:j:l:s:")) != -1) {
		switch (c) {
		case 'q':
			queue = (long)parse_num("q", optarg, 0, 65535);
			break;
		case 'd':
			delay_ms = parse_num("d", optarg, 0, 60000);
			break;
		case 'j':
			jitter_ms = parse_num("j", optarg, 0, 60000);
			break;
		case 'l':
			loss_pct = parse_num("l", optarg, 0, 100);
			break;
		case 's':
			seed = (unsigned long long)parse_num("s", optarg, 0,
			    1e18);
			break;
		default:
			usage();
		}
	}
	if (queue < 0 || optind != argc)
		usage();
	g.delay_ns = (uint64_t)(delay_ms * 1e6);
	g.jitter_ns = (uint64_t)(jitter_ms * 1e6);
	if (g.jitter_ns > g.delay_ns)
		g.jitter_ns = g.delay_ns;	/* the delay never goes negative */
	g.loss = loss_pct / 100.0;
	g.rng = seed ? seed : (now_ns() ^ ((uint64_t)getpid() << 32));
	g.rng |= 1;
	if ((g.ring = calloc(HOLD_MAX, sizeof(*g.ring))) == NULL)
		die("calloc");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if ((g.h = nfq_open()) == NULL)
		die("nfq_open");
	if ((g.qh = nfq_create_queue(g.h, (uint16_t)queue, on_packet,
	    NULL)) == NULL)
		die("nfq_create_queue (is another program bound to it?)");
	if (nfq_set_mode(g.qh, NFQNL_COPY_META, 0) < 0)
		die("nfq_set_mode");
	if (nfq_set_queue_maxlen(g.qh, QUEUE_MAXLEN) < 0)
		die("nfq_set_queue_maxlen");
	fd = nfq_fd(g.h);
	nfnl_rcvbufsiz(nfq_nfnlh(g.h), RCVBUF_BYTES);
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one,
	    sizeof(one));

	printf("nfq_delay: queue %ld ready: delay %g ms, jitter %g ms, loss "
	    "%g %%\n", queue, delay_ms, (double)g.jitter_ns / 1e6, loss_pct);
	fflush(stdout);

	pfd.fd = fd;
	pfd.events = POLLIN;
	while (!stop) {
		tsp = NULL;
		if (g.count > 0) {
			now = now_ns();
			wait = g.ring[g.head].due_ns > now ?
			    g.ring[g.head].due_ns - now : 0;
			ts.tv_sec = (time_t)(wait / 1000000000u);
			ts.tv_nsec = (long)(wait % 1000000000u);
			tsp = &ts;
		}
		if (ppoll(&pfd, 1, tsp, NULL) < 0 && errno != EINTR)
			die("ppoll");
		/* Everything the socket holds, then what is due. */
		for (;;) {
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0) {
				if (errno == ENOBUFS) {
					g.enobufs++;
					continue;
				}
				if (errno != EAGAIN && errno != EINTR)
					die("recv");
				break;
			}
			nfq_handle_packet(g.h, buf, (int)n);
		}
		release(now_ns(), 0);
	}
	release(0, 1);
	printf("nfq_delay: queue %ld: %" PRIu64 " packets, %" PRIu64
	    " dropped, %" PRIu64 " delayed, at most %" PRIu64 " held, %"
	    PRIu64 " let through on overflow, %" PRIu64 " receive overruns\n",
	    queue, g.seen, g.dropped, g.delayed, g.max_held, g.overflow,
	    g.enobufs);
	nfq_destroy_queue(g.qh);
	nfq_close(g.h);
	free(g.ring);
	return 0;
}
