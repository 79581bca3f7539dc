/* SPDX-License-Identifier: MIT */
/*
 * Paths over a stream socket (portal_path_sock.c), the base of the relay
 * path and of direct TCP paths (portal_path_ticket.c): resolving and
 * dialling, then, once the kind's own preamble is done, TLS 1.3 with the
 * peer portal and the record I/O of struct path_ops.
 *
 * A kind fills in struct sock_path_kind: what to do once the socket is
 * connected, and with the socket's events until it calls
 * sock_path_start_tls().
 */
#ifndef NETPORT_PORTAL_PATH_SOCK_H
#define NETPORT_PORTAL_PATH_SOCK_H

#include <sys/socket.h>

#include <openssl/ssl.h>

#include "core/buf.h"
#include "core/conf.h"
#include "core/net.h"
#include "core/relay_hs.h"
#include "core/tls.h"
#include "portal/portal_path.h"

enum sock_path_state {
	SOCK_RESOLVING,
	SOCK_DIALING,
	SOCK_PREAMBLE,		/* the kind's exchange before TLS */
	SOCK_TLS,
	SOCK_UP,
	SOCK_DONE,		/* failed or closed: no more I/O */
};

struct sock_path;

struct sock_path_kind {
	const char	*name;		/* "relay" */
	/* What SOCK_RESOLVING, _DIALING and _PREAMBLE are doing, for logs. */
	const char	*phases[3];
	/* The socket is connected: start the preamble (or TLS). */
	void	(*connected)(struct sock_path *sp);
	/* A socket event during SOCK_PREAMBLE. */
	void	(*preamble_ev)(struct sock_path *sp, short what);
	/* Frees the kind's own state (sp itself is freed by the base). */
	void	(*fini)(struct sock_path *sp);
};

struct sock_path {
	struct path		 base;
	const struct sock_path_kind *kind;
	enum sock_path_state	 state;
	enum sock_path_state	 failed_in;	/* the state it failed in */
	struct portal		*portal;	/* borrowed */
	int			 initiator;	/* TLS client */
	int			 fd;
	SSL			*ssl;
	struct event		*rev, *wev;
	struct net_resolve	*dns;
	struct buf		 cipher;	/* TLS records to send */
	struct tls_rx		 rx;		/* TLS records received */
	int			 write_wants_read;
	char			 host[CONF_HOST_MAX + 1];	/* to dial */
	uint16_t		 port;
	uint16_t		 bind_port;	/* dial from this port; 0: any */

	/* The ticket preamble (portal_path_ticket.c). */
	uint8_t			 hs[RELAY_HS_MAX];
	size_t			 hs_len, hs_sent;
	uint8_t			 hs_reply[RELAY_REPLY_LEN];
	size_t			 hs_got;
	/*
	 * A punch (TCP simultaneous open): instead of an answer, the other
	 * puncher's request may come; it is vetted and answered here, and
	 * its answer to ours follows.
	 */
	int			 punch;
	int			 peer_reading;	/* reading its request */
	int			 peer_answered;	/* its request vetted, answered */
	uint8_t			 peer_hs[RELAY_HS_MAX];
	size_t			 peer_hs_len;
};

/*
 * Sets up sp (allocated and zeroed by the kind) for tunnel t, to dial
 * host and port when started; 0 or -ENOMEM.
 */
int	sock_path_init(struct sock_path *sp, struct tunnel *t,
	    const struct sock_path_kind *kind, const char *host,
	    uint16_t port);

/*
 * As sock_path_init, for a socket already connected and vetted (consumes
 * fd once this returns, also on failure: the path closes it when freed);
 * starting the path starts TLS.  remote names it in logs.
 */
int	sock_path_init_fd(struct sock_path *sp, struct tunnel *t,
	    const struct sock_path_kind *kind, int fd, const char *remote);
/* The preamble is done: TLS with the peer portal. */
void	sock_path_start_tls(struct sock_path *sp);
/*
 * The path failed: stops its I/O and tells the tunnel, which frees it.
 * Returns nothing; the caller must not touch sp afterwards.
 */
void	sock_path_fail(struct sock_path *sp, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Sends from b until it is empty or the socket is full (then the write
 * event is armed); 0 or -errno. */
int	sock_path_send_buf(struct sock_path *sp, const uint8_t *b, size_t len,
	    size_t *sent);

#endif
