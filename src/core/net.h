/* SPDX-License-Identifier: MIT */
/*
 * Socket helpers shared by every role: listening sockets from a config
 * endpoint, address formatting, and the socket options netport always sets.
 */
#ifndef NETPORT_CORE_NET_H
#define NETPORT_CORE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/conf.h"

/* "1.2.3.4:80" or "[::1]:80"; long enough for any sockaddr_in6. */
#define NET_ADDR_STR_MAX	(INET6_ADDRSTRLEN + 8)

/*
 * Opens a non-blocking, close-on-exec TCP listener on ep (host may be a
 * name, resolved with getaddrinfo; the first address that binds wins) with
 * SO_REUSEADDR, and TCP_NODELAY and SO_KEEPALIVE, which the sockets it
 * accepts inherit.  Returns the fd, or -errno / NP_ENOTFOUND.
 */
int	net_listen_tcp(const struct conf_endpoint *ep, int backlog)
	    __attribute__((warn_unused_result));
/*
 * The same with SO_REUSEPORT, so that this process may also dial out from
 * the listener's port (net_bind_shared_port): TCP hole punching needs the
 * outgoing SYN to leave from the port the peer will aim at.
 */
int	net_listen_tcp_shared(const struct conf_endpoint *ep, int backlog)
	    __attribute__((warn_unused_result));
/*
 * The kernel's cap on any listener's backlog (net.core.somaxconn), which
 * listen() silently applies; -1 when it cannot be read.
 */
long	net_somaxconn(void);
/*
 * A non-blocking, close-on-exec UDP socket bound to ep ("[::]" takes IPv4
 * too); the fd, or -errno / NP_ENOTFOUND.
 */
int	net_bind_udp(const struct conf_endpoint *ep)
	    __attribute__((warn_unused_result));
/* Binds fd (family AF_INET or AF_INET6) to the any address and port,
 * sharing the port with such a listener; 0 or -errno. */
int	net_bind_shared_port(int fd, int family, uint16_t port);

/*
 * Opens a non-blocking, close-on-exec Unix stream listener at path with
 * the given file mode.  A socket file left by a process that is gone
 * (connecting to it is refused) is removed first; a live socket or a file
 * that is not a socket is left alone and reported (-EADDRINUSE, -EEXIST).
 * *dev and *ino identify the new file, for net_unlink_unix().
 */
int	net_listen_unix(const char *path, unsigned mode, int backlog,
	    dev_t *dev, ino_t *ino) __attribute__((warn_unused_result));
/* Removes path if it is still the file a listener created. */
void	net_unlink_unix(const char *path, dev_t dev, ino_t ino);
/* Fills a sockaddr_un for path; 0 or -ENAMETOOLONG. */
int	net_unix_addr(const char *path, struct sockaddr_storage *out,
	    socklen_t *outlen);

/* Resolves ep to its first address; 0, NP_ENOTFOUND or -errno. */
int	net_resolve(const struct conf_endpoint *ep, int socktype,
	    struct sockaddr_storage *out, socklen_t *outlen)
	    __attribute__((warn_unused_result));

/* Formats a socket address; never fails (writes "?" on unknown family). */
void	net_addr_format(const struct sockaddr *sa, char *out, size_t size);

/*
 * The source a per-source cap counts a peer by, as text: the IPv4 address,
 * or the /64 prefix of an IPv6 address ("2001:db8:1:2::/64"), since one
 * host or site gets a whole /64 and could otherwise pick a fresh address
 * for each connection.  An IPv4-mapped IPv6 address counts as the IPv4
 * address.  Never fails ("?" on other families); size NET_SOURCE_STR_MAX.
 */
#define NET_SOURCE_STR_MAX	64
void	net_addr_source(const struct sockaddr *sa, char *out, size_t size);

/* The local address of fd, formatted. */
void	net_local_addr(int fd, char *out, size_t size);
/* The local port of a bound socket; 0 when it cannot be read. */
uint16_t net_local_port(int fd);

/* TCP_NODELAY and SO_KEEPALIVE; errors are ignored (best effort). */
void	net_tune_tcp(int fd);
/*
 * The firewall mark (SO_MARK) that every socket this process opens toward
 * the network carries; 0, the default, sets none.  A portal that captures
 * traffic marks its own so that its rules never capture them.
 */
void	net_set_socket_mark(uint32_t mark);
/* Marks fd when a mark is set: 0, or -errno. */
int	net_mark_socket(int fd);
/* TCP_NODELAY only (best effort). */
void	net_nodelay(int fd);
/* 1 when sa is an IPv4 or IPv6 loopback address (127/8, ::1, ::ffff:127/104). */
int	net_is_loopback(const struct sockaddr *sa);
/*
 * 1 when the address in text ("HOST:PORT", "[V6]:PORT" or a bare host) is
 * of this host or a LAN: loopback, RFC 1918, link-local, IPv6 unique
 * local; IPv4-mapped IPv6 is judged as IPv4.  0 otherwise or unparsable.
 */
int	net_addr_str_is_local(const char *addr);
/*
 * Sets a UDP socket's receive and send buffers to size bytes each: a
 * socket that carries bursts (QUIC, a relay) overflows the kernel's
 * default of about 200 KiB, and each overflow is a loss.  As root the
 * FORCE variants pass net.core.*mem_max; otherwise the kernel caps the
 * request there.  Best effort.
 */
void	net_udp_buffers(int fd, int size);
/* What the daemons ask for a UDP socket that carries QUIC (both ways). */
#define NET_UDP_BUFFER		(4 * 1024 * 1024)
/* 1 when two IPv4 or IPv6 socket addresses have the same address and
 * port (a datagram's source against a peer's). */
int	net_sockaddr_same(const struct sockaddr *a, const struct sockaddr *b);


/*
 * Asynchronous name resolution on a loop (evdns).  The callback receives
 * the first address, or an error (0 / EVUTIL_EAI_* code).  An IP literal
 * may be answered before net_resolve_start() returns, which then returns
 * NULL; otherwise the handle can be cancelled, after which the callback is
 * never called.  Either way the handle frees itself.
 */
struct loop;
struct net_resolve;
typedef void net_resolve_cb(int err, const struct sockaddr *sa,
	    socklen_t salen, void *arg);

struct net_resolve *net_resolve_start(struct loop *loop, const char *host,
	    uint16_t port, net_resolve_cb *cb, void *arg);
void	net_resolve_cancel(struct net_resolve *r);

#endif
