/* SPDX-License-Identifier: MIT */
/*
 * The portal's control session: it receives rule sets (applied whole, when
 * RULES_END confirms them), asks for tunnels, and receives grants.  While
 * the server is away the portal keeps its rules, listeners and tunnels.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/daemon.h"
#include "core/err.h"
#include "core/log.h"
#include "portal/portal_impl.h"

/* Rules in one set; a server that announces more is refused. */
#define PORTAL_MAX_RULES	100000

const struct portal_rule *
portal_find_service_rule(const struct portal *p, const char *rule,
    const char *peer, uint8_t ipproto)
{
	size_t i;

	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].side == PROTO_SIDE_SERVICE &&
		    p->rules[i].ipproto == ipproto &&
		    strcmp(p->rules[i].name, rule) == 0 &&
		    strcmp(p->rules[i].peer, peer) == 0)
			return &p->rules[i];
	return NULL;
}

int
portal_rule_target(const struct portal_rule *r, const struct mux_dest *d,
    struct conf_endpoint *out, char *why, size_t whylen)
{
	char addr[INET6_ADDRSTRLEN] = "?", range[PREFIX_TEXT_MAX];
	char ports[64];

	portset_format(&r->ports, ports, sizeof(ports));
	if (r->capture) {
		if (d->port == 0 || d->family == 0) {
			snprintf(why, whylen, "a stream of capture rule %s must "
			    "name its destination", r->name);
			return -1;
		}
		inet_ntop(d->family, d->addr, addr, sizeof(addr));
		if (!prefix_contains(&r->to, d->family, d->addr) ||
		    !portset_has(&r->ports, d->port)) {
			prefix_format(&r->to, range, sizeof(range));
			snprintf(why, whylen, "destination %s%s%s:%u is outside "
			    "rule %s (%s, ports %s)", d->family == AF_INET6 ?
			    "[" : "", addr, d->family == AF_INET6 ? "]" : "",
			    d->port, r->name, range, ports);
			return -1;
		}
		memset(out, 0, sizeof(*out));
		snprintf(out->host, sizeof(out->host), "%s", addr);
		out->port = d->port;
		return 0;
	}
	if (r->has_ports) {
		if (d->port == 0 || d->family != 0) {
			snprintf(why, whylen, "a stream of rule %s must name one "
			    "of its ports, and only that", r->name);
			return -1;
		}
		if (!portset_has(&r->ports, d->port)) {
			snprintf(why, whylen, "port %u is outside rule %s (ports "
			    "%s)", d->port, r->name, ports);
			return -1;
		}
		*out = r->target;
		out->port = d->port;
		return 0;
	}
	if (d->port != 0) {
		snprintf(why, whylen, "rule %s has one target; a stream of it "
		    "cannot name another", r->name);
		return -1;
	}
	*out = r->target;
	return 0;
}

static void	portal_arm_expiry(struct portal *p);

/*
 * Rules expire here too, not only when the server says so: a portal cut off
 * from the server must not keep a rule past its end.
 */
static void
portal_expiry_cb(struct loop_timer *t, void *arg)
{
	struct portal *p = arg;
	int64_t now = (int64_t)time(NULL);
	size_t i, kept = 0;

	for (i = 0; i < p->nrules; i++) {
		if (p->rules[i].expires && p->rules[i].expires <= now) {
			log_info(NULL, "rule %s (%s side, portal/%s) expired",
			    p->rules[i].name, p->rules[i].side ==
			    PROTO_SIDE_CLIENT ? "client" : "service",
			    p->rules[i].peer);
			continue;
		}
		p->rules[kept++] = p->rules[i];
	}
	if (kept != p->nrules) {
		p->nrules = kept;
		portal_listen_apply(p);
		portal_tunnel_rules_changed(p);
	}
	portal_arm_expiry(p);
}

