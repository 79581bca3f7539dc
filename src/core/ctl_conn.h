/* SPDX-License-Identifier: MIT */
/*
 * A control connection: mutual TLS (see tls.h) carrying control protocol
 * frames (see proto.h), used by the server for each portal and relay and by
 * portals and relays for their session to the server.
 *
 * It owns framing, the handshake timeout, keepalives (a PING every
 * keepalive interval, answered with PONG, which also measures the round
 * trip), the dead-peer timeout (nothing received for dead_ms closes the
 * connection), and a cap on queued output (a peer that stops reading is
 * closed instead of making us buffer without bound).
 *
 * Every close goes through ctl_conn_close(), which logs the reason once with
 * the connection id and the peer identity, calls the close callback once,
 * and frees the connection after the current loop iteration.  After the
 * close callback the role must drop its pointer.
 */
#ifndef NETPORT_CORE_CTL_CONN_H
#define NETPORT_CORE_CTL_CONN_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "core/conf.h"
#include "core/identity.h"
#include "core/log.h"
#include "core/proto.h"

struct ctl_conn;
struct logsum;
struct loop;

struct ctl_conn_cbs {
	/* TLS is up and the peer identity is verified. */
	void	(*ready)(struct ctl_conn *c, void *arg);
	/* A message other than PING/PONG arrived. */
	void	(*msg)(struct ctl_conn *c, const struct proto_msg *m,
		    void *arg);
	/*
	 * The connection is closing; err is 0 or the cause: NP_EREVOKED or
	 * NP_EUNTRUSTED when the peer refused our certificate as revoked
	 * or as not issued by a CA it trusts.
	 */
	void	(*closed)(struct ctl_conn *c, int err, void *arg);
	void	*arg;
};

struct ctl_conn_opts {
	uint32_t	handshake_ms;	/* TLS handshake must finish in this */
	uint32_t	keepalive_ms;	/* 0: send no PINGs */
	/*
	 * Set: PING only after keepalive_ms without a whole frame from the
	 * peer, or when the last round-trip sample is CTL_RTT_REFRESH
	 * intervals old.  The server's side of a session: its portals and
	 * relays send their own PINGs every keepalive_ms, which prove both
	 * directions (our PONG is their proof), so ours would double the
	 * keepalive work of every idle session for nothing.
	 */
	int		ping_when_quiet;
	uint32_t	dead_ms;	/* 0: no dead-peer timeout */
	uint32_t	first_msg_ms;	/* a whole message must arrive within
					 * this of the handshake; 0: no limit */
	/*
	 * Accepted connections: when set (borrowed), a close during the TLS
	 * handshake is logged through it, per source and reason, so that a
	 * flood of failing handshakes gives a summary instead of a line
	 * each.  source is the peer's net_addr_source() (copied).
	 */
	struct logsum	*unauth_log;
	const char	*source;
};

/*
 * Takes over an accepted socket (consumes fd, also on failure); the TLS
 * server handshake starts when the peer's first bytes arrive, so that a
 * silent peer holds no TLS state, and must end within handshake_ms of the
 * accept.  Takes a reference on ctx.  Returns the connection or NULL (out
 * of memory; the fd is closed and the failure logged).
 */
struct ctl_conn *ctl_conn_accept(struct loop *loop, SSL_CTX *ctx, int fd,
	    const char *remote, const struct ctl_conn_opts *opts,
	    const struct ctl_conn_cbs *cbs);

/*
 * Connects to ep (a name is resolved asynchronously) and starts the TLS
 * client handshake.  Failures are reported through the closed callback,
 * never synchronously; NULL only when out of memory.
 */
struct ctl_conn *ctl_conn_connect(struct loop *loop, SSL_CTX *ctx,
	    const struct conf_endpoint *ep, const struct ctl_conn_opts *opts,
	    const struct ctl_conn_cbs *cbs);

/*
 * Queues a message.  Returns 0, or an error after which the connection is
 * closed (encoding failed, or the peer has not read the output cap).
 */
int	ctl_conn_send(struct ctl_conn *c, const struct proto_msg *m);

/*
 * Closes now: logs "closed: REASON" at level (during the TLS handshake of
 * a connection with unauth_log, only when that says so), calls the closed
 * callback and queues the free.  A second close is a no-op.
 */
void	ctl_conn_close(struct ctl_conn *c, int err, enum log_level level,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Sends an ERROR message, then closes once it is written (or after a short
 * grace period), with the same logging as ctl_conn_close().
 */
void	ctl_conn_fail(struct ctl_conn *c, enum proto_error code,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * The same, with the close logged at level: a refusal the caller counts
 * in a summary of its own (a flood of portals over max_portals) is logged
 * at debug here.
 */
void	ctl_conn_fail_at(struct ctl_conn *c, enum log_level level,
	    enum proto_error code, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/* The same with an ERROR message m the caller made (code, message and
 * any more it carries). */
void	ctl_conn_fail_msg(struct ctl_conn *c, const struct proto_msg *m);

/* Changes keepalive and dead-peer timing (e.g. from WELCOME). */
void	ctl_conn_set_timing(struct ctl_conn *c, uint32_t keepalive_ms,
	    uint32_t dead_ms);

int	ctl_conn_is_open(const struct ctl_conn *c);
const struct np_identity *ctl_conn_peer(const struct ctl_conn *c);
/* The verified peer certificate (borrowed), after ready. */
X509	*ctl_conn_peer_cert(const struct ctl_conn *c);
const struct log_ctx *ctl_conn_log(const struct ctl_conn *c);
const char *ctl_conn_remote(const struct ctl_conn *c);
/* Last measured round trip in ms; 0 until the first PONG. */
uint32_t ctl_conn_rtt_ms(const struct ctl_conn *c);
/* The role's pointer, for its own bookkeeping. */
void	ctl_conn_set_data(struct ctl_conn *c, void *data);
void	*ctl_conn_data(const struct ctl_conn *c);

#endif
