/* SPDX-License-Identifier: MIT */
/* Reconnecting client control session; see ctl_client.h. */
#include <stdio.h>
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
	int			 refused;	/* last refusal (NP_E*) of
						 * this run of failures */
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
		cc->refused = 0;
		backoff_reset(&cc->backoff);
		/* How wide to spread the first attempt when this session is
		 * lost: the server knows how many will come back with us. */
		backoff_set_spread(&cc->backoff, m->spread_ms);
		ctl_conn_set_timing(c, m->keepalive_ms, m->dead_ms);
		log_info(ctl_conn_log(c), "session with server %s is up "
		    "(keepalive %u ms, dead-peer timeout %u ms)",
		    ctl_conn_remote(c), m->keepalive_ms, m->dead_ms);
		if (cc->cbs.up)
			cc->cbs.up(cc, m, cc->cbs.arg);
		return;
	}
	/* A server going down says how wide to spread (ERROR SHUTDOWN). */
	if (m->type == PROTO_ERROR && m->spread_ms)
		backoff_set_spread(&cc->backoff, m->spread_ms);
	if (cc->cbs.msg)
		cc->cbs.msg(cc, m, cc->cbs.arg);
}

/* A delay in the unit a person reads best: "1 h", "90 min", "45 s". */
static void
ctl_client_format_delay(uint64_t ms, char *out, size_t size)
{
	if (ms >= 3600000 && ms % 3600000 == 0)
		snprintf(out, size, "%llu h",
		    (unsigned long long)(ms / 3600000));
	else if (ms >= 60000)
		snprintf(out, size, "%llu min",
		    (unsigned long long)((ms + 30000) / 60000));
	else
		snprintf(out, size, "%llu s",
		    (unsigned long long)((ms + 500) / 1000));
}

/*
 * The server refused our certificate (err): say so in plain words once
 * per run of refusals, then wait long or give up.  The jitter keeps a
 * fleet refused at once (a CA change on the server) from coming back in
 * the same second.
 */
static void
ctl_client_refused(struct ctl_client *cc, struct ctl_conn *c, int err)
{
	const char *what, *fix;
	uint64_t delay;
	char when[32];

	if (err == NP_EREVOKED) {
		what = "it is revoked";
		fix = "ask the administrator for a new certificate";
	} else {
		what = "it is not issued by a CA the server trusts";
		fix = "check that tls.cert comes from the CA of the server's "
		    "tls.ca";
	}
	if (cc->opts.refused_exit && cc->cbs.refused) {
		log_error(NULL, "the server %s refused the certificate of %s: "
		    "%s; %s; exiting (reconnect.refused: exit)",
		    ctl_conn_remote(c), cc->opts.self, what, fix);
		cc->cbs.refused(cc, err, cc->cbs.arg);
		return;
	}
	delay = backoff_jitter(cc->opts.refused_delay_ms);
	ctl_client_format_delay(delay, when, sizeof(when));
	if (cc->refused != err)
		log_error(NULL, "the server %s refused the certificate of %s: "
		    "%s; %s; retrying in %s (reconnect.refused_delay)",
		    ctl_conn_remote(c), cc->opts.self, what, fix, when);
	else
		log_info(NULL, "the server %s still refuses the certificate of "
		    "%s (%s); retrying in %s", ctl_conn_remote(c),
		    cc->opts.self, what, when);
	cc->refused = err;
	loop_timer_arm(cc->retry, delay);
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
	if ((err == NP_EREVOKED || err == NP_EUNTRUSTED) &&
	    cc->opts.refused_delay_ms) {
		cc->failures++;
		ctl_client_refused(cc, c, err);
		return;
	}
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
