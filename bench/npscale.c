/* SPDX-License-Identifier: MIT */
/*
 * npscale: the load generator of bench/scale.sh.  It plays many portals at
 * once against a real server: each has its own certificate (minted here
 * from the bench CA, all on one key, so that making 100,000 of them costs
 * a signature each), makes a real mutual-TLS control session from a
 * loopback source address of its own (127.1.x.y, --per-source portals on
 * each, 32 by default: a NAT with a few dozen portals), says HELLO, answers and sends keepalives as a
 * portal does, takes its rule sets, and, when its session is lost,
 * reconnects after the portal's own backoff with jitter (core/backoff,
 * reconnect.min 1 s).  One thread and one event loop for every session,
 * so that the generator's share of the 2 cores stays small; one more
 * thread holds a probe session that measures how long the server takes
 * to answer a PING, which is how long its loop is held.
 *
 * It reads commands on standard input, one per line, and answers each with
 * one JSON object on a line of standard output:
 *
 *   grow N              bring the registered portals up to N (at most
 *                       --window handshakes at once): time, rate, server
 *                       CPU and memory per registration
 *   idle SECS           server CPU while SECS pass with only keepalives
 *   fanout FILE         rename FILE over the policy (--policy), SIGHUP the
 *                       server, and time until every registered portal has
 *                       its new rule set; the probe's longest PING answer
 *                       meanwhile
 *   grants RATE SECS PAIRS
 *                       TUNNEL_REQUESTs at RATE per second for SECS
 *                       seconds, portal p(2i) under rule r(i) for i below
 *                       PAIRS, in turn: answer latency p50/p99/max, errors
 *                       by code, server CPU; RATE 0 sends nothing and
 *                       measures the CPU that grants are counted above
 *   storm SECS          answers {"armed": 1} at once, then waits up to SECS
 *                       for every portal to lose its session (the caller
 *                       restarts the server) and come back: time,
 *                       attempts, failures by cause
 *   pid PID             the server's new process (after a restart); no
 *                       answer, taken also while a command runs
 *   quit
 *
 * Portal i is named PREFIX + i (p0, p1, ...); the probe is PREFIX "probe".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ca/ca_cert.h"
#include "core/backoff.h"
#include "core/buf.h"
#include "core/identity.h"
#include "core/proto.h"

/* How long a connection attempt may take to WELCOME, as a portal's. */
#define SC_ATTEMPT_S		10
/* Request ids are indexes into a ring of send times. */
#define SC_RING			(1u << 20)

enum sc_state { SC_IDLE, SC_CONNECTING, SC_UP, SC_WAITING };

/* Why an attempt did not end in WELCOME. */
enum sc_fail { F_REFUSED, F_RESET, F_TIMEOUT, F_TLS, F_CLOSED, F_LOCAL,
	F_MAX };
static const char *const sc_fail_name[F_MAX] = {
	"refused", "reset", "timeout", "tls", "closed", "local"
};

struct sc_portal {
	uint32_t		 idx;
	enum sc_state		 state;
	struct bufferevent	*bev;
	struct event		*retry;		/* NULL unless waiting */
	X509			*cert;		/* minted on first use */
	struct backoff		 bo;
	uint64_t		 gen_seen;	/* last RULES_END generation */
	uint32_t		 rules;		/* in the set being received */
	uint32_t		 rules_last;	/* in the last complete set */
	int			 ever_up;
	int			 failed_once;	/* since the last loss */
	uint64_t		 attempt_us;	/* when the last attempt began */
};

struct sc_lat {
	double		*v;
	size_t		 n, cap;
};

static struct {
	struct event_base	*base;
	SSL_CTX			*ctx;
	X509			*ca;
	EVP_PKEY		*ca_key;
	EVP_PKEY		*key;		/* every portal's */
	struct sockaddr_in	 server;
	char			 prefix[32];
	uint32_t		 per_source;
	unsigned		 window;
	pid_t			 server_pid;
	const char		*policy;

	struct sc_portal	*portals;
	uint32_t		 nportals;	/* made so far */
	uint32_t		 cap;
	uint32_t		 up;
	uint32_t		 connecting;
	uint32_t		 keepalive_ms;

	uint64_t		 attempts;
	uint64_t		 fails[F_MAX];
	uint64_t		 lost;		/* sessions lost after WELCOME */
	uint32_t		 fail_first;	/* portals whose first
						 * attempt after a loss failed */
	int			 fd_limited;	/* socket() said EMFILE */

