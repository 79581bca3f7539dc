/* SPDX-License-Identifier: MIT */
/*
 * `netport server`: start-up, signals, reloads and shutdown.
 *
 * SIGHUP, or a change of the policy or CRL file seen by the poll timer,
 * reloads that file: a policy that fails to parse is reported and the old
 * one stays; a new CRL closes the sessions of revoked certificates at once.
 * SIGTERM and SIGINT close every session and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/ctlsock.h"
#include "core/err.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/metrics_http.h"
#include "core/sandbox.h"
#include "core/logsum.h"
#include "core/tls.h"
#include "core/worker.h"
#include "server/server.h"
#include "server/server_impl.h"

const struct daemon_spec server_spec = {
	.role = "server",
	.summary = "netport server: the public control plane: authenticates "
	    "portals and relays, holds the access policy and brokers tunnels.",
	.default_config = "/etc/netport/server.yaml",
	.schema = &server_conf_schema,
};

/* Loads the policy, printing every error; used at start and by -n. */
static int
server_load_policy(const char *path, struct policy **out, int at_start)
{
	struct conf_errors errs = { 0, NULL };
	size_t i;
	int r;

	r = policy_load_file(path, server_conf_policy_limits(), out, &errs);
	for (i = 0; i < errs.n; i++) {
		if (at_start)
			fprintf(stderr, "%s\n", errs.msg[i]);
		else
			log_error(NULL, "%s", errs.msg[i]);
	}
	conf_errors_free(&errs);
	return r;
}

/* Reloads by file (policy, crl) and result (ok, failed). */
static struct metric_family *
server_reload_metric(void)
{
	return metrics_family(METRIC_COUNTER, "netport_server_reloads_total",
	    "reloads of the policy and the CRL, by file and result",
	    "file,result", NULL, 0);
}

static void
server_watch_init(struct server_watch *w, const char *path)
{
	struct stat st;

	memset(w, 0, sizeof(*w));
	w->path = path;
	if (path && stat(path, &st) == 0) {
		w->exists = 1;
		w->mtime = st.st_mtim;
		w->size = st.st_size;
	}
}

/* 1 when the file changed since the last look (and records the new look). */
static int
server_watch_changed(struct server_watch *w)
{
	struct stat st;
	int exists, changed;

	if (w->path == NULL)
		return 0;
	exists = stat(w->path, &st) == 0;
	if (!exists)
		return 0;	/* mid-replace, or removed: keep what we have */
	changed = !w->exists || st.st_size != w->size ||
	    st.st_mtim.tv_sec != w->mtime.tv_sec ||
	    st.st_mtim.tv_nsec != w->mtime.tv_nsec;
	w->exists = 1;
	w->mtime = st.st_mtim;
	w->size = st.st_size;
	return changed;
}

/*
 * A descriptor kept for reloads: at the open-file limit (a flood of
 * connections, many portals) a reload must still open its file, or a
 * revocation would not take effect.  It is given back just before a
 * reload opens anything, and taken again after (nothing else runs in
 * between: one loop).
 */
static void
server_reserve_fd(struct server *srv, int take)
{
	if (!take) {
		if (srv->reserve_fd >= 0)
			close(srv->reserve_fd);
		srv->reserve_fd = -1;
		return;
	}
	if (srv->reserve_fd < 0 && (srv->reserve_fd = open("/dev/null",
	    O_RDONLY | O_CLOEXEC)) < 0)
		log_warn(NULL, "no descriptor kept for reloads: %s",
		    strerror(errno));
}

/*
 * A policy load off the loop: the loop reads the file (it holds the
 * descriptor reserve), the worker parses it and builds its indexes, the
 * loop swaps it in and starts the fan-out, and the worker frees the old
 * one.  Parsing 10,000 rules takes some 50 ms, 100,000 half a second: too
 * long to hold keepalives and grants.
 */
struct server_policy_job {
	struct worker_job	 job;
	TAILQ_ENTRY(server_policy_job) entry;	/* srv->jobs */
	struct server		*srv;
	char			*text;		/* the file, read by the loop */
	size_t			 len;
	struct policy		*policy;	/* parsed, or to be freed */
	struct conf_errors	 errs;
	int			 rc;
	uint64_t		 started_ms;
};

static void
server_job_free(struct server_policy_job *j)
{
	TAILQ_REMOVE(&j->srv->jobs, j, entry);
	free(j->text);
	policy_free(j->policy);
	conf_errors_free(&j->errs);
	free(j);
}

