/* SPDX-License-Identifier: MIT */
/* Socket helpers; see net.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "core/err.h"
#include "core/loop.h"
#include "core/net.h"

int
net_resolve(const struct conf_endpoint *ep, int socktype,
    struct sockaddr_storage *out, socklen_t *outlen)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", ep->port);
	if ((r = getaddrinfo(ep->host, port, &hints, &res)) != 0 ||
	    res == NULL) {
		if (res)
			freeaddrinfo(res);
		return r == EAI_SYSTEM ? -errno : NP_ENOTFOUND;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*outlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
net_listen_tcp_opts(const struct conf_endpoint *ep, int backlog, int shared)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int fd = -1, one = 1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", ep->port);
	if ((r = getaddrinfo(ep->host[0] ? ep->host : NULL, port, &hints,
	    &res)) != 0)
		return r == EAI_SYSTEM ? -errno : NP_ENOTFOUND;
	r = NP_ENOTFOUND;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (shared)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
			    sizeof(one));
		/* "[::]" means both families, whatever the host's
		 * net.ipv6.bindv6only says. */
		if (ai->ai_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(
		    &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr)) {
			int zero = 0;

			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			    sizeof(zero));
		}
		/* Accepted sockets inherit these: no setsockopt per accept. */
		net_tune_tcp(fd);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : r;
}

int
net_listen_tcp(const struct conf_endpoint *ep, int backlog)
{
	return net_listen_tcp_opts(ep, backlog, 0);
}

int
net_listen_tcp_shared(const struct conf_endpoint *ep, int backlog)
{
	return net_listen_tcp_opts(ep, backlog, 1);
}

long
net_somaxconn(void)
{
	FILE *fp;
	long v;
	int n;

	if ((fp = fopen("/proc/sys/net/core/somaxconn", "re")) == NULL)
		return -1;
	n = fscanf(fp, "%ld", &v);
	fclose(fp);
	return n == 1 && v >= 0 ? v : -1;
}

int
net_bind_udp(const struct conf_endpoint *ep)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r, zero = 0;

	if ((r = net_resolve(ep, SOCK_DGRAM, &ss, &len)) != 0)
		return r;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -errno;
	if ((r = net_mark_socket(fd)) != 0) {
		close(fd);
		return r;
	}
	if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(
	    &((struct sockaddr_in6 *)&ss)->sin6_addr))
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int
net_bind_shared_port(int fd, int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		len = sizeof(*in);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0)
		return -errno;
	return 0;
}

int
net_unix_addr(const char *path, struct sockaddr_storage *out,
    socklen_t *outlen)
{
	struct sockaddr_un *un = (struct sockaddr_un *)out;
	size_t len = strlen(path);

	if (len >= sizeof(un->sun_path))
		return -ENAMETOOLONG;
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, len + 1);
	*outlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

/* Removes a socket file nobody listens on any more; -errno otherwise. */
static int
net_clear_stale_unix(const char *path)
{
	struct sockaddr_storage ss;
	struct stat st;
	socklen_t len;
	int fd, r;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if ((r = net_unix_addr(path, &ss, &len)) != 0)
		return r;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&ss, len) == 0 ? -EADDRINUSE :
	    errno == ECONNREFUSED ? 0 : -errno;
	close(fd);
	if (r == 0 && unlink(path) != 0 && errno != ENOENT)
		r = -errno;
	return r;
}

int
net_listen_unix(const char *path, unsigned mode, int backlog, dev_t *dev,
    ino_t *ino)
{
	struct sockaddr_storage ss;
	struct stat st;
	socklen_t len;
	int fd, r;

	if ((r = net_unix_addr(path, &ss, &len)) != 0 ||
	    (r = net_clear_stale_unix(path)) != 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The file appears with bind(); fix its mode before anyone may
	 * connect, that is before listen(). */
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    chmod(path, mode) != 0 || stat(path, &st) != 0 ||
	    listen(fd, backlog) != 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	return fd;
}

void
net_unlink_unix(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;

	if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		unlink(path);
}

void
net_addr_format(const struct sockaddr *sa, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, size, "%s:%u", host, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		/* An IPv4 peer of a dual-stack socket is an IPv4 peer. */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host,
			    sizeof(host));
			snprintf(out, size, "%s:%u", host,
			    ntohs(in6->sin6_port));
			break;
		}
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, size, "[%s]:%u", host, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX:
		snprintf(out, size, "unix:%s", ((const struct sockaddr_un *)
		    (const void *)sa)->sun_path[0] ? ((const struct sockaddr_un *)
		    (const void *)sa)->sun_path : "(unnamed)");
		break;
	default:
		snprintf(out, size, "?");
	}
}

void
net_addr_source(const struct sockaddr *sa, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	struct in6_addr prefix;
	struct in_addr v4;

	snprintf(out, size, "?");
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)))
			snprintf(out, size, "%s", host);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			memcpy(&v4, &in6->sin6_addr.s6_addr[12], sizeof(v4));
			if (inet_ntop(AF_INET, &v4, host, sizeof(host)))
				snprintf(out, size, "%s", host);
			return;
		}
		memset(&prefix, 0, sizeof(prefix));
		memcpy(prefix.s6_addr, in6->sin6_addr.s6_addr, 8);
		if (inet_ntop(AF_INET6, &prefix, host, sizeof(host)))
			snprintf(out, size, "%s/64", host);
	}
}

void
net_local_addr(int fd, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(out, size, "?");
		return;
	}
	net_addr_format((struct sockaddr *)&ss, out, size);
}

/*
 * TCP keepalive probes after 30 s of silence, every 10 s, 3 of them: a
 * peer whose NAT mapping vanished (its FIN never arrives) is found in
 * about a minute instead of the kernel default's two hours.  netport's
 * own keepalives normally find it sooner; this bounds the relay, which
 * has none of its own.
 */