	/* The command being run. */
	int			 busy;
	char			 cmd[32];
	uint64_t		 t0_us;
	uint64_t		 deadline_us;
	struct event		*tick;		/* 10 ms: pacing and checks */
	uint64_t		 tick_n;
	uint32_t		 grow_to;
	uint64_t		 cpu0_ms;
	long			 rss0_kib;
	uint64_t		 fan_gen;
	char			 fan_path[256];	/* to rename, once the probe
						 * runs; "" when done */
	uint32_t		 fan_done;
	struct sc_lat		 fan_lat;
	/* grants */
	uint64_t		 req_rate;
	uint64_t		 req_end_us;
	uint64_t		 req_sent;
	uint64_t		 req_answered;
	uint64_t		 req_granted;
	uint64_t		 req_err[16];
	uint32_t		 req_pairs;
	uint32_t		 req_next_pair;
	uint32_t		 req_id;
	uint64_t		 ring[SC_RING];	/* send time by id */
	struct sc_lat		 req_lat;
	/* storm */
	uint64_t		 storm_first_loss_us;
	uint64_t		 storm_up_us;	/* the new server is up ("pid") */
	uint64_t		 storm_while_down;	/* attempts that failed
						 * before it was */
	unsigned		 errors_shown;
	uint64_t		 storm_attempts0;
	uint64_t		 storm_fails0[F_MAX];
	uint32_t		 storm_back;
	uint64_t		 storm_delay_max_ms;	/* first attempts */
} S;

/* The probe thread's measurements. */
static struct {
	pthread_mutex_t		 mu;
	double			*v;
	size_t			 n, cap;
	atomic_int		 up;
	atomic_int		 active;	/* PING every 2 ms, else 1 s */
	/* How much later than asked the probe woke from its 2 ms sleeps:
	 * stalls of the machine itself (scheduler, hypervisor), which the
	 * server's loop suffers as well; the floor under "loop held". */
	double			 stall_max_ms;
	char			 error[160];
} P = { .mu = PTHREAD_MUTEX_INITIALIZER };

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "npscale: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void
lat_add(struct sc_lat *l, double v)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		if ((l->v = realloc(l->v, l->cap * sizeof(*l->v))) == NULL)
			die("out of memory");
	}
	l->v[l->n++] = v;
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* utime + stime of pid, in ms; 0 when unreadable. */
static uint64_t
proc_cpu_ms(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return 0;
	}
	fclose(f);
	/* The name may hold spaces: count fields after its ')'. */
	if ((p = strrchr(line, ')')) == NULL)
		return 0;
	for (i = 0; i < 12 && p; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * 1000 / (uint64_t)sysconf(_SC_CLK_TCK);
}

static long
proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* A certificate for PREFIX+suffix, on the shared key. */
static X509 *
mint(const char *name)
{
	struct ca_cert_req req;
	char err[256];
	X509 *cert = NULL;
	int64_t now = (int64_t)time(NULL);

	memset(&req, 0, sizeof(req));
	if (identity_set(&req.id, NP_ROLE_PORTAL, name) != 0)
		die("bad portal name %s", name);
	req.not_before = now - 3600;
	req.not_after = now + 7 * 86400;
	if (ca_cert_issue(S.ca, S.ca_key, &req, S.key, NULL, &cert, err,
	    sizeof(err)) != 0)
		die("cannot issue a certificate for %s: %s", name, err);
	return cert;
}

static void
sc_send(struct sc_portal *p, const struct proto_msg *m)
{
	struct buf b;

	buf_init(&b, PROTO_HDR_LEN + PROTO_MAX_PAYLOAD);
	if (proto_encode(m, &b) == 0)
		bufferevent_write(p->bev, buf_data(&b), buf_len(&b));
	buf_release(&b);
}

static void sc_connect(struct sc_portal *p);

static void
sc_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sc_portal *p = arg;

	event_free(p->retry);
	p->retry = NULL;
	sc_connect(p);
}

/* The session is gone or the attempt failed: a portal's backoff. */
static void
sc_down(struct sc_portal *p, int failed, enum sc_fail why)
{
	struct timeval tv;
	uint64_t ms;

	if (p->bev) {
		bufferevent_free(p->bev);
		p->bev = NULL;
	}
	if (p->state == SC_UP) {
		S.up--;
		S.lost++;
		if (S.storm_first_loss_us == 0 && strcmp(S.cmd, "storm") == 0)
			S.storm_first_loss_us = now_us();
		p->failed_once = 0;
		backoff_reset(&p->bo);
	} else if (p->state == SC_CONNECTING) {
		S.connecting--;
	}
	if (failed && S.storm_first_loss_us != 0 && strcmp(S.cmd, "storm") ==
	    0 && (S.storm_up_us == 0 || p->attempt_us < S.storm_up_us)) {
		/* No server was there to take it: the restart's gap, not a
		 * failure of the server under the storm. */
		S.fails[why]++;
		S.storm_while_down++;
	} else if (failed) {
		S.fails[why]++;
		if (!p->failed_once)
			S.fail_first++;
		p->failed_once = 1;
	}
	ms = backoff_next(&p->bo);
	if (p->state == SC_UP && ms > S.storm_delay_max_ms)
		S.storm_delay_max_ms = ms;
	p->state = SC_WAITING;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if ((p->retry = evtimer_new(S.base, sc_retry_cb, p)) == NULL ||
	    evtimer_add(p->retry, &tv) != 0)
		die("out of memory");
}

