/* SPDX-License-Identifier: MIT */
/*
 * netport punch: UDP hole punching for VPNs that bring their own
 * encryption (OpenVPN, WireGuard), wire-compatible with netpunch and a
 * drop-in for its binary: the same flags, the same datagrams (both of its
 * signing schemes, core/netpunch.h), the same result line on stdout.
 *
 * Control mode (no -peer) runs on a public host: each peer sends its slot
 * letter; the node remembers "i|SLOT|ADDR" per slot, where ADDR is the
 * address the datagram came from (the peer's NAT mapping), and answers a
 * peer with its partner's entry (slots a/b, c/d, ... pair up) once it
 * knows it.  Entries never expire, as in netpunch.
 *
 * Peer mode (-peer SLOT) runs behind NAT, from the UDP port the VPN will
 * use: it asks the control node for the partner's address, then pings it
 * ("x"), answers a ping with pongs ("y"), a pong with closes ("z"), each
 * resent every 100 ms (closes every 20 ms) a few times, sleeping 30 s when
 * a step runs out; it prints
 *
 *	LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: LADDR LHOST LPORT RADDR RHOST RPORT
 *
 * and exits 0 once both NATs let the other's datagrams through.
 *
 * Unlike netpunch, a datagram without a valid signature is dropped (and
 * counted in the log): it is never answered and changes no state.  Replies
 * are signed with the scheme of the datagram they answer; a peer signs
 * with -sign (seed by default, as the netpunch this follows) and accepts
 * either.
 *
 * It is a short-lived command, one socket and one timer: a poll() loop,
 * not the daemons' event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/netpunch.h"
#include "punch/punch.h"

#define PUNCH_SECRET_MAX	65536

struct punch_opts {
	char			 peer;		/* slot; 0: control mode */
	const char		*secret;
	size_t			 secret_len;
	char			*secret_buf;	/* owned, from -secret-file */
	const char		*local;
	const char		*remote;
	enum netpunch_scheme	 scheme;
	int			 version;
};

/* A peer's steps, as netpunch's: what it sends, how often, how long. */
enum punch_mode { MODE_DISCOVER, MODE_PING, MODE_PONG, MODE_CLOSE, MODE_SLEEP };

static const struct {
	int		 tries;
	int		 delay_ms;
	const char	*send;		/* NULL: the slot, to the control node */
	const char	*name;
} punch_modes[] = {
	[MODE_DISCOVER] = { 5, 100, NULL, "discover" },
	[MODE_PING] = { 10, 100, "x", "ping" },
	[MODE_PONG] = { 10, 100, "y", "pong" },
	[MODE_CLOSE] = { 5, 20, "z", "close" },
	[MODE_SLEEP] = { 1, 30000, NULL, "sleep" },
};

static volatile sig_atomic_t punch_signal;
static char punch_role[8] = "";
static unsigned long punch_dropped;

static void
punch_on_signal(int sig)
{
	punch_signal = sig;
}

/* A log line on stderr, in netpunch's shape. */
static void __attribute__((format(printf, 1, 2)))
punch_log(const char *fmt, ...)
{
	struct timeval tv;
	struct tm tm;
	char when[32];
	va_list ap;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y/%m/%d %H:%M:%S", &tm);
	fprintf(stderr, "%s.%06ld [%d] %s[info] ", when, (long)tv.tv_usec,
	    (int)getpid(), punch_role);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
punch_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: netport punch -secret WORD|-secret-file FILE -local ADDR\n"
	    "                     [-peer SLOT -remote ADDR] [-sign seed|hmac]\n"
	    "\n"
	    "UDP hole punching for VPNs (OpenVPN, WireGuard), a drop-in for\n"
	    "netpunch: the same flags, datagrams and result line.\n"
	    "\n"
	    "  -peer SLOT         peer mode, slot a..z (a pairs with b, c with\n"
	    "                     d, ...); without it: control mode\n"
	    "  -secret WORD       shared secret that signs every datagram\n"
	    "  -secret-file FILE  the secret is the whole file, as it is\n"
	    "  -local ADDR        control mode: where to listen; peer mode: the\n"
	    "                     UDP port to punch from (the VPN's), [HOST]:PORT\n"
	    "  -remote ADDR       peer mode: the control node, HOST:PORT\n"
	    "  -sign seed|hmac    how a peer signs: SHA-224 (netpunch as of its\n"
	    "                     2022 README, the default) or HMAC-SHA256\n"
	    "                     (later netpunch); both are accepted\n"
	    "  -version           print the version\n"
	    "\n"
	    "A peer prints, once the partner's datagrams come through:\n"
	    "  LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: LADDR LHOST LPORT RADDR "
	    "RHOST RPORT\n"
	    "\n"
	    "examples:\n"
	    "  control (public host):  netport punch -secret WORD -local :7777\n"
	    "  peer a:  netport punch -peer a -secret WORD -remote HOST:7777 "
	    "-local :1194\n");
}

