/* SPDX-License-Identifier: MIT */
/*
 * `netport portal`: start-up, signals and graceful shutdown.
 *
 * SIGTERM or SIGINT: stop accepting (listeners closed, new streams from
 * peers refused), let live streams finish for drain_timeout, then reset
 * what is left with a reason, and exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctlsock.h"
#include "core/err.h"
#include "core/heap.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/metrics_http.h"
#include "core/tls.h"
#include "portal/portal.h"
#include "portal/portal_impl.h"

const struct daemon_spec portal_spec = {
	.role = "portal",
	.summary = "netport portal: the agent on an end device: dials out to "
	    "the server, listens on the ports of its rules and connects to "
	    "their targets.",
	.default_config = "/etc/netport/portal.yaml",
	.schema = &portal_conf_schema,
};

/* How often the drain checks whether the last stream has gone. */
#define PORTAL_DRAIN_TICK_MS	100

/*
 * Builds the allow-list.  The config's check has already reported every
 * bad entry, in the same pass as the other keys; this prints what a
 * failure here would still say.
 */
static int
portal_take_allow(const char *path, struct portal *p)
{
	struct conf_errors errs = { 0, NULL };
	size_t i;
	int r;

	r = allowlist_parse(&p->conf->allow, path, &p->allow, &errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	if (r != 0 && errs.n == 0)
		fprintf(stderr, "%s: allow: %s\n", path, np_strerror(r));
	conf_errors_free(&errs);
	if (r != 0)
		return r;
	/*
	 * udp.flow_idle_new left at its default follows a shorter
	 * udp.flow_idle down (set by hand beyond it, the config check has
	 * refused it).
	 */
	if (p->conf->udp_flow_idle_new > p->conf->udp_flow_idle)
		p->conf->udp_flow_idle_new = p->conf->udp_flow_idle;
	return 0;
}

static void
portal_finish(struct portal *p, const char *why)
{
	portal_tunnel_close_all(p, why);
	loop_stop(p->loop);
}

void
portal_exit(struct portal *p, int status, const char *why)
{
	p->exit_status = status;
	portal_finish(p, why);
}

static void
portal_drain_cb(struct loop_timer *t, void *arg)
{
	struct portal *p = arg;

	if (!portal_tunnel_drain(p)) {
		portal_finish(p, "portal shutting down");
		return;
	}
	if (loop_now_ms() >= p->drain_deadline) {
		log_info(NULL, "drain time (%lld ms) over; resetting the "
		    "remaining streams", p->conf->drain_timeout);
		portal_finish(p, "portal shutting down; drain time over");
		return;
	}
	loop_timer_arm(t, PORTAL_DRAIN_TICK_MS);
}

static void
portal_stop_cb(int signo, void *arg)
{
	struct portal *p = arg;

	if (p->stopping) {
		log_info(NULL, "%s again: stopping now", strsignal(signo));
		portal_finish(p, "portal stopped");
		return;
	}
	p->stopping = 1;
	daemon_notify_stopping();
	log_info(NULL, "%s: shutting down; live streams have %lld ms to "
	    "finish", strsignal(signo), p->conf->drain_timeout);
	portal_listen_close_all(p);
	/* New captured connections are not redirected into a closing
	 * portal; streams already open drain like the others. */
	portal_capture_stop(p);
	portal_ctl_stop(p);
	p->drain_deadline = loop_now_ms() + (uint64_t)p->conf->drain_timeout;
	if ((p->drain_timer = loop_timer_new(p->loop, portal_drain_cb,
	    p)) == NULL) {
		portal_finish(p, "portal shutting down");
		return;
	}
	portal_drain_cb(p->drain_timer, p);
}

static int
portal_tls(struct portal *p)
{
	struct tls_files files = {
		.ca = p->conf->tls_ca,
		.cert = p->conf->tls_cert,
		.key = p->conf->tls_key,
		.crl = p->conf->tls_crl,
	};
	char err[512];
	int r;

	if ((r = tls_ctx_new(&files, NP_ROLE_PORTAL, TLS_SIDE_CLIENT,
	    NP_ROLE_BIT(NP_ROLE_SERVER), &p->tls_ctl, err,
	    sizeof(err))) != 0 ||
	    (r = tls_ctx_new(&files, NP_ROLE_PORTAL, TLS_SIDE_CLIENT,
	    NP_ROLE_BIT(NP_ROLE_PORTAL), &p->tls_initiator, err,
	    sizeof(err))) != 0 ||
	    (r = tls_ctx_new(&files, NP_ROLE_PORTAL, TLS_SIDE_SERVER,
	    NP_ROLE_BIT(NP_ROLE_PORTAL), &p->tls_acceptor, err,
	    sizeof(err))) != 0) {
		log_error(NULL, "TLS: %s", err);
		return r;
	}
	/*
	 * Tunnels: let SSL_write take a buffer that grew or moved between
	 * retries and report partial progress.  Read-ahead stays off: the
	 * tunnel's read BIO (tls_bio_from_rx) reads whole socket buffers.
	 */
	SSL_CTX_set_mode(p->tls_initiator, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_mode(p->tls_acceptor, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if ((r = tls_ctx_set_alpn(p->tls_initiator, 0, TLS_ALPN_TUNNEL)) != 0 ||
	    (r = tls_ctx_set_alpn(p->tls_acceptor, 1, TLS_ALPN_TUNNEL)) != 0) {
		log_error(NULL, "TLS: cannot set the tunnel protocol (ALPN)");
		return r;
	}
	return tls_ctx_identity(p->tls_ctl, &p->self);
}

/*
 * Listeners of rules come later, some on ports below 1024, and a
 * capturing portal changes its firewall rules when the rules change: it
 * keeps those two capabilities.
 */
static int
portal_drop_privileges(struct portal *p)
{
	int keep[] = { CAP_NET_BIND_SERVICE, CAP_NET_ADMIN };

	return daemon_drop_privileges(p->conf->user, keep,
	    portal_capture_installs(p) ? 2 : 1);
}

static int
portal_setup(struct portal *p)
{
	char self[NP_IDENTITY_STR_MAX];
	int r;

	if ((r = portal_tls(p)) != 0)
		return r;
	identity_format(&p->self, self);
	/* QUIC paths pace their packets: timers finer than 1 ms. */
	if ((p->loop = loop_new_precise(p->conf->direct_quic !=
	    PORTAL_QUIC_OFF)) == NULL)
		return -ENOMEM;
	if ((r = loop_on_signal(p->loop, SIGTERM, portal_stop_cb, p)) != 0 ||
	    (r = loop_on_signal(p->loop, SIGINT, portal_stop_cb, p)) != 0)
		return r;
	/* First: every socket opened after it carries the capture mark. */
	if ((r = portal_capture_start(p)) != 0)
		return r;
	/* Before the control session: HELLO names the direct listener. */
	if ((r = portal_direct_start(p)) != 0)
		return r;
	/* Without QUIC the portal still has its TCP direct paths. */
	(void)portal_quic_start(p);
	if ((r = portal_portmap_start(p, portal_direct_port(p))) != 0) {
		log_error(NULL, "port mapping: cannot start: %s", np_strerror(r));
		return r;
	}
	if (portal_ctl_start(p) != 0)
		return -ENOMEM;
	p->started_ms = loop_now_ms();
	p->ctlsock = ctlsock_start(p->loop, p->conf->control_socket, "portal",
	    p->self.name, portal_status_json, p);
	if (metrics_on_scrape(portal_metrics_scrape, p) != 0 ||
	    metrics_http_from_conf(p->loop, p->conf->metrics,
	    &p->metrics) != 0)
		return NP_EFAIL;
	log_info(NULL, "portal %s up; server %s:%u", self,
	    p->conf->server.host, p->conf->server.port);
	daemon_notify_ready("up");
	return 0;
}

int
portal_main(int argc, char **argv)
{
	struct daemon_opts opts;
	struct portal_conf conf;
	struct portal p;
	int status;

	if ((status = daemon_begin(&portal_spec, argc, argv, &opts,
	    &conf)) >= 0)
		return status;
	status = 1;
	memset(&p, 0, sizeof(p));
	p.conf = &conf;
	TAILQ_INIT(&p.listeners);
	TAILQ_INIT(&p.tunnels);
	if (portal_take_allow(opts.config, &p) != 0)
		goto out;
	if (opts.check_only) {
		printf("configuration OK\n");
		status = 0;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	heap_pin_mmap_threshold();
	if (portal_setup(&p) != 0 || portal_drop_privileges(&p) != 0)
		goto out;
	status = loop_run(p.loop) == 0 ? p.exit_status : 1;
	log_info(NULL, "stopped");
out:
	metrics_http_stop(p.metrics);
	metrics_reset();
	if (p.loop) {
		ctlsock_close(p.ctlsock);
		portal_listen_close_all(&p);
		portal_capture_stop(&p);
		portal_ctl_stop(&p);
		portal_tunnel_close_all(&p, "portal stopped");
		portal_direct_stop(&p);
		portal_portmap_stop(&p);
		portal_quic_stop(&p);
		portal_stun_stop(&p);
	}
	loop_timer_free(p.drain_timer);
	loop_free(p.loop);
	free(p.rules);
	free(p.udp_scratch);
	allowlist_free(&p.allow);
	SSL_CTX_free(p.tls_ctl);
	SSL_CTX_free(p.tls_initiator);
	SSL_CTX_free(p.tls_acceptor);
	conf_free(&portal_conf_schema, &conf);
	return status;
}