static void
sc_got(struct sc_portal *p, const struct proto_msg *m)
{
	struct proto_msg r;
	uint64_t t;

	switch (m->type) {
	case PROTO_WELCOME:
		if (p->state != SC_CONNECTING)
			return;
		p->state = SC_UP;
		p->ever_up = 1;
		S.connecting--;
		S.up++;
		if (m->keepalive_ms)
			S.keepalive_ms = m->keepalive_ms;
		/* As ctl_client: the window for the return after a loss. */
		backoff_set_spread(&p->bo, m->spread_ms);
		/* The server's keepalives from now on; no attempt timer. */
		bufferevent_set_timeouts(p->bev, NULL, NULL);
		if (strcmp(S.cmd, "storm") == 0 && S.storm_first_loss_us)
			S.storm_back++;
		return;
	case PROTO_PING:
		memset(&r, 0, sizeof(r));
		r.type = PROTO_PONG;
		r.nonce = m->nonce;
		r.time_ms = m->time_ms;
		sc_send(p, &r);
		return;
	case PROTO_RULES_BEGIN:
		p->rules = 0;
		return;
	case PROTO_RULE:
		p->rules++;
		return;
	case PROTO_RULES_END:
		p->gen_seen = m->generation;
		p->rules_last = p->rules;
		if (S.fan_gen && m->generation >= S.fan_gen) {
			S.fan_done++;
			lat_add(&S.fan_lat, (double)(now_us() - S.t0_us) / 1000);
		}
		return;
	case PROTO_TUNNEL_GRANT:
	case PROTO_ERROR:
		if (m->type == PROTO_ERROR && m->spread_ms)
			backoff_set_spread(&p->bo, m->spread_ms);
		if (m->id == 0) {
			if (m->type == PROTO_ERROR && m->code != PROTO_E_SHUTDOWN)
				fprintf(stderr, "npscale: %s%u: error %u: %s\n",
				    S.prefix, p->idx, m->code, m->message);
			return;
		}
		t = S.ring[m->id % SC_RING];
		if (t == 0)
			return;
		S.ring[m->id % SC_RING] = 0;
		S.req_answered++;
		lat_add(&S.req_lat, (double)(now_us() - t) / 1000);
		if (m->type == PROTO_TUNNEL_GRANT)
			S.req_granted++;
		else
			S.req_err[m->code < 16 ? m->code : 0]++;
		return;
	default:
		return;
	}
}

static void
sc_read_cb(struct bufferevent *bev, void *arg)
{
	struct sc_portal *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[PROTO_HDR_LEN];
	struct proto_hdr h;
	struct proto_msg m;
	const char *why;
	uint8_t *frame;
	size_t flen;

	while (p->bev && evbuffer_get_length(in) >= PROTO_HDR_LEN) {
		evbuffer_copyout(in, hdr, sizeof(hdr));
		if (proto_hdr_decode(hdr, sizeof(hdr), &h) != 0) {
			sc_down(p, p->state != SC_UP, F_CLOSED);
			return;
		}
		flen = PROTO_HDR_LEN + h.len;
		if (evbuffer_get_length(in) < flen)
			return;
		frame = evbuffer_pullup(in, (ssize_t)flen);
		if (frame == NULL || proto_decode(frame, flen, &m, &why) != 0) {
			fprintf(stderr, "npscale: bad frame from the server: %s\n",
			    frame ? why : "no memory");
			sc_down(p, p->state != SC_UP, F_CLOSED);
			return;
		}
		evbuffer_drain(in, flen);
		sc_got(p, &m);
	}
}

static void
sc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sc_portal *p = arg;
	struct proto_msg m;
	enum sc_fail why = F_CLOSED;
	unsigned long e;
	int err;

	if (what & BEV_EVENT_CONNECTED) {
		memset(&m, 0, sizeof(m));
		m.type = PROTO_HELLO;
		snprintf(m.software, sizeof(m.software), "npscale");
		sc_send(p, &m);
		return;
	}
	if (p->state == SC_UP) {
		sc_down(p, 0, F_CLOSED);
		return;
	}
	err = errno;
	{
		socklen_t sl = sizeof(int);
		int soerr = 0, fd = bufferevent_getfd(bev);

		if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
		    &sl) == 0 && soerr != 0)
			err = soerr;
	}
	/* An error of the socket first: libevent reports a refused or
	 * reset connection under TLS as SSL_ERROR_SYSCALL too. */
	e = bufferevent_get_openssl_error(bev);
	while (bufferevent_get_openssl_error(bev) != 0)
		;
	if (what & BEV_EVENT_TIMEOUT)
		why = F_TIMEOUT;
	else if ((what & BEV_EVENT_ERROR) && err == ECONNREFUSED)
		why = F_REFUSED;
	else if ((what & BEV_EVENT_ERROR) && (err == ECONNRESET ||
	    err == EPIPE))
		why = F_RESET;
	else if (e != 0)
		why = F_TLS;
	/* The first few in full: a cause, not just a count. */
	if (why != F_CLOSED && S.errors_shown < 5) {
		char msg[256] = "";

		if (e != 0)
			ERR_error_string_n(e, msg, sizeof(msg));
		fprintf(stderr, "npscale: portal %u: %s: %s%s%s\n", p->idx,
		    sc_fail_name[why], strerror(err), e ? "; TLS: " : "", msg);
		S.errors_shown++;
	}
	sc_down(p, 1, why);
}

