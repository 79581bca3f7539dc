/* SPDX-License-Identifier: MIT */
/* `netport relay`: command line, configuration, start-up and shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/ctlsock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/listener.h"
#include "core/metrics.h"
#include "core/metrics_http.h"
#include "core/sandbox.h"
#include "core/net.h"
#include "core/tls.h"
#include "relay/relay.h"
#include "relay/relay_impl.h"

const struct daemon_spec relay_spec = {
	.role = "relay",
	.summary = "netport relay: the public data plane: pairs the two halves "
	    "of a tunnel by ticket and forwards bytes it cannot read.",
	.default_config = "/etc/netport/relay.yaml",
	.schema = &relay_conf_schema,
};

/*
 * The addresses portals dial, from the advertise list that the config's
 * check has validated; when it is empty, relay_setup() takes the listen
 * address.
 */
static void
relay_take_advertise(struct relay *r)
{
	const struct conf_strlist *adv = &r->conf->advertise;
	size_t i;

	for (i = 0; i < adv->n && i < PROTO_MAX_ADVERTISE; i++)
		snprintf(r->advertise[r->nadvertise++], PROTO_ADDR_MAX + 1,
		    "%s", adv->v[i]);
}

static void
relay_stop_cb(int signo, void *arg)
{
	struct relay *r = arg;

	if (r->stopping)
		return;
	r->stopping = 1;
	daemon_notify_stopping();
	log_info(NULL, "%s: shutting down", strsignal(signo));
	relay_pair_stop(r);
	relay_fwd_close_all(r);
	relay_ctl_stop(r);
	loop_stop(r->loop);
}

static int
relay_setup(struct relay *r)
{
	struct tls_files files = {
		.ca = r->conf->tls_ca,
		.cert = r->conf->tls_cert,
		.key = r->conf->tls_key,
		.crl = r->conf->tls_crl,
	};
	char err[512], addr[NET_ADDR_STR_MAX], self[NP_IDENTITY_STR_MAX];
	int rc;

	if ((rc = tls_ctx_new(&files, NP_ROLE_RELAY, TLS_SIDE_CLIENT,
	    NP_ROLE_BIT(NP_ROLE_SERVER), &r->tls, err, sizeof(err))) != 0) {
		log_error(NULL, "TLS: %s", err);
		return rc;
	}
	if ((rc = tls_ctx_identity(r->tls, &r->self)) != 0)
		return rc;
	identity_format(&r->self, self);
	if ((r->loop = loop_new()) == NULL)
		return -ENOMEM;
	if ((r->listen_fd = net_listen_tcp(&r->conf->listen,
	    (int)r->conf->listen_backlog)) < 0) {
		rc = r->listen_fd;
		log_error(NULL, "cannot listen on %s:%u: %s",
		    r->conf->listen.host, r->conf->listen.port,
		    np_strerror(rc));
		return rc;
	}
	listener_check_backlog(r->conf->listen_backlog);
	net_local_addr(r->listen_fd, addr, sizeof(addr));
	if (r->nadvertise == 0)
		snprintf(r->advertise[r->nadvertise++], PROTO_ADDR_MAX + 1,
		    "%s", addr);
	if ((rc = loop_on_signal(r->loop, SIGTERM, relay_stop_cb, r)) != 0 ||
	    (rc = loop_on_signal(r->loop, SIGINT, relay_stop_cb, r)) != 0)
		return rc;
	TAILQ_INIT(&r->tunnel_list);
	if ((rc = relay_fwd_init(r)) != 0)
		return rc;
	/* QUIC tunnels pair on the same port number over UDP; without it
	 * the relay still pairs over TCP. */
	(void)relay_udp_start(r, net_local_port(r->listen_fd));
	if ((rc = relay_pair_start(r)) != 0 || (rc = relay_ctl_start(r)) != 0)
		return -ENOMEM;
	r->started_ms = loop_now_ms();
	r->ctlsock = ctlsock_start(r->loop, r->conf->control_socket, "relay",
	    r->self.name, relay_status_json, r);
	if (metrics_on_scrape(relay_metrics_scrape, r) != 0 ||
	    metrics_http_from_conf(r->loop, r->conf->metrics,
	    &r->metrics) != 0)
		return NP_EFAIL;
	log_info(NULL, "relay %s up: listening on %s, portals dial %s", self,
	    addr, r->advertise[0]);
	daemon_notify_ready("forwarding");
	return 0;
}

int
relay_main(int argc, char **argv)
{
	struct daemon_opts opts;
	struct relay_conf conf;
	struct relay r;
	int status;

	if ((status = daemon_begin(&relay_spec, argc, argv, &opts,
	    &conf)) >= 0)
		return status;
	status = 1;
	memset(&r, 0, sizeof(r));
	r.conf = &conf;
	r.listen_fd = -1;
	r.kwatch_fd = -1;
	relay_take_advertise(&r);
	if (opts.check_only) {
		printf("configuration OK\n");
		status = 0;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (relay_setup(&r) != 0 ||
	    daemon_drop_privileges(conf.user, NULL, 0) != 0 ||
	    sandbox_test_hook(r.loop) != 0 ||
	    (conf.seccomp == CONF_SECCOMP_ON && sandbox_seccomp(SANDBOX_RELAY) < 0))
		goto out;
	status = loop_run(r.loop) == 0 ? r.exit_status : 1;
	log_info(NULL, "stopped");
out:
	ctlsock_close(r.ctlsock);
	metrics_http_stop(r.metrics);
	metrics_reset();
	relay_udp_stop(&r);
	relay_pair_stop(&r);
	if (r.loop)
		relay_fwd_close_all(&r);
	relay_fwd_fini(&r);
	relay_ctl_stop(&r);
	if (r.listen_fd >= 0)
		close(r.listen_fd);
	loop_free(r.loop);
	SSL_CTX_free(r.tls);
	conf_free(&relay_conf_schema, &conf);
	return status;
}