static void
portal_arm_expiry(struct portal *p)
{
	int64_t now = (int64_t)time(NULL), next = 0;
	size_t i;

	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].expires > now &&
		    (next == 0 || p->rules[i].expires < next))
			next = p->rules[i].expires;
	if (p->expiry_timer == NULL &&
	    (p->expiry_timer = loop_timer_new(p->loop, portal_expiry_cb,
	    p)) == NULL) {
		log_error(NULL, "out of memory arming the rule expiry timer");
		return;
	}
	loop_timer_cancel(p->expiry_timer);
	if (next)
		loop_timer_arm(p->expiry_timer, (uint64_t)(next - now) * 1000);
}

/*
 * An address target outside the allow-list is refused for good; a name
 * may still resolve to an address the list allows, which only the
 * connection of a stream can tell.
 */
static void
portal_warn_not_allowed(const struct portal_rule *r)
{
	char target[CONF_HOST_MAX + 16];

	conf_endpoint_format(&r->target, target, sizeof(target));
	if (allowlist_is_literal(r->target.host))
		log_warn(NULL, "rule %s: target %s is not in the local "
		    "allow-list; its streams will be refused", r->name, target);
	else
		log_warn(NULL, "rule %s: target %s is not in the local "
		    "allow-list by name; streams pass only if it resolves to "
		    "an allowed address", r->name, target);
}

/* A port-range rule: the ports of it that the allow-list refuses. */
static void
portal_warn_ports_not_allowed(const struct portal *p,
    const struct portal_rule *r)
{
	unsigned n = 0, refused = 0;
	uint16_t port;

	for (port = portset_next(&r->ports, 0); port;
	    port = portset_next(&r->ports, port), n++)
		if (!allowlist_match_name(&p->allow, r->target.host, port))
			refused++;
	if (refused)
		log_warn(NULL, "rule %s: %u of its %u ports on %s are not in the "
		    "local allow-list%s; their streams will be refused",
		    r->name, refused, n, r->target.host,
		    allowlist_is_literal(r->target.host) ? "" : " by name");
}

static void
portal_apply_rules(struct portal *p)
{
	size_t i, nclient = 0, nservice = 0;
	const struct portal_rule *r;

	free(p->rules);
	p->rules = p->incoming;
	p->nrules = p->nincoming;
	p->incoming = NULL;
	p->nincoming = 0;
	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		if (r->side == PROTO_SIDE_CLIENT) {
			nclient++;
			continue;
		}
		nservice++;
		if (r->capture)
			continue;	/* its streams name their addresses */
		if (r->has_ports) {
			portal_warn_ports_not_allowed(p, r);
			continue;
		}
		if (r->target.is_unix && !allowlist_match_unix(&p->allow,
		    r->target.host))
			log_warn(NULL, "rule %s: target unix:%s is not in the "
			    "local allow-list; its streams will be refused",
			    r->name, r->target.host);
		else if (!r->target.is_unix && !allowlist_match_name(&p->allow,
		    r->target.host, r->target.port))
			portal_warn_not_allowed(r);
	}
	log_info(NULL, "rule set %llu applied: %zu client-side, %zu "
	    "service-side", (unsigned long long)p->incoming_gen, nclient,
	    nservice);
	portal_listen_apply(p);
	portal_capture_apply(p);
	portal_tunnel_rules_changed(p);
	portal_arm_expiry(p);
}