static void
sc_connect(struct sc_portal *p)
{
	struct sockaddr_in src;
	struct timeval tv = { SC_ATTEMPT_S, 0 };
	char name[NP_NAME_MAX + 1];
	SSL *ssl;
	int fd, one = 1;

	if (p->cert == NULL) {
		snprintf(name, sizeof(name), "%s%u", S.prefix, p->idx);
		p->cert = mint(name);
	}
	S.attempts++;
	p->attempt_us = now_us();
	p->state = SC_CONNECTING;
	S.connecting++;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0) {
		if (errno == EMFILE || errno == ENFILE)
			S.fd_limited = 1;
		sc_down(p, 1, F_LOCAL);
		return;
	}
	/* 127.1.x.y: one source address per --per-source portals, as
	 * portals come from many addresses (and no address runs out of
	 * ephemeral ports). */
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f010000u + 1 + p->idx / S.per_source);
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
		close(fd);
		sc_down(p, 1, F_LOCAL);
		return;
	}
	if ((ssl = SSL_new(S.ctx)) == NULL ||
	    SSL_use_certificate(ssl, p->cert) != 1 ||
	    SSL_use_PrivateKey(ssl, S.key) != 1)
		die("cannot make a TLS connection");
	p->bev = bufferevent_openssl_socket_new(S.base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (p->bev == NULL)
		die("out of memory");
	bufferevent_setcb(p->bev, sc_read_cb, NULL, sc_event_cb, p);
	bufferevent_set_timeouts(p->bev, &tv, &tv);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	bufferevent_setfd(p->bev, fd);
	bufferevent_socket_connect(p->bev, (struct sockaddr *)&S.server,
	    sizeof(S.server));
}

static struct sc_portal *
sc_new_portal(void)
{
	struct sc_portal *p;

	/* Made once at --max: the loop holds pointers into it. */
	if (S.nportals == S.cap)
		die("more portals than --max");
	p = &S.portals[S.nportals];
	memset(p, 0, sizeof(*p));
	p->idx = S.nportals++;
	backoff_init(&p->bo, 1000, 60000);
	return p;
}

/* ---- the probe thread ---- */

