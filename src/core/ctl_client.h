/* SPDX-License-Identifier: MIT */
/*
 * The client end of a control session (portals and relays): connects to the
 * server, says HELLO, waits for WELCOME, and when the session is lost or
 * cannot be made, tries again after an exponential backoff with jitter.
 * Whoever uses it keeps working while the server is away.
 *
 * One failure is different: the server refused our certificate, as revoked
 * or as not issued by a CA it trusts.  Trying again soon cannot help and
 * only loads the server, so the client says once, in plain words, what is
 * wrong and what to do, then waits refused_delay_ms (jittered) before the
 * next attempt, or, with refused_exit, reports it to the role, which
 * exits.  A session that comes up again resets this.
 */
#ifndef NETPORT_CORE_CTL_CLIENT_H
#define NETPORT_CORE_CTL_CLIENT_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "core/conf.h"
#include "core/ctl_conn.h"
#include "core/identity.h"
#include "core/proto.h"

struct ctl_client;
struct loop;

struct ctl_client_cbs {
	/* Fills role-specific HELLO attributes (type and software are set). */
	void	(*hello)(struct ctl_client *cc, struct proto_msg *hello,
		    void *arg);
	/* The session is up: WELCOME received. */
	void	(*up)(struct ctl_client *cc, const struct proto_msg *welcome,
		    void *arg);
	/* A message after WELCOME. */
	void	(*msg)(struct ctl_client *cc, const struct proto_msg *m,
		    void *arg);
	/* The session that was up is gone; a reconnect is scheduled. */
	void	(*down)(struct ctl_client *cc, void *arg);
	/*
	 * The server refused our certificate (err: NP_EREVOKED or
	 * NP_EUNTRUSTED) and opts.refused_exit is set: already logged, no
	 * reconnect is scheduled; the role stops with DAEMON_EXIT_REFUSED.
	 */
	void	(*refused)(struct ctl_client *cc, int err, void *arg);
	void	*arg;
};

struct ctl_client_opts {
	struct conf_endpoint	server;
	uint64_t		backoff_min_ms;
	uint64_t		backoff_max_ms;
	uint32_t		handshake_ms;
	/* After a refusal of our certificate: wait this long (0: treat it
	 * like any other failure), or give up (needs cbs.refused). */
	uint64_t		refused_delay_ms;
	int			refused_exit;
	char			self[NP_IDENTITY_STR_MAX]; /* for the log */
};

/* NULL when out of memory.  Call ctl_client_start() to connect. */
struct ctl_client *ctl_client_new(struct loop *loop, SSL_CTX *ctx,
	    const struct ctl_client_opts *opts, const struct ctl_client_cbs *cbs);
void	ctl_client_start(struct ctl_client *cc);
/* Closes the session (if any) and frees; NULL-safe. */
void	ctl_client_free(struct ctl_client *cc);

/* 1 after WELCOME until the session is lost. */
int	ctl_client_is_up(const struct ctl_client *cc);
/* Sends on the live session; NP_ECLOSED when it is not up. */
int	ctl_client_send(struct ctl_client *cc, const struct proto_msg *m);
/* The live connection or NULL (for its log context and RTT). */
struct ctl_conn *ctl_client_conn(const struct ctl_client *cc);

#endif