/* On the worker. */
static void
server_parse_work(struct worker_job *job)
{
	struct server_policy_job *j = (struct server_policy_job *)job;

	j->rc = policy_parse_limits(j->srv->conf->policy, j->text, j->len,
	    server_conf_policy_limits(), &j->policy, &j->errs);
}

/* On the worker. */
static void
server_free_work(struct worker_job *job)
{
	struct server_policy_job *j = (struct server_policy_job *)job;

	policy_free(j->policy);
	j->policy = NULL;
}

static void
server_free_done(struct worker_job *job)
{
	server_job_free((struct server_policy_job *)job);
}

static void server_reload_policy(struct server *srv);

static void
server_parse_done(struct worker_job *job)
{
	struct server_policy_job *j = (struct server_policy_job *)job;
	struct server *srv = j->srv;
	struct policy *old;
	size_t i;

	srv->reloading = 0;
	for (i = 0; i < j->errs.n; i++)
		log_error(NULL, "%s", j->errs.msg[i]);
	if (j->rc != 0) {
		metric_inc2(server_reload_metric(), "policy", "failed");
		log_error(NULL, "policy %s not reloaded; keeping the previous "
		    "one (%zu rules)", srv->conf->policy, srv->policy->nrules);
		server_job_free(j);
	} else {
		old = srv->policy;
		srv->policy = j->policy;
		srv->generation++;
		metric_inc2(server_reload_metric(), "policy", "ok");
		log_info(NULL, "policy reloaded from %s: %zu rule%s "
		    "(generation %llu, parsed in %llu ms)", srv->conf->policy,
		    srv->policy->nrules, srv->policy->nrules == 1 ? "" : "s",
		    (unsigned long long)srv->generation,
		    (unsigned long long)(loop_now_ms() - j->started_ms));
		server_push_all_rules(srv);
		/* The old one is freed off the loop too. */
		j->policy = old;
		free(j->text);
		j->text = NULL;
		j->job.work = server_free_work;
		j->job.done = server_free_done;
		if (worker_submit(srv->worker, &j->job) != 0)
			server_job_free(j);
	}
	if (srv->reload_again) {
		srv->reload_again = 0;
		server_reload_policy(srv);
	}
}

static void
server_reload_policy(struct server *srv)
{
	struct server_policy_job *j;
	size_t i;
	int r;

	if (srv->reloading) {
		/* Once the running load is in, this one reads the file. */
		srv->reload_again = 1;
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	j->srv = srv;
	j->started_ms = loop_now_ms();
	TAILQ_INSERT_TAIL(&srv->jobs, j, entry);
	server_reserve_fd(srv, 0);
	r = policy_read_file(srv->conf->policy, server_conf_policy_limits(),
	    &j->text, &j->len, &j->errs);
	server_reserve_fd(srv, 1);
	if (r != 0) {
		for (i = 0; i < j->errs.n; i++)
			log_error(NULL, "%s", j->errs.msg[i]);
		server_job_free(j);
		goto fail;
	}
	j->job.work = server_parse_work;
	j->job.done = server_parse_done;
	if ((r = worker_submit(srv->worker, &j->job)) != 0) {
		server_job_free(j);
		goto fail;
	}
	srv->reloading = 1;
	return;
fail:
	metric_inc2(server_reload_metric(), "policy", "failed");
	log_error(NULL, "policy %s not reloaded: %s; keeping the previous one "
	    "(%zu rules)", srv->conf->policy, r == NP_ECONFIG ? "too large" :
	    np_strerror(r), srv->policy->nrules);
}

static void
server_reload_crl(struct server *srv)
{
	const char *path = srv->conf->tls_crl;
	char err[256];
	X509_CRL *crl = NULL;
	FILE *fp;

	if (path == NULL)
		return;
	server_reserve_fd(srv, 0);
	if (tls_ctx_reload_crl(srv->tls, path, err, sizeof(err)) != 0) {
		server_reserve_fd(srv, 1);
		metric_inc2(server_reload_metric(), "crl", "failed");
		log_error(NULL, "CRL %s not reloaded: %s", path, err);
		return;
	}
	if ((fp = fopen(path, "r")) == NULL ||
	    (crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL)) == NULL) {
		log_error(NULL, "CRL %s: cannot read it again to check live "
		    "sessions: %s", path, fp ? "not a CRL" : strerror(errno));
		if (fp)
			fclose(fp);
		server_reserve_fd(srv, 1);
		metric_inc2(server_reload_metric(), "crl", "failed");
		return;
	}
	fclose(fp);
	server_reserve_fd(srv, 1);
	metric_inc2(server_reload_metric(), "crl", "ok");
	log_info(NULL, "CRL reloaded from %s", path);
	server_drop_revoked(srv, crl);
	X509_CRL_free(crl);
}