static int
probe_io(SSL *ssl, void *b, size_t n, int wr)
{
	size_t done = 0;
	int r;

	while (done < n) {
		r = wr ? SSL_write(ssl, (uint8_t *)b + done, (int)(n - done)) :
		    SSL_read(ssl, (uint8_t *)b + done, (int)(n - done));
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int
probe_send(SSL *ssl, const struct proto_msg *m)
{
	struct buf b;
	int r = -1;

	buf_init(&b, PROTO_HDR_LEN + PROTO_MAX_PAYLOAD);
	if (proto_encode(m, &b) == 0)
		r = probe_io(ssl, buf_mutable(&b), buf_len(&b), 1);
	buf_release(&b);
	return r;
}

static int
probe_recv(SSL *ssl, struct proto_msg *m)
{
	static uint8_t frame[PROTO_HDR_LEN + PROTO_MAX_PAYLOAD];
	struct proto_hdr h;
	const char *why;

	if (probe_io(ssl, frame, PROTO_HDR_LEN, 0) != 0 ||
	    proto_hdr_decode(frame, PROTO_HDR_LEN, &h) != 0 ||
	    probe_io(ssl, frame + PROTO_HDR_LEN, h.len, 0) != 0)
		return -1;
	return proto_decode(frame, PROTO_HDR_LEN + h.len, m, &why) == 0 ? 0 :
	    -1;
}

static void *
probe_main(void *arg)
{
	X509 *cert = arg;
	struct timeval tv = { 30, 0 };
	struct proto_msg m;
	struct timespec gap = { 0, 2000000 }, idle = { 0, 100000000 };
	uint64_t nonce = 1, t;
	SSL *ssl = NULL;
	int fd;

	/* Ahead of the generator's own thread, as the server is (as root;
	 * otherwise at its priority): it times the server, not our
	 * turn on the CPU. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), -10);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&S.server, sizeof(S.server)) != 0) {
		snprintf(P.error, sizeof(P.error), "connect: %s",
		    strerror(errno));
		goto out;
	}
	if ((ssl = SSL_new(S.ctx)) == NULL ||
	    SSL_use_certificate(ssl, cert) != 1 ||
	    SSL_use_PrivateKey(ssl, S.key) != 1 || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_connect(ssl) != 1) {
		snprintf(P.error, sizeof(P.error), "TLS handshake failed");
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	snprintf(m.software, sizeof(m.software), "npscale probe");
	if (probe_send(ssl, &m) != 0)
		goto lost;
	do {
		if (probe_recv(ssl, &m) != 0)
			goto lost;
	} while (m.type != PROTO_WELCOME);
	atomic_store(&P.up, 1);
	for (;;) {
		memset(&m, 0, sizeof(m));
		m.type = PROTO_PING;
		m.nonce = ++nonce;
		t = now_us();
		if (probe_send(ssl, &m) != 0)
			goto lost;
		for (;;) {
			struct proto_msg in;

			if (probe_recv(ssl, &in) != 0)
				goto lost;
			if (in.type == PROTO_PING) {
				memset(&m, 0, sizeof(m));
				m.type = PROTO_PONG;
				m.nonce = in.nonce;
				if (probe_send(ssl, &m) != 0)
					goto lost;
			}
			if (in.type == PROTO_PONG && in.nonce == nonce)
				break;
		}
		t = now_us() - t;
		/* Idle, it only keeps its session: no load on the server
		 * while idle CPU is measured. */
		if (!atomic_load(&P.active)) {
			nanosleep(&idle, NULL);
			continue;
		}
		pthread_mutex_lock(&P.mu);
		if (P.n == P.cap) {
			P.cap = P.cap ? 2 * P.cap : 4096;
			P.v = realloc(P.v, P.cap * sizeof(*P.v));
		}
		if (P.v)
			P.v[P.n++] = (double)t / 1000;
		pthread_mutex_unlock(&P.mu);
		t = now_us();
		nanosleep(&gap, NULL);
		t = now_us() - t;
		pthread_mutex_lock(&P.mu);
		if ((double)t / 1000 - 2 > P.stall_max_ms)
			P.stall_max_ms = (double)t / 1000 - 2;
		pthread_mutex_unlock(&P.mu);
	}
lost:
	snprintf(P.error, sizeof(P.error), "probe session lost");
out:
	atomic_store(&P.up, 0);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void
probe_reset(void)
{
	pthread_mutex_lock(&P.mu);
	P.n = 0;
	P.stall_max_ms = 0;
	pthread_mutex_unlock(&P.mu);
}

/* ", "probe_max_ms": ..., "probe_p99_ms": ..., "probes": n */
static void
probe_report(void)
{
	pthread_mutex_lock(&P.mu);
	if (P.n)
		qsort(P.v, P.n, sizeof(*P.v), dcmp);
	printf(", \"probe_pings\": %zu, \"probe_p50_ms\": %.2f, "
	    "\"probe_p99_ms\": %.2f, \"probe_max_ms\": %.2f, "
	    "\"stall_max_ms\": %.2f", P.n, pct(P.v, P.n, 0.5),
	    pct(P.v, P.n, 0.99), P.n ? P.v[P.n - 1] : 0.0, P.stall_max_ms);
	pthread_mutex_unlock(&P.mu);
	if (P.error[0])
		printf(", \"probe_error\": \"%s\"", P.error);
}

/* ---- commands ---- */

static void
finish(void)
{
	atomic_store(&P.active, 0);
	S.busy = 0;
	S.cmd[0] = '\0';
	printf("}\n");
	fflush(stdout);
}

static void
common_report(void)
{
	uint64_t cpu = proc_cpu_ms(S.server_pid);
	double secs = (double)(now_us() - S.t0_us) / 1e6;
	int i;

	printf("{\"cmd\": \"%s\", \"secs\": %.3f, \"up\": %u, "
	    "\"server_cpu_ms\": %" PRIu64 ", \"server_rss_kib\": %ld, "
	    "\"gen_rss_kib\": %ld, \"fd_limited\": %d, \"attempts\": %" PRIu64
	    ", \"lost\": %" PRIu64, S.cmd, secs, S.up, cpu - S.cpu0_ms,
	    proc_rss_kib(S.server_pid), proc_rss_kib(getpid()), S.fd_limited,
	    S.attempts, S.lost);
	printf(", \"failed\": {");
	for (i = 0; i < F_MAX; i++)
		printf("%s\"%s\": %" PRIu64, i ? ", " : "", sc_fail_name[i],
		    S.fails[i]);
	printf("}");
}

static void
tick_grow(void)
{
	uint64_t t = now_us();

	while (S.nportals < S.grow_to && S.connecting < S.window &&
	    !S.fd_limited)
		sc_connect(sc_new_portal());
	if (S.up < S.grow_to && t < S.deadline_us && !S.fd_limited)
		return;
	common_report();
	printf(", \"n\": %u, \"rss0_kib\": %ld, \"fail_first\": %u",
	    S.grow_to, S.rss0_kib, S.fail_first);
	finish();
}

static void
tick_idle(void)
{
	if (now_us() < S.deadline_us)
		return;
	common_report();
	finish();
}

static void
tick_fanout(void)
{
	/* The change goes in once the probe has had time to wake up. */
	if (S.fan_path[0] != '\0') {
		if (now_us() < S.t0_us + 300000)
			return;
		if (rename(S.fan_path, S.policy) != 0 ||
		    kill(S.server_pid, SIGHUP) != 0)
			die("cannot change the policy: %s", strerror(errno));
		S.fan_path[0] = '\0';
		S.t0_us = now_us();
		S.cpu0_ms = proc_cpu_ms(S.server_pid);
		probe_reset();
		return;
	}
	if (S.fan_done < S.up && now_us() < S.deadline_us)
		return;
	qsort(S.fan_lat.v, S.fan_lat.n, sizeof(double), dcmp);
	common_report();
	printf(", \"generation\": %" PRIu64 ", \"portals_updated\": %u, "
	    "\"first_ms\": %.1f, \"p50_ms\": %.1f, \"last_ms\": %.1f",
	    S.fan_gen, S.fan_done, pct(S.fan_lat.v, S.fan_lat.n, 0),
	    pct(S.fan_lat.v, S.fan_lat.n, 0.5),
	    S.fan_lat.n ? S.fan_lat.v[S.fan_lat.n - 1] : 0.0);
	probe_report();
	S.fan_gen = 0;
	finish();
}

static void
tick_grants(void)
{
	uint64_t t = now_us(), due;
	struct sc_portal *p;
	struct proto_msg m;
	uint32_t tries;
	int i;

	/* Requests due by now at the rate, from the client portals. */
	due = t >= S.req_end_us ? S.req_rate * (S.req_end_us - S.t0_us) /
	    1000000 : S.req_rate * (t - S.t0_us) / 1000000;
	while (S.req_sent < due) {
		for (tries = 0; tries < S.req_pairs; tries++) {
			p = &S.portals[2 * S.req_next_pair];
			S.req_next_pair = (S.req_next_pair + 1) % S.req_pairs;
			if (p->state == SC_UP)
				break;
		}
		if (tries == S.req_pairs)
			break;		/* none up */
		memset(&m, 0, sizeof(m));
		m.type = PROTO_TUNNEL_REQUEST;
		if (++S.req_id == 0)
			S.req_id = 1;
		m.id = S.req_id;
		snprintf(m.rule, sizeof(m.rule), "r%u", p->idx / 2);
		S.ring[m.id % SC_RING] = now_us();
		sc_send(p, &m);
		S.req_sent++;
	}
	if (t < S.req_end_us || (S.req_answered < S.req_sent &&
	    t < S.req_end_us + 5000000))
		return;
	qsort(S.req_lat.v, S.req_lat.n, sizeof(double), dcmp);
	common_report();
	printf(", \"rate\": %" PRIu64 ", \"sent\": %" PRIu64 ", \"answered\": "
	    "%" PRIu64 ", \"granted\": %" PRIu64 ", \"p50_ms\": %.2f, "
	    "\"p99_ms\": %.2f, \"max_ms\": %.2f", S.req_rate, S.req_sent,
	    S.req_answered, S.req_granted, pct(S.req_lat.v, S.req_lat.n, 0.5),
	    pct(S.req_lat.v, S.req_lat.n, 0.99),
	    S.req_lat.n ? S.req_lat.v[S.req_lat.n - 1] : 0.0);
	printf(", \"errors\": {");
	for (i = 1; i < 16; i++)
		if (S.req_err[i])
			printf("\"%s\": %" PRIu64 ", ", proto_error_name(
			    (unsigned)i), S.req_err[i]);
	printf("\"other\": %" PRIu64 "}", S.req_err[0]);
	probe_report();
	memset(S.ring, 0, sizeof(S.ring));
	finish();
}

static void
tick_storm(void)
{
	uint64_t t = now_us();
	int i;

	if (t < S.deadline_us && (S.storm_first_loss_us == 0 ||
	    S.up < S.nportals))
		return;
	common_report();
	printf(", \"n\": %u, \"back\": %u, \"secs_to_all\": %.2f, "
	    "\"storm_attempts\": %" PRIu64 ", \"portals_failed_first\": %u, "
	    "\"attempts_while_down\": %" PRIu64 ", "
	    "\"first_delay_max_ms\": %" PRIu64, S.nportals, S.storm_back,
	    S.storm_first_loss_us ? (double)(t - S.storm_first_loss_us) / 1e6 :
	    0.0, S.attempts - S.storm_attempts0, S.fail_first,
	    S.storm_while_down, S.storm_delay_max_ms);
	printf(", \"storm_failed\": {");
	for (i = 0; i < F_MAX; i++)
		printf("%s\"%s\": %" PRIu64, i ? ", " : "", sc_fail_name[i],
		    S.fails[i] - S.storm_fails0[i]);
	printf("}");
	finish();
}

/* Sends every up portal in this tick's share a PING: a portal's own
 * keepalive, spread evenly over the interval. */
static void
tick_keepalive(void)
{
	uint64_t slots = S.keepalive_ms / 10, slot;
	struct proto_msg m;
	uint32_t i;

	if (slots == 0)
		slots = 1;
	slot = S.tick_n % slots;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_PING;
	m.nonce = 1;
	for (i = (uint32_t)slot; i < S.nportals; i += (uint32_t)slots)
		if (S.portals[i].state == SC_UP)
			sc_send(&S.portals[i], &m);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	S.tick_n++;
	tick_keepalive();
	if (!S.busy)
		return;
	if (strcmp(S.cmd, "grow") == 0)
		tick_grow();
	else if (strcmp(S.cmd, "idle") == 0)
		tick_idle();
	else if (strcmp(S.cmd, "fanout") == 0)
		tick_fanout();
	else if (strcmp(S.cmd, "grants") == 0)
		tick_grants();
	else if (strcmp(S.cmd, "storm") == 0)
		tick_storm();
}

static void
begin(const char *cmd, double secs)
{
	S.busy = 1;
	snprintf(S.cmd, sizeof(S.cmd), "%s", cmd);
	S.t0_us = now_us();
	S.deadline_us = S.t0_us + (uint64_t)(secs * 1e6);
	S.cpu0_ms = proc_cpu_ms(S.server_pid);
	probe_reset();
	/* The probe measures the server's loop where it is loaded. */
	atomic_store(&P.active, strcmp(cmd, "fanout") == 0 ||
	    strcmp(cmd, "grants") == 0);
}

static void
stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	static char line[512];
	static size_t have;
	char arg1[256];
	unsigned long long a = 0, b = 0, c = 0;
	char *nl;
	ssize_t n;

	n = read(fd, line + have, sizeof(line) - 1 - have);
	if (n <= 0) {
		event_base_loopbreak(S.base);
		return;
	}
	have += (size_t)n;
	line[have] = '\0';
	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		if (sscanf(line, "pid %llu", &a) == 1) {
			/* The server was restarted (a storm): no answer. */
			S.server_pid = (pid_t)a;
			S.cpu0_ms = proc_cpu_ms(S.server_pid);
			S.storm_up_us = now_us();
		} else if (S.busy) {
			printf("{\"error\": \"busy with %s\"}\n", S.cmd);
		} else if (sscanf(line, "grow %llu", &a) == 1) {
			if (a > S.cap)
				a = S.cap;
			begin("grow", 60 + (double)a / 50);
			S.grow_to = (uint32_t)a;
			S.rss0_kib = proc_rss_kib(S.server_pid);
		} else if (sscanf(line, "idle %llu", &a) == 1) {
			begin("idle", (double)a);
		} else if (sscanf(line, "fanout %255s", arg1) == 1) {
			uint64_t g = 0;
			uint32_t i;

			for (i = 0; i < S.nportals; i++)
				if (S.portals[i].gen_seen > g)
					g = S.portals[i].gen_seen;
			begin("fanout", 300);
			S.fan_gen = g + 1;
			S.fan_done = 0;
			S.fan_lat.n = 0;
			snprintf(S.fan_path, sizeof(S.fan_path), "%s", arg1);
		} else if (sscanf(line, "grants %llu %llu %llu", &a, &b,
		    &c) == 3 && c > 0) {
			/* A rate of 0 sends nothing: the server's CPU for
			 * keepalives and the probe alone, the baseline that
			 * CPU per grant is measured against. */
			begin("grants", (double)b + 10);
			S.req_rate = a;
			S.req_end_us = S.t0_us + b * 1000000;
			S.req_sent = S.req_answered = S.req_granted = 0;
			memset(S.req_err, 0, sizeof(S.req_err));
			S.req_lat.n = 0;
			S.req_pairs = (uint32_t)c;
			if (2 * S.req_pairs > S.nportals)
				S.req_pairs = S.nportals / 2;
			S.req_next_pair = 0;
		} else if (sscanf(line, "storm %llu", &a) == 1) {
			int i;

			begin("storm", (double)a);
			S.storm_first_loss_us = 0;
			S.storm_up_us = 0;
			S.storm_while_down = 0;
			S.storm_back = 0;
			S.storm_delay_max_ms = 0;
			S.storm_attempts0 = S.attempts;
			S.fail_first = 0;
			for (i = 0; i < F_MAX; i++)
				S.storm_fails0[i] = S.fails[i];
			printf("{\"cmd\": \"storm\", \"armed\": 1}\n");
		} else if (strcmp(line, "quit") == 0) {
			event_base_loopbreak(S.base);
		} else if (line[0] != '\0') {
			printf("{\"error\": \"unknown command: %s\"}\n", line);
		}
		fflush(stdout);
		have -= (size_t)(nl + 1 - line);
		memmove(line, nl + 1, have + 1);
	}
	if (have == sizeof(line) - 1)
		have = 0;
}

