/* SPDX-License-Identifier: MIT */
/* Reconnecting client control session; see ctl_client.h. */
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "core/ctl_client.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"

struct ctl_client {
	struct loop		*loop;		/* borrowed */
	SSL_CTX			*ctx;		/* borrowed */
	struct ctl_client_opts	 opts;
	struct ctl_client_cbs	 cbs;
	struct ctl_conn		*conn;		/* NULL while down */
	struct loop_timer	*retry;
	struct backoff		 backoff;
	int			 up;		/* WELCOME received */
	int			 freeing;
	unsigned		 failures;	/* in a row, for the log */
};

static void	ctl_client_connect(struct ctl_client *cc);

static void
ctl_client_retry_cb(struct loop_timer *t, void *arg)
{
	ctl_client_connect(arg);
}

static void
ctl_client_ready(struct ctl_conn *c, void *arg)
{
	struct ctl_client *cc = arg;
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	snprintf(m.software, sizeof(m.software), "netport %s",
	    NETPORT_VERSION);
	if (cc->cbs.hello)
		cc->cbs.hello(cc, &m, cc->cbs.arg);
	(void)ctl_conn_send(c, &m);
}

static void
ctl_client_msg(struct ctl_conn *c, const struct proto_msg *m, void *arg)
{
	struct ctl_client *cc = arg;

	if (!cc->up) {
		if (m->type == PROTO_ERROR) {
			ctl_conn_close(c, NP_EDENIED, LOGLEVEL_WARN, "server "
			    "refused the session: %s (%s)",
			    proto_error_text(m->code), m->message);
			return;
		}
		if (m->type != PROTO_WELCOME) {
			ctl_conn_close(c, NP_EPROTO, LOGLEVEL_WARN, "expected "
			    "WELCOME, got %s", proto_type_name(m->type));
			return;
		}
		cc->up = 1;
		cc->failures = 0;
		backoff_reset(&cc->backoff);
		ctl_conn_set_timing(c, m->keepalive_ms, m->dead_ms);
		log_info(ctl_conn_log(c), "session with server %s is up "
		    "(keepalive %u ms, dead-peer timeout %u ms)",
		    ctl_conn_remote(c), m->keepalive_ms, m->dead_ms);
		if (cc->cbs.up)
			cc->cbs.up(cc, m, cc->cbs.arg);
		return;
	}
	if (cc->cbs.msg)
		cc->cbs.msg(cc, m, cc->cbs.arg);
}

static void
ctl_client_closed(struct ctl_conn *c, int err, void *arg)
{
	struct ctl_client *cc = arg;
	uint64_t delay;
	int was_up = cc->up;

	cc->conn = NULL;
	cc->up = 0;
	if (was_up && cc->cbs.down)
		cc->cbs.down(cc, cc->cbs.arg);
	if (cc->freeing)
		return;
	delay = backoff_next(&cc->backoff);
	cc->failures++;
	log_info(NULL, "reconnecting to server %s in %llu ms (attempt %u)",
	    ctl_conn_remote(c), (unsigned long long)delay, cc->failures);
	loop_timer_arm(cc->retry, delay);
}

static void
ctl_client_connect(struct ctl_client *cc)
{
	static const struct ctl_conn_cbs cbs_template = {
		.ready = ctl_client_ready,
		.msg = ctl_client_msg,
		.closed = ctl_client_closed,
	};
	struct ctl_conn_cbs cbs = cbs_template;
	struct ctl_conn_opts o = {
		.handshake_ms = cc->opts.handshake_ms,
		/* Until WELCOME names the timing, a silent server is dead. */
		.dead_ms = cc->opts.handshake_ms * 2,
	};

	cbs.arg = cc;
	cc->conn = ctl_conn_connect(cc->loop, cc->ctx, &cc->opts.server, &o,
	    &cbs);
	if (cc->conn == NULL) {
		log_error(NULL, "out of memory connecting to the server; "
		    "retrying");
		loop_timer_arm(cc->retry, backoff_next(&cc->backoff));
	}
}

struct ctl_client *
ctl_client_new(struct loop *loop, SSL_CTX *ctx,
    const struct ctl_client_opts *opts, const struct ctl_client_cbs *cbs)
{
	struct ctl_client *cc;

	if ((cc = calloc(1, sizeof(*cc))) == NULL)
		return NULL;
	cc->loop = loop;
	cc->ctx = ctx;
	cc->opts = *opts;
	if (cc->opts.handshake_ms == 0)
		cc->opts.handshake_ms = 10000;
	cc->cbs = *cbs;
	backoff_init(&cc->backoff, opts->backoff_min_ms, opts->backoff_max_ms);
	if ((cc->retry = loop_timer_new(loop, ctl_client_retry_cb,
	    cc)) == NULL) {
		free(cc);
		return NULL;
	}
	return cc;
}

void
ctl_client_start(struct ctl_client *cc)
{
	ctl_client_connect(cc);
}

void
ctl_client_free(struct ctl_client *cc)
{
	if (cc == NULL)
		return;
	cc->freeing = 1;
	if (cc->conn)
		ctl_conn_close(cc->conn, 0, LOGLEVEL_INFO, "shutting down");
	loop_timer_free(cc->retry);
	free(cc);
}

int
ctl_client_is_up(const struct ctl_client *cc)
{
	return cc->up;
}

int
ctl_client_send(struct ctl_client *cc, const struct proto_msg *m)
{
	if (!cc->up || cc->conn == NULL)
		return NP_ECLOSED;
	return ctl_conn_send(cc->conn, m);
}

struct ctl_conn *
ctl_client_conn(const struct ctl_client *cc)
{
	return cc->up ? cc->conn : NULL;
}