static void
server_sighup_cb(int signo, void *arg)
{
	struct server *srv = arg;

	log_info(NULL, "SIGHUP: reloading policy and CRL");
	server_watch_changed(&srv->policy_watch);
	server_watch_changed(&srv->crl_watch);
	server_reload_policy(srv);
	server_reload_crl(srv);
}

static void
server_poll_cb(struct loop_timer *t, void *arg)
{
	struct server *srv = arg;

	if (server_watch_changed(&srv->policy_watch)) {
		log_info(NULL, "policy file %s changed", srv->conf->policy);
		server_reload_policy(srv);
	}
	if (server_watch_changed(&srv->crl_watch)) {
		log_info(NULL, "CRL file %s changed", srv->conf->tls_crl);
		server_reload_crl(srv);
	}
	loop_timer_arm(t, (uint64_t)srv->conf->policy_poll);
}

/* How long shutdown waits for the ERROR SHUTDOWN messages to go out. */
#define SERVER_GOODBYE_MS	300

static void
server_stopped_cb(struct loop_timer *t, void *arg)
{
	struct server *srv = arg;

	loop_stop(srv->loop);
}

static void
server_stop_cb(int signo, void *arg)
{
	struct server *srv = arg;

	if (srv->stopping)
		return;
	srv->stopping = 1;
	daemon_notify_stopping();
	log_info(NULL, "%s: shutting down", strsignal(signo));
	listener_free(srv->listener);
	srv->listener = NULL;
	/* Tell every peer why, then stop once that had time to go out. */
	server_say_goodbye(srv);
	if ((srv->stop_timer = loop_timer_new(srv->loop, server_stopped_cb,
	    srv)) != NULL)
		loop_timer_arm(srv->stop_timer, SERVER_GOODBYE_MS);
	else
		loop_stop(srv->loop);
}

static int
server_setup(struct server *srv)
{
	struct tls_files files = {
		.ca = srv->conf->tls_ca,
		.cert = srv->conf->tls_cert,
		.key = srv->conf->tls_key,
		.crl = srv->conf->tls_crl,
	};
	char err[512], self[NP_IDENTITY_STR_MAX];
	int r;

	if ((r = tls_ctx_new(&files, NP_ROLE_SERVER, TLS_SIDE_SERVER,
	    NP_ROLE_BIT(NP_ROLE_PORTAL) | NP_ROLE_BIT(NP_ROLE_RELAY),
	    &srv->tls, err, sizeof(err))) != 0) {
		log_error(NULL, "TLS: %s", err);
		return r;
	}
	if ((r = tls_ctx_identity(srv->tls, &srv->self)) != 0)
		return r;
	/*
	 * Control sessions are idle most of the time and many: let OpenSSL
	 * free a session's buffers while it has nothing in them (an open
	 * handshake then costs a few KiB instead of some 70).
	 */
	SSL_CTX_set_mode(srv->tls, SSL_MODE_RELEASE_BUFFERS);
	identity_format(&srv->self, self);
	log_set_role("server");
	if ((r = ticket_key_generate(&srv->ticket_key)) != 0) {
		log_error(NULL, "cannot generate the ticket key: %s",
		    np_strerror(r));
		return r;
	}
	if ((srv->loop = loop_new()) == NULL)
		return -ENOMEM;
	if ((srv->worker = worker_start(srv->loop, "policy")) == NULL) {
		r = -errno;
		log_error(NULL, "cannot start the policy thread: %s",
		    strerror(errno));
		return r;
	}
	if ((r = server_listen(srv)) != 0) {
		log_error(NULL, "cannot listen on %s:%u: %s",
		    srv->conf->listen.host, srv->conf->listen.port,
		    np_strerror(r));
		return r;
	}
	if (srv->conf->stun_mode == SERVER_STUN_ON) {
		srv->stun = stun_server_start(srv->loop, &srv->conf->stun_listen,
		    (uint32_t)srv->conf->stun_rate_per_source,
		    (uint32_t)srv->conf->stun_rate_total, &r);
		if (srv->stun == NULL)
			log_warn(NULL, "no STUN: cannot listen on UDP %s:%u: %s; "
			    "portals learn no reflexive UDP address",
			    srv->conf->stun_listen.host,
			    srv->conf->stun_listen.port, np_strerror(r));
		else
			log_info(NULL, "answering STUN on UDP port %u",
			    stun_server_port(srv->stun));
	}
	if ((r = loop_on_signal(srv->loop, SIGHUP, server_sighup_cb,
	    srv)) != 0 ||
	    (r = loop_on_signal(srv->loop, SIGTERM, server_stop_cb, srv)) != 0 ||
	    (r = loop_on_signal(srv->loop, SIGINT, server_stop_cb, srv)) != 0)
		return r;
	srv->started_ms = loop_now_ms();
	server_reserve_fd(srv, 1);
	srv->ctlsock = ctlsock_start(srv->loop, srv->conf->control_socket,
	    "server", srv->self.name, server_status_json, srv);
	if (metrics_on_scrape(server_metrics_scrape, srv) != 0 ||
	    metrics_http_from_conf(srv->loop, srv->conf->metrics,
	    &srv->metrics) != 0)
		return NP_EFAIL;
	server_watch_init(&srv->policy_watch, srv->conf->policy);
	server_watch_init(&srv->crl_watch, srv->conf->tls_crl);
	if (srv->conf->policy_poll > 0) {
		if ((srv->poll_timer = loop_timer_new(srv->loop, server_poll_cb,
		    srv)) == NULL)
			return -ENOMEM;
		loop_timer_arm(srv->poll_timer,
		    (uint64_t)srv->conf->policy_poll);
	}
	srv->expiry_checked = (int64_t)time(NULL);
	server_push_all_rules(srv);	/* arms the expiry timer */
	log_info(NULL, "server %s up: %zu rule%s, policy %s", self,
	    srv->policy->nrules, srv->policy->nrules == 1 ? "" : "s",
	    srv->conf->policy);
	daemon_notify_ready("serving");
	return 0;
}