/* As far as the hard limit goes, and the hard limit as far as root may. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	unsigned long long nr_open = 1048576;
	FILE *f;

	if ((f = fopen("/proc/sys/fs/nr_open", "r")) != NULL) {
		if (fscanf(f, "%llu", &nr_open) != 1)
			nr_open = 1048576;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_max < nr_open) {
		struct rlimit want = { nr_open, nr_open };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

static EVP_PKEY *
read_key(const char *path)
{
	EVP_PKEY *k;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL)
		die("%s: not a private key", path);
	return k;
}

static X509 *
read_cert(const char *path)
{
	X509 *c;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	c = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (c == NULL)
		die("%s: not a certificate", path);
	return c;
}

static void
usage(void)
{
	fprintf(stderr, "usage: npscale --server 127.0.0.1:PORT --ca-dir DIR "
	    "--server-pid PID --policy FILE [--max N] [--window N]\n"
	    "               [--per-source N] [--prefix P]\n"
	    "commands on standard input: see the top of bench/npscale.c\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "ca-dir", required_argument, NULL, 'c' },
		{ "server-pid", required_argument, NULL, 'p' },
		{ "policy", required_argument, NULL, 'f' },
		{ "max", required_argument, NULL, 'm' },
		{ "window", required_argument, NULL, 'w' },
		{ "per-source", required_argument, NULL, 'o' },
		{ "prefix", required_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *ca_dir = NULL;
	char path[4096], host[64], probe_name[NP_NAME_MAX + 1];
	struct timeval tick = { 0, 10000 };
	struct event *ev_in;
	struct rlimit rl;
	pthread_t probe;
	unsigned port = 0;
	uint32_t max = 100000;
	int ch;

	S.window = 200;
	S.per_source = 32;
	S.keepalive_ms = 15000;
	snprintf(S.prefix, sizeof(S.prefix), "p");
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's': server = optarg; break;
		case 'c': ca_dir = optarg; break;
		case 'p': S.server_pid = (pid_t)atoi(optarg); break;
		case 'f': S.policy = optarg; break;
		case 'm': max = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'w': S.window = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'o': S.per_source = (uint32_t)strtoul(optarg, NULL, 10);
			  break;
		case 'x': snprintf(S.prefix, sizeof(S.prefix), "%s", optarg);
			  break;
		default: usage();
		}
	}
	if (server == NULL || ca_dir == NULL || S.server_pid <= 0 ||
	    S.policy == NULL || S.window == 0 || S.per_source == 0 ||
	    sscanf(server, "%63[0-9.]:%u", host, &port) != 2)
		usage();
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	memset(&S.server, 0, sizeof(S.server));
	S.server.sin_family = AF_INET;
	S.server.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &S.server.sin_addr) != 1)
		usage();

	snprintf(path, sizeof(path), "%s/ca.crt", ca_dir);
	S.ca = read_cert(path);
	snprintf(path, sizeof(path), "%s/ca.key", ca_dir);
	S.ca_key = read_key(path);
	if (ca_cert_keygen(&S.key) != 0)
		die("cannot make a key");
	if ((S.ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(S.ctx, TLS1_3_VERSION))
		die("cannot make a TLS context");
	snprintf(path, sizeof(path), "%s/ca.crt", ca_dir);
	if (SSL_CTX_load_verify_locations(S.ctx, path, NULL) != 1)
		die("%s: cannot load the CA", path);
	SSL_CTX_set_verify(S.ctx, SSL_VERIFY_PEER, NULL);
	/* As a portal's: idle sessions keep no TLS buffers. */
	SSL_CTX_set_mode(S.ctx, SSL_MODE_RELEASE_BUFFERS);

	S.cap = max;
	if ((S.portals = calloc(S.cap, sizeof(*S.portals))) == NULL)
		die("out of memory for %u portals", S.cap);
	if ((S.base = event_base_new()) == NULL ||
	    (S.tick = event_new(S.base, -1, EV_PERSIST, tick_cb, NULL)) ==
	    NULL || event_add(S.tick, &tick) != 0 ||
	    (ev_in = event_new(S.base, 0, EV_READ | EV_PERSIST, stdin_cb,
	    NULL)) == NULL || event_add(ev_in, NULL) != 0)
		die("cannot make the event loop");

	snprintf(probe_name, sizeof(probe_name), "%sprobe", S.prefix);
	if (pthread_create(&probe, NULL, probe_main, mint(probe_name)) != 0)
		die("cannot start the probe thread");
	pthread_detach(probe);

	getrlimit(RLIMIT_NOFILE, &rl);
	printf("{\"ready\": 1, \"fd_limit\": %llu, \"max\": %u, "
	    "\"keepalive_ms\": %u}\n", (unsigned long long)rl.rlim_cur, S.cap,
	    S.keepalive_ms);
	fflush(stdout);
	event_base_dispatch(S.base);
	return 0;
}