#define NET_KEEPIDLE	30
#define NET_KEEPINTVL	10
#define NET_KEEPCNT	3

void
net_tune_tcp(int fd)
{
	int one = 1, idle = NET_KEEPIDLE, intvl = NET_KEEPINTVL;
	int cnt = NET_KEEPCNT;

	net_nodelay(fd);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static uint32_t net_socket_mark;

void
net_set_socket_mark(uint32_t mark)
{
	net_socket_mark = mark;
}

int
net_mark_socket(int fd)
{
	if (net_socket_mark == 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &net_socket_mark,
	    sizeof(net_socket_mark)) != 0)
		return -errno;
	return 0;
}

void
net_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
net_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *in6;
	const uint8_t *a;

	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return 0;
	in6 = (const void *)sa;
	if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
		return 1;
	a = in6->sin6_addr.s6_addr;
	return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127;
}

int
net_sockaddr_same(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;

	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET6)
		return a6->sin6_port == b6->sin6_port &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
	if (a->sa_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return 0;
}

void
net_udp_buffers(int fd, int size)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
	    sizeof(size)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
		    sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size,
	    sizeof(size)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size,
		    sizeof(size));
}

/* 1 for an IPv4 address of a LAN or this host: loopback, RFC 1918,
 * link-local. */
static int
net_v4_is_local(uint32_t a)
{
	return (a >> 24) == 127 || (a >> 24) == 10 ||
	    (a >> 20) == ((172u << 4) | 1) || (a >> 16) == ((192u << 8) | 168) ||
	    (a >> 16) == ((169u << 8) | 254);
}

int
net_addr_str_is_local(const char *addr)
{
	char host[64];
	const char *end;
	struct in_addr v4;
	struct in6_addr v6;
	size_t n;

	if (addr[0] == '[') {
		addr++;
		if ((end = strchr(addr, ']')) == NULL)
			return 0;
	} else if ((end = strrchr(addr, ':')) != NULL &&
	    strchr(addr, ':') != end)
		end = NULL;		/* bare IPv6, no port */
	n = end != NULL ? (size_t)(end - addr) : strlen(addr);
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, addr, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &v4) == 1)
		return net_v4_is_local(ntohl(v4.s_addr));
	if (inet_pton(AF_INET6, host, &v6) != 1)
		return 0;
	if (IN6_IS_ADDR_V4MAPPED(&v6))
		return net_v4_is_local((uint32_t)v6.s6_addr[12] << 24 |
		    (uint32_t)v6.s6_addr[13] << 16 |
		    (uint32_t)v6.s6_addr[14] << 8 | v6.s6_addr[15]);
	return IN6_IS_ADDR_LOOPBACK(&v6) || IN6_IS_ADDR_LINKLOCAL(&v6) ||
	    (v6.s6_addr[0] & 0xfe) == 0xfc;	/* unique local, fc00::/7 */
}

struct net_resolve {
	net_resolve_cb				*cb;
	void					*arg;
	struct evdns_getaddrinfo_request	*req;
	int					 cancelled;
	int					 done;
	int					 starting;
};

static void
net_resolve_done_cb(int err, struct evutil_addrinfo *res, void *arg)
{
	struct net_resolve *r = arg;

	if (!r->cancelled) {
		if (err == 0 && res != NULL)
			r->cb(0, res->ai_addr, (socklen_t)res->ai_addrlen,
			    r->arg);
		else
			r->cb(err ? err : EVUTIL_EAI_FAIL, NULL, 0, r->arg);
	}
	if (res)
		evutil_freeaddrinfo(res);
	r->done = 1;
	if (!r->starting)
		free(r);
}

struct net_resolve *
net_resolve_start(struct loop *loop, const char *host, uint16_t port,
    net_resolve_cb *cb, void *arg)
{
	struct evutil_addrinfo hints;
	struct net_resolve *r;
	struct evdns_base *dns;
	struct sockaddr_in6 in6;
	struct sockaddr_in in;
	char portstr[8];

	/*
	 * An address literal is answered here.  evdns would first narrow
	 * the family to what AI_ADDRCONFIG finds on the interfaces, and
	 * with no IPv6 address it deems global (a host with only a ULA or
	 * a loopback one) it takes an IPv6 literal for a name to look up.
	 */
	memset(&in, 0, sizeof(in));
	memset(&in6, 0, sizeof(in6));
	if (inet_pton(AF_INET, host, &in.sin_addr) == 1) {
		in.sin_family = AF_INET;
		in.sin_port = htons(port);
		cb(0, (struct sockaddr *)&in, sizeof(in), arg);
		return NULL;
	}
	if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1) {
		in6.sin6_family = AF_INET6;
		in6.sin6_port = htons(port);
		cb(0, (struct sockaddr *)&in6, sizeof(in6), arg);
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (dns = loop_dns(loop)) == NULL) {
		free(r);
		cb(EVUTIL_EAI_MEMORY, NULL, 0, arg);
		return NULL;
	}
	r->cb = cb;
	r->arg = arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	snprintf(portstr, sizeof(portstr), "%u", port);
	r->starting = 1;
	r->req = evdns_getaddrinfo(dns, host, portstr, &hints,
	    net_resolve_done_cb, r);
	r->starting = 0;
	if (r->done) {
		free(r);
		return NULL;
	}
	return r;
}

void
net_resolve_cancel(struct net_resolve *r)
{
	if (r == NULL || r->cancelled)
		return;
	r->cancelled = 1;
	if (r->req)
		evdns_getaddrinfo_cancel(r->req);
}

uint16_t
net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
	return 0;
}