/* Exits like netpunch on a usage error. */
static void __attribute__((noreturn, format(printf, 1, 2)))
punch_die(const char *fmt, ...)
{
	va_list ap;

	fputs("Error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
punch_read_secret_file(struct punch_opts *o, const char *path)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		punch_die("open %s: %s", path, strerror(errno));
	if ((o->secret_buf = malloc(PUNCH_SECRET_MAX + 1)) == NULL)
		punch_die("out of memory");
	while ((n = read(fd, o->secret_buf + len, PUNCH_SECRET_MAX + 1 -
	    len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0)
		punch_die("read %s: %s", path, strerror(errno));
	if (len > PUNCH_SECRET_MAX)
		punch_die("%s: longer than %d bytes", path, PUNCH_SECRET_MAX);
	o->secret = o->secret_buf;
	o->secret_len = len;
}

/*
 * Go's flag syntax: -name value, -name=value, --name; a bool takes no
 * value.  Parsing stops at the first argument that is no flag.
 */
static void
punch_parse(int argc, char **argv, struct punch_opts *o)
{
	const char *secret_file = NULL, *role = "", *sign = "seed";
	char name[32];
	const char *arg, *eq, *val;
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (arg[0] != '-' || strcmp(arg, "-") == 0)
			break;
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		arg += arg[1] == '-' ? 2 : 1;
		eq = strchr(arg, '=');
		snprintf(name, sizeof(name), "%.*s",
		    (int)(eq ? (size_t)(eq - arg) : strlen(arg)), arg);
		if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
			punch_usage(stdout);
			exit(0);
		}
		if (strcmp(name, "version") == 0) {
			o->version = 1;
			continue;
		}
		if (strcmp(name, "peer") != 0 && strcmp(name, "secret") != 0 &&
		    strcmp(name, "secret-file") != 0 &&
		    strcmp(name, "remote") != 0 && strcmp(name, "local") != 0 &&
		    strcmp(name, "sign") != 0) {
			fprintf(stderr, "flag provided but not defined: -%s\n",
			    name);
			punch_usage(stderr);
			exit(2);
		}
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "flag needs an argument: -%s\n", name);
			punch_usage(stderr);
			exit(2);
		}
		if (strcmp(name, "peer") == 0)
			role = val;
		else if (strcmp(name, "secret") == 0)
			o->secret = val;
		else if (strcmp(name, "secret-file") == 0)
			secret_file = val;
		else if (strcmp(name, "remote") == 0)
			o->remote = val;
		else if (strcmp(name, "local") == 0)
			o->local = val;
		else
			sign = val;
	}
	if (i < argc)
		punch_die("unexpected argument '%s'", argv[i]);
	if (o->version)
		return;
	if (secret_file != NULL && secret_file[0] != '\0')
		punch_read_secret_file(o, secret_file);
	else if (o->secret != NULL)
		o->secret_len = strlen(o->secret);
	if (strcmp(sign, "seed") == 0)
		o->scheme = NETPUNCH_SEED;
	else if (strcmp(sign, "hmac") == 0)
		o->scheme = NETPUNCH_HMAC;
	else
		punch_die("invalid -sign: \"%s\"; expected seed or hmac", sign);

	/* Every problem at once, joined as netpunch joins them. */
	char msg[1024] = "";
	size_t off = 0;
#define PUNCH_PROBLEM(...) (off += (size_t)snprintf(msg + off, \
	    off < sizeof(msg) ? sizeof(msg) - off : 0, "%s", off ? "; " : ""), \
	    off += (size_t)snprintf(msg + off, \
	    off < sizeof(msg) ? sizeof(msg) - off : 0, __VA_ARGS__))
	if (role[0] != '\0') {
		if (role[1] != '\0' || role[0] < 'a' || role[0] > 'z')
			PUNCH_PROBLEM("invalid role: \"%s\"", role);
		else {
			o->peer = role[0];
			if (o->remote == NULL || o->remote[0] == '\0')
				PUNCH_PROBLEM("you have to specify remote "
				    "address in peer mode role \"%s\"", role);
		}
	} else if (o->remote != NULL && o->remote[0] != '\0')
		PUNCH_PROBLEM("you do not have to specify remote address in "
		    "control mode");
	if (o->secret == NULL || o->secret_len == 0)
		PUNCH_PROBLEM("you have to specify secret");
	if (o->local == NULL || o->local[0] == '\0')
		PUNCH_PROBLEM("you have to specify local address");