static int
portal_rule_from_msg(const struct proto_msg *m, struct portal_rule *r,
    const char **why)
{
	char reason[128];

	memset(r, 0, sizeof(*r));
	if (identity_name_check(m->rule) != 0 ||
	    identity_name_check(m->peer) != 0) {
		*why = "invalid rule or peer name";
		return -1;
	}
	snprintf(r->name, sizeof(r->name), "%s", m->rule);
	snprintf(r->peer, sizeof(r->peer), "%s", m->peer);
	r->side = m->side;
	r->ipproto = m->ipproto;
	r->expires = (int64_t)m->expires;
	r->listen_mode = m->mode ? m->mode : 0660;
	r->direct_off = m->direct_off != 0;
	if (m->ipproto != PROTO_TCP && m->ipproto != PROTO_UDP) {
		*why = "unsupported protocol";
		return -1;
	}
	if (m->side != PROTO_SIDE_CLIENT && m->side != PROTO_SIDE_SERVICE) {
		*why = "unknown side";
		return -1;
	}
	/* Capture and port-range rules: the ports. */
	if (m->ports[0]) {
		if (portset_parse(m->ports, &r->ports, reason,
		    sizeof(reason)) != 0) {
			*why = "bad ports";
			return -1;
		}
		r->has_ports = 1;
	}
	if (m->to_range[0]) {
		r->capture = 1;
		if (!r->has_ports || prefix_parse(m->to_range, &r->to, reason,
		    sizeof(reason)) != 0) {
			*why = "bad capture range or no ports";
			return -1;
		}
		if (m->as_range[0] && (prefix_parse(m->as_range, &r->as,
		    reason, sizeof(reason)) != 0 || r->as.family !=
		    r->to.family || r->as.len != r->to.len)) {
			*why = "bad mapped range";
			return -1;
		}
		return 0;
	}
	if (m->side == PROTO_SIDE_CLIENT) {
		if (conf_endpoint_parse_any(m->listen, r->has_ports ? 0 : 1,
		    r->has_ports ? 0 : 65535, &r->listen, reason,
		    sizeof(reason)) != 0 || (r->has_ports &&
		    r->listen.is_unix)) {
			*why = "bad listen address";
			return -1;
		}
	} else {
		if (conf_endpoint_parse_any(m->target, r->has_ports ? 0 : 1,
		    r->has_ports ? 0 : 65535, &r->target, reason,
		    sizeof(reason)) != 0 || (r->has_ports &&
		    r->target.is_unix)) {
			*why = "bad target address";
			return -1;
		}
	}
	return 0;
}

static void
portal_ctl_rules_msg(struct portal *p, struct ctl_conn *c,
    const struct proto_msg *m)
{
	const char *why = "";

	switch (m->type) {
	case PROTO_RULES_BEGIN:
		if (m->count > PORTAL_MAX_RULES) {
			ctl_conn_fail(c, PROTO_E_BAD_REQUEST, "rule set of %u "
			    "rules exceeds %d", m->count, PORTAL_MAX_RULES);
			return;
		}
		free(p->incoming);
		p->incoming = NULL;
		p->nincoming = 0;
		if (m->count && (p->incoming = calloc(m->count,
		    sizeof(*p->incoming))) == NULL) {
			ctl_conn_close(c, NP_EFAIL, LOGLEVEL_ERROR, "out of "
			    "memory for a rule set of %u rules", m->count);
			return;
		}
		p->incoming_count = m->count;
		p->incoming_gen = m->generation;
		p->receiving = 1;
		return;
	case PROTO_RULE:
		if (!p->receiving || p->nincoming >= p->incoming_count) {
			ctl_conn_fail(c, PROTO_E_BAD_REQUEST, "RULE outside a "
			    "rule set, or more than announced");
			return;
		}
		if (portal_rule_from_msg(m, &p->incoming[p->nincoming],
		    &why) != 0) {
			ctl_conn_fail(c, PROTO_E_BAD_REQUEST, "rule %s: %s",
			    m->rule, why);
			return;
		}
		p->nincoming++;
		return;
	case PROTO_RULES_END:
		if (!p->receiving || m->generation != p->incoming_gen ||
		    p->nincoming != p->incoming_count) {
			ctl_conn_fail(c, PROTO_E_BAD_REQUEST, "rule set %llu "
			    "ended with %zu of %zu rules",
			    (unsigned long long)m->generation, p->nincoming,
			    p->incoming_count);
			return;
		}
		p->receiving = 0;
		portal_apply_rules(p);
		return;
	default:
		return;
	}
}

static void
portal_ctl_msg(struct ctl_client *cc, const struct proto_msg *m, void *arg)
{
	struct portal *p = arg;
	struct ctl_conn *c = ctl_client_conn(cc);

	switch (m->type) {
	case PROTO_RULES_BEGIN:
	case PROTO_RULE:
	case PROTO_RULES_END:
		portal_ctl_rules_msg(p, c, m);
		return;
	case PROTO_TUNNEL_GRANT:
		portal_tunnel_grant(p, m);
		return;
	case PROTO_PEER_REVOKED:
		portal_tunnel_peer_revoked(p, m->peer);
		return;
	case PROTO_ERROR:
		if (m->id != 0) {
			portal_tunnel_refused(p, m);
			return;
		}
		log_warn(ctl_conn_log(c), "server reports error %u (%s): %s",
		    m->code, proto_error_text(m->code), m->message);
		return;
	default:
		ctl_conn_fail(c, PROTO_E_BAD_REQUEST, "unexpected %s from the "
		    "server", proto_type_name(m->type));
	}
}