static void
server_teardown(struct server *srv)
{
	/* The thread first: then no job is in its hands. */
	worker_stop(srv->worker);
	while (!TAILQ_EMPTY(&srv->jobs))
		server_job_free(TAILQ_FIRST(&srv->jobs));
	ctlsock_close(srv->ctlsock);
	metrics_http_stop(srv->metrics);
	metrics_reset();
	if (srv->loop)
		server_close_all(srv, "server shutting down");
	listener_free(srv->listener);
	stun_server_free(srv->stun);
	unauth_free(srv->unauth);
	logsum_free(srv->unauth_log);
	logsum_free(srv->cap_log);
	hmap_release(&srv->portal_names);
	server_reserve_fd(srv, 0);
	loop_timer_free(srv->poll_timer);
	loop_timer_free(srv->expiry_timer);
	loop_timer_free(srv->push_timer);
	loop_timer_free(srv->stop_timer);
	loop_free(srv->loop);	/* runs the queued frees first */
	policy_free(srv->policy);
	if (srv->ticket_key.pkey)
		ticket_key_free(&srv->ticket_key);
	SSL_CTX_free(srv->tls);
}

int
server_main(int argc, char **argv)
{
	struct daemon_opts opts;
	struct server_conf conf;
	struct server srv;
	int status;

	if ((status = daemon_begin(&server_spec, argc, argv, &opts,
	    &conf)) >= 0)
		return status;
	status = 1;
	memset(&srv, 0, sizeof(srv));
	srv.conf = &conf;
	srv.conf_path = opts.config;
	TAILQ_INIT(&srv.handshaking);
	TAILQ_INIT(&srv.portals);
	srv.reserve_fd = -1;
	hmap_init(&srv.portal_names);
	TAILQ_INIT(&srv.relays);
	TAILQ_INIT(&srv.jobs);
	if (server_load_policy(conf.policy, &srv.policy, 1) != 0)
		goto out;
	if (opts.check_only) {
		printf("configuration OK\n");
		status = 0;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (server_setup(&srv) != 0 ||
	    daemon_drop_privileges(conf.user, NULL, 0) != 0 ||
	    sandbox_test_hook(srv.loop) != 0 ||
	    (conf.seccomp == CONF_SECCOMP_ON && sandbox_seccomp(SANDBOX_SERVER) < 0))
		goto out;
	status = loop_run(srv.loop) == 0 ? 0 : 1;
	log_info(NULL, "stopped");
out:
	server_teardown(&srv);
	conf_free(&server_conf_schema, &conf);
	return status;
}