#undef PUNCH_PROBLEM
	if (off > 0)
		punch_die("%s", msg);
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" into host (maybe "") and port. */
static int
punch_split(const char *s, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		h = s + 1;
		hl -= 2;
	} else if (memchr(s, ':', hl) != NULL)
		return -1;	/* a bare IPv6 address needs brackets */
	if (hl >= hostlen || strlen(colon + 1) >= portlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

/* Resolves s (family 0: any) into *out; 0, or -1 with a message. */
static int
punch_resolve(const char *s, int family, struct sockaddr_storage *out,
    socklen_t *len, char *why, size_t whylen)
{
	struct addrinfo hints, *res;
	char host[256], port[16];
	int r;

	if (punch_split(s, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(why, whylen, "address %s: expected HOST:PORT", s);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = host[0] == '\0' ? AI_PASSIVE : 0;
	if ((r = getaddrinfo(host[0] ? host : NULL, port, &hints,
	    &res)) != 0) {
		snprintf(why, whylen, "address %s: %s", s, gai_strerror(r));
		return -1;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* An IPv4 address as a dual-stack socket wants it. */
static void
punch_map_v4(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in in;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	if (ss->ss_family != AF_INET)
		return;
	memcpy(&in, ss, sizeof(in));
	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = in.sin_port;
	in6->sin6_addr.s6_addr[10] = 0xff;
	in6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&in6->sin6_addr.s6_addr[12], &in.sin_addr, 4);
	*len = sizeof(*in6);
}

/* The IP of sa as Go prints it (an IPv4-mapped address as IPv4). */
static void
punch_ip(const struct sockaddr *sa, char *out, size_t len)
{
	const struct sockaddr_in6 *in6 = (const void *)sa;

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, out, (socklen_t)len);
	else if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], out,
		    (socklen_t)len);
	else
		inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)len);
}

static unsigned
punch_port(const struct sockaddr *sa)
{
	return ntohs(sa->sa_family == AF_INET ?
	    ((const struct sockaddr_in *)(const void *)sa)->sin_port :
	    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
}

/* "HOST:PORT" as Go's UDPAddr.String() writes it. */
static void
punch_addr(const struct sockaddr *sa, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	punch_ip(sa, ip, sizeof(ip));
	if (strchr(ip, ':') != NULL)
		snprintf(out, len, "[%s]:%u", ip, punch_port(sa));
	else
		snprintf(out, len, "%s:%u", ip, punch_port(sa));
}

/* Binds the UDP socket of -local: "[::]" takes IPv4 too. */
static int
punch_socket(const char *local, int *family)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char why[300], host[256], port[16];
	int fd, zero = 0;

	if (punch_split(local, host, sizeof(host), port, sizeof(port)) != 0)
		punch_die("address %s: expected [HOST]:PORT", local);
	if (host[0] == '\0' || strcmp(host, "::") == 0) {
		/* Any address: one dual-stack socket, or IPv4 alone. */
		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			    sizeof(zero));
			if (punch_resolve(local, AF_INET6, &ss, &len, why,
			    sizeof(why)) == 0 &&
			    bind(fd, (struct sockaddr *)&ss, len) == 0) {
				*family = AF_INET6;
				return fd;
			}
			close(fd);
		}
	}
	if (strcmp(host, "::") == 0)
		punch_die("listen udp %s: no IPv6 on this host", local);
	if (punch_resolve(local, host[0] ? 0 : AF_INET, &ss, &len, why,
	    sizeof(why)) != 0)
		punch_die("%s", why);
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		punch_die("socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		punch_die("listen udp %s: bind: %s", local, strerror(errno));
	*family = ss.ss_family;
	return fd;
}

static void
punch_send(int fd, enum netpunch_scheme scheme, const struct punch_opts *o,
    const char *payload, const struct sockaddr *to, socklen_t tolen)
{
	uint8_t d[NETPUNCH_DGRAM_MAX];
	char addr[INET6_ADDRSTRLEN + 8];
	size_t len;

	punch_addr(to, addr, sizeof(addr));
	if (netpunch_seal(scheme, (const uint8_t *)o->secret, o->secret_len,
	    (const uint8_t *)payload, strlen(payload), d, sizeof(d),
	    &len) != 0) {
		punch_log("cannot sign \"%s\"", payload);
		return;
	}
	if (sendto(fd, d, len, 0, to, tolen) < 0)
		punch_log("write: \"%s\" -> %s: %s", payload, addr,
		    strerror(errno));
	else
		punch_log("write: \"%s\" -> %s", payload, addr);
}