static void
portal_ctl_down(struct ctl_client *cc, void *arg)
{
	struct portal *p = arg;

	/* A half-received set is dropped; the server resends it whole. */
	free(p->incoming);
	p->incoming = NULL;
	p->nincoming = 0;
	p->receiving = 0;
	portal_tunnel_ctl_down(p);
}

/* HELLO says where peers may dial this portal directly. */
static void
portal_ctl_hello(struct ctl_client *cc, struct proto_msg *m, void *arg)
{
	struct portal *p = arg;

	portal_direct_hello(p, m);
	p->candidates_sent = p->candidates_gen;
}

/* Tells the server the candidates, if they changed since it last heard. */
static void
portal_ctl_send_candidates(struct portal *p)
{
	struct proto_msg m;

	if (!ctl_client_is_up(p->ctl) ||
	    p->candidates_sent == p->candidates_gen)
		return;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_CANDIDATES;
	portal_direct_hello(p, &m);
	if (ctl_client_send(p->ctl, &m) == 0)
		p->candidates_sent = p->candidates_gen;
}

void
portal_ctl_candidates_changed(struct portal *p)
{
	p->candidates_gen++;
	portal_ctl_send_candidates(p);
}

/* WELCOME: a change that came after HELLO was built is sent now; the
 * reflexive UDP address is asked for. */
static void
portal_ctl_up(struct ctl_client *cc, const struct proto_msg *m, void *arg)
{
	portal_ctl_send_candidates(arg);
	portal_stun_session_up(arg, m->stun_port);
}

uint32_t
portal_ctl_request_tunnel(struct portal *p, const char *rule,
    const uint8_t *resume)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_TUNNEL_REQUEST;
	if (++p->next_request == 0)
		p->next_request = 1;
	m.id = p->next_request;
	snprintf(m.rule, sizeof(m.rule), "%s", rule);
	if (resume)
		memcpy(m.resume, resume, sizeof(m.resume));
	if (ctl_client_send(p->ctl, &m) != 0)
		return 0;
	return m.id;
}

/* The server refused our certificate and reconnect.refused is exit. */
static void
portal_ctl_refused(struct ctl_client *cc, int err, void *arg)
{
	portal_exit(arg, DAEMON_EXIT_REFUSED, "the server refused this "
	    "portal's certificate");
}

int
portal_ctl_start(struct portal *p)
{
	static const struct ctl_client_cbs cbs_template = {
		.hello = portal_ctl_hello,
		.up = portal_ctl_up,
		.msg = portal_ctl_msg,
		.down = portal_ctl_down,
		.refused = portal_ctl_refused,
	};
	struct ctl_client_cbs cbs = cbs_template;
	struct ctl_client_opts opts;

	memset(&opts, 0, sizeof(opts));
	opts.server = p->conf->server;
	opts.backoff_min_ms = (uint64_t)p->conf->reconnect_min;
	opts.backoff_max_ms = (uint64_t)p->conf->reconnect_max;
	opts.refused_delay_ms = (uint64_t)p->conf->reconnect_refused_delay;
	opts.refused_exit = p->conf->reconnect_refused == CONF_REFUSED_EXIT;
	identity_format(&p->self, opts.self);
	cbs.arg = p;
	if ((p->ctl = ctl_client_new(p->loop, p->tls_ctl, &opts,
	    &cbs)) == NULL)
		return -1;
	ctl_client_start(p->ctl);
	return 0;
}

void
portal_ctl_stop(struct portal *p)
{
	ctl_client_free(p->ctl);
	p->ctl = NULL;
	loop_timer_free(p->expiry_timer);
	p->expiry_timer = NULL;
	free(p->incoming);
	p->incoming = NULL;
	p->nincoming = 0;
}
