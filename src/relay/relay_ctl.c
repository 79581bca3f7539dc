/* SPDX-License-Identifier: MIT */
/*
 * The relay's control session: it registers its public addresses and
 * capacity with the server, learns the key that verifies tickets, and
 * reports its load every load_interval.
 */
#include <string.h>

#include "core/daemon.h"
#include "core/err.h"
#include "core/log.h"
#include "relay/relay_impl.h"

static void
relay_ctl_hello(struct ctl_client *cc, struct proto_msg *m, void *arg)
{
	struct relay *r = arg;
	size_t i;

	for (i = 0; i < r->nadvertise; i++)
		memcpy(m->advertise[i], r->advertise[i],
		    sizeof(m->advertise[i]));
	m->advertise_n = r->nadvertise;
	m->capacity = (uint32_t)r->conf->capacity;
}

static void
relay_ctl_up(struct ctl_client *cc, const struct proto_msg *welcome,
    void *arg)
{
	struct relay *r = arg;
	struct ticket_key key;
	const uint8_t zero[PROTO_KEY_LEN] = { 0 };
	int rc;

	if (memcmp(welcome->ticket_key, zero, sizeof(zero)) == 0) {
		ctl_conn_close(ctl_client_conn(cc), NP_EPROTO, LOGLEVEL_ERROR,
		    "WELCOME carries no ticket key");
		return;
	}
	if ((rc = ticket_key_from_public(&key, welcome->ticket_key)) != 0) {
		ctl_conn_close(ctl_client_conn(cc), rc, LOGLEVEL_ERROR,
		    "WELCOME carries an invalid ticket key");
		return;
	}
	/* A restarted server has a new key: tickets of the old one die. */
	if (r->have_key)
		ticket_key_free(&r->ticket_key);
	r->ticket_key = key;
	r->have_key = 1;
	log_info(ctl_conn_log(ctl_client_conn(cc)), "registered; ticket key "
	    "%02x%02x%02x%02x", key.id[0], key.id[1], key.id[2], key.id[3]);
	relay_ctl_report_load(r);
}

static void
relay_ctl_msg(struct ctl_client *cc, const struct proto_msg *m, void *arg)
{
	struct ctl_conn *c = ctl_client_conn(cc);

	if (m->type == PROTO_ERROR) {
		log_warn(ctl_conn_log(c), "server reports error %u (%s): %s",
		    m->code, proto_error_text(m->code), m->message);
		return;
	}
	ctl_conn_fail(c, PROTO_E_BAD_REQUEST, "unexpected %s from the server",
	    proto_type_name(m->type));
}

static void
relay_ctl_down(struct ctl_client *cc, void *arg)
{
	/*
	 * Keep the ticket key: portals may still present tickets the server
	 * issued before it went away, and they stay valid until they expire.
	 */
}

void
relay_ctl_report_load(struct relay *r)
{
	struct proto_msg m;

	if (!ctl_client_is_up(r->ctl))
		return;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_RELAY_LOAD;
	m.tunnels = r->tunnels;
	m.bytes = r->bytes;
	m.capacity = (uint32_t)r->conf->capacity;
	(void)ctl_client_send(r->ctl, &m);
}

static void
relay_ctl_load_cb(struct loop_timer *t, void *arg)
{
	struct relay *r = arg;

	relay_ctl_report_load(r);
	loop_timer_arm(t, (uint64_t)r->conf->load_interval);
}

/*
 * The server refused our certificate and reconnect.refused is exit: the
 * loop stops, and relay_main closes everything and returns the status.
 */
static void
relay_ctl_refused(struct ctl_client *cc, int err, void *arg)
{
	struct relay *r = arg;

	r->exit_status = DAEMON_EXIT_REFUSED;
	loop_stop(r->loop);
}

int
relay_ctl_start(struct relay *r)
{
	static const struct ctl_client_cbs cbs_template = {
		.hello = relay_ctl_hello,
		.up = relay_ctl_up,
		.msg = relay_ctl_msg,
		.down = relay_ctl_down,
		.refused = relay_ctl_refused,
	};
	struct ctl_client_cbs cbs = cbs_template;
	struct ctl_client_opts opts;

	memset(&opts, 0, sizeof(opts));
	opts.server = r->conf->server;
	opts.backoff_min_ms = (uint64_t)r->conf->reconnect_min;
	opts.backoff_max_ms = (uint64_t)r->conf->reconnect_max;
	opts.refused_delay_ms = (uint64_t)r->conf->reconnect_refused_delay;
	opts.refused_exit = r->conf->reconnect_refused == CONF_REFUSED_EXIT;
	identity_format(&r->self, opts.self);
	cbs.arg = r;
	if ((r->ctl = ctl_client_new(r->loop, r->tls, &opts, &cbs)) == NULL)
		return -1;
	if ((r->load_timer = loop_timer_new(r->loop, relay_ctl_load_cb,
	    r)) == NULL)
		return -1;
	loop_timer_arm(r->load_timer, (uint64_t)r->conf->load_interval);
	ctl_client_start(r->ctl);
	return 0;
}

void
relay_ctl_stop(struct relay *r)
{
	ctl_client_free(r->ctl);
	r->ctl = NULL;
	loop_timer_free(r->load_timer);
	r->load_timer = NULL;
	if (r->have_key)
		ticket_key_free(&r->ticket_key);
	r->have_key = 0;
}