/*
 * Receives one datagram and checks it: 1 with its payload (NUL-ended in
 * payload) and scheme, 0 when nothing (valid) came, -1 on a socket error.
 */
static int
punch_recv(int fd, const struct punch_opts *o, char *payload, size_t cap,
    size_t *plen, enum netpunch_scheme *scheme,
    struct sockaddr_storage *from, socklen_t *fromlen)
{
	uint8_t d[NETPUNCH_DGRAM_MAX + 1];
	char addr[INET6_ADDRSTRLEN + 8];
	const uint8_t *p;
	const char *why;
	ssize_t n;
	size_t len;

	*fromlen = sizeof(*from);
	n = recvfrom(fd, d, sizeof(d), MSG_DONTWAIT, (struct sockaddr *)from,
	    fromlen);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ||
		    errno == ECONNREFUSED ? 0 : -1;
	if (netpunch_open(d, (size_t)n, (const uint8_t *)o->secret,
	    o->secret_len, scheme, &p, &len, &why) != 0) {
		/* Never answered; logged at 1, 2, 4, 8, ... drops. */
		punch_dropped++;
		if ((punch_dropped & (punch_dropped - 1)) == 0) {
			punch_addr((struct sockaddr *)from, addr, sizeof(addr));
			punch_log("dropped a datagram from %s: %s (%lu "
			    "dropped so far)", addr, why, punch_dropped);
		}
		return 0;
	}
	if (len >= cap)
		len = cap - 1;
	memcpy(payload, p, len);
	payload[len] = '\0';
	*plen = len;
	punch_addr((struct sockaddr *)from, addr, sizeof(addr));
	punch_log("read: \"%s\" <- %s", payload, addr);
	return 1;
}

static int
punch_control(int fd, const struct punch_opts *o)
{
	char entries[26][NETPUNCH_PAYLOAD_MAX];
	char payload[NETPUNCH_PAYLOAD_MAX + 1], addr[INET6_ADDRSTRLEN + 8];
	struct sockaddr_storage from;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	enum netpunch_scheme scheme;
	socklen_t fromlen;
	size_t plen;
	int slot, r;

	memset(entries, 0, sizeof(entries));
	punch_log("Start in control mode on %s", o->local);
	while (!punch_signal) {
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			punch_die("poll: %s", strerror(errno));
		}
		r = punch_recv(fd, o, payload, sizeof(payload), &plen, &scheme,
		    &from, &fromlen);
		if (r < 0)
			punch_die("read: %s", strerror(errno));
		if (r == 0 || (slot = netpunch_parse_slot((uint8_t *)payload,
		    plen)) < 0)
			continue;
		punch_addr((struct sockaddr *)&from, addr, sizeof(addr));
		snprintf(entries[slot - 'a'], sizeof(entries[0]), "i|%c|%s",
		    slot, addr);
		/* Partners: a/b, c/d, ... (index XOR 1). */
		if (entries[(slot - 'a') ^ 1][0] != '\0')
			punch_send(fd, scheme, o, entries[(slot - 'a') ^ 1],
			    (struct sockaddr *)&from, fromlen);
	}
	punch_log("Shutting down due to signal: %s", strsignal(punch_signal));
	return 0;
}

static int64_t
punch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Peer mode: netpunch's state machine; 0 once the peer is known. */
static int
punch_peer(int fd, int family, const struct punch_opts *o)
{
	struct sockaddr_storage server, peer, from, local;
	socklen_t serverlen, peerlen = 0, fromlen, locallen;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct netpunch_msg m;
	enum punch_mode mode = MODE_DISCOVER;
	enum netpunch_scheme scheme;
	char payload[NETPUNCH_PAYLOAD_MAX + 1], why[300], slot[2] = { o->peer };
	char laddr[300], lhost[INET6_ADDRSTRLEN], raddr[INET6_ADDRSTRLEN + 8];
	char rhost[INET6_ADDRSTRLEN], host[256], port[16];
	const char *pwhy;
	int64_t deadline;
	int tries = 0, r, wait;
	size_t plen;

	if (punch_resolve(o->remote, 0, &server, &serverlen, why,
	    sizeof(why)) != 0)
		punch_die("%s", why);
	if (family == AF_INET6)
		punch_map_v4(&server, &serverlen);
	else if (server.ss_family != family)
		punch_die("the control node %s is not reachable from %s",
		    o->remote, o->local);
	punch_log("Start in peer mode on %s to server at %s", o->local,
	    o->remote);
	for (;;) {
		tries++;
		if (mode != MODE_SLEEP) {
			if (punch_modes[mode].send == NULL)
				punch_send(fd, o->scheme, o, slot,
				    (struct sockaddr *)&server, serverlen);
			else
				punch_send(fd, o->scheme, o,
				    punch_modes[mode].send,
				    (struct sockaddr *)&peer, peerlen);
		}
		deadline = punch_now_ms() + punch_modes[mode].delay_ms;
		for (;;) {
			if (punch_signal)
				punch_die("interrupted by signal: %s",
				    strsignal(punch_signal));
			wait = (int)(deadline - punch_now_ms());
			if (wait <= 0)
				break;
			if (poll(&pfd, 1, wait) <= 0)
				continue;
			r = punch_recv(fd, o, payload, sizeof(payload), &plen,
			    &scheme, &from, &fromlen);
			if (r < 0)
				punch_die("read: %s", strerror(errno));
			if (r == 0 || plen == 0)
				continue;
			if (netpunch_parse_peer((uint8_t *)payload, plen, &m,
			    &pwhy) != 0)
				goto next;	/* signed: still news */
			switch (m.kind) {
			case NETPUNCH_PEER_INFO:
				if (punch_resolve(m.addr, 0, &peer, &peerlen,
				    why, sizeof(why)) != 0)
					punch_die("%s", why);
				if (family == AF_INET6)
					punch_map_v4(&peer, &peerlen);
				mode = MODE_PING;
				break;
			case NETPUNCH_PING:
			case NETPUNCH_PONG:
				/* It can come before the control node's
				 * answer: the sender is the peer. */
				peer = from;
				peerlen = fromlen;
				mode = m.kind == NETPUNCH_PING ? MODE_PONG :
				    MODE_CLOSE;
				break;
			case NETPUNCH_CLOSE:
				punch_log("close: ok");
				goto done;
			}
next:
			tries = 0;
			break;
		}
		if (tries < punch_modes[mode].tries)
			continue;
		if (mode == MODE_CLOSE) {
			punch_log("close: ok");
			goto done;
		}
		mode = mode == MODE_SLEEP ? MODE_DISCOVER : MODE_SLEEP;
		if (mode == MODE_SLEEP)
			punch_log("no answer: sleeping %d s",
			    punch_modes[MODE_SLEEP].delay_ms / 1000);
		tries = 0;
	}
done:
	/* LADDR is -local as resolved (Go prints ":PORT" for no host). */
	if (punch_split(o->local, host, sizeof(host), port, sizeof(port)) == 0 &&
	    host[0] == '\0') {
		locallen = sizeof(local);
		getsockname(fd, (struct sockaddr *)&local, &locallen);
		snprintf(laddr, sizeof(laddr), ":%u",
		    punch_port((struct sockaddr *)&local));
		snprintf(lhost, sizeof(lhost), "n/a");
		snprintf(port, sizeof(port), "%u",
		    punch_port((struct sockaddr *)&local));
	} else {
		locallen = sizeof(local);
		getsockname(fd, (struct sockaddr *)&local, &locallen);
		punch_addr((struct sockaddr *)&local, laddr, sizeof(laddr));
		punch_ip((struct sockaddr *)&local, lhost, sizeof(lhost));
		snprintf(port, sizeof(port), "%u",
		    punch_port((struct sockaddr *)&local));
	}
	punch_addr((struct sockaddr *)&peer, raddr, sizeof(raddr));
	punch_ip((struct sockaddr *)&peer, rhost, sizeof(rhost));
	printf("LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: %s %s %s %s %s %u\n",
	    laddr, lhost, port, raddr, rhost,
	    punch_port((struct sockaddr *)&peer));
	fflush(stdout);
	return 0;
}

int
punch_main(int argc, char **argv)
{
	struct punch_opts o;
	struct sigaction sa;
	int fd, family, status;

	punch_parse(argc, argv, &o);
	if (o.version) {
		printf("netport %s (netpunch-compatible)\n", NETPORT_VERSION);
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = punch_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (o.peer)
		snprintf(punch_role, sizeof(punch_role), "[%c] ", o.peer);
	fd = punch_socket(o.local, &family);
	status = o.peer ? punch_peer(fd, family, &o) : punch_control(fd, &o);
	close(fd);
	free(o.secret_buf);
	return status;
}
