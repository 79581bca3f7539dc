/* SPDX-License-Identifier: MIT */
/*
 * Rule sets: what the server tells each portal about the rules it takes
 * part in.  A client-side portal learns where to listen; a service-side
 * portal learns, per client portal, which target a rule lets it reach.  A
 * set is sent whole (RULES_BEGIN, RULE..., RULES_END) whenever it differs
 * from the last one sent to that portal, which a digest of the encoded
 * rules tells without keeping the old set.
 */
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "core/err.h"
#include "core/log.h"
#include "server/server_impl.h"

typedef int server_rule_fn(const struct proto_msg *m, void *arg);

_Static_assert(PROTO_PORTS_MAX >= PORTSET_TEXT_MAX, "ports attribute");
_Static_assert(PROTO_RANGE_MAX + 1 >= PREFIX_TEXT_MAX, "range attribute");

/* One rule's messages for portal, one per protocol the rule names. */
static int
server_rule_msgs(const struct policy_rule *r, const char *portal,
    server_rule_fn *fn, void *arg)
{
	static const struct {
		unsigned	bit;
		uint8_t		ipproto;
	} protos[] = { { POLICY_TCP, PROTO_TCP }, { POLICY_UDP, PROTO_UDP } };
	struct proto_msg m;
	size_t j, q;
	int rc;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_RULE;
	snprintf(m.rule, sizeof(m.rule), "%s", r->name);
	m.expires = (uint64_t)r->expires;
	m.direct_off = (uint8_t)r->direct_off;
	if (r->capture || r->has_ports)
		portset_format(&r->ports, m.ports, sizeof(m.ports));
	if (r->capture)
		prefix_format(&r->to, m.to_range, sizeof(m.to_range));
	for (q = 0; q < sizeof(protos) / sizeof(protos[0]); q++) {
		if (!(r->protos & protos[q].bit))
			continue;
		m.ipproto = protos[q].ipproto;
		if (policy_rule_has_client(r, portal)) {
			m.side = PROTO_SIDE_CLIENT;
			if (!r->capture)
				conf_endpoint_format(&r->listen, m.listen,
				    sizeof(m.listen));
			else if (r->as.family)
				prefix_format(&r->as, m.as_range,
				    sizeof(m.as_range));
			if (r->listen.is_unix)
				m.mode = (uint16_t)r->listen_mode;
			snprintf(m.peer, sizeof(m.peer), "%s", r->service);
			if ((rc = fn(&m, arg)) != 0)
				return rc;
			m.listen[0] = '\0';
			m.as_range[0] = '\0';
			m.mode = 0;
		}
		if (strcmp(r->service, portal) != 0)
			continue;
		m.side = PROTO_SIDE_SERVICE;
		if (!r->capture)
			conf_endpoint_format(&r->target, m.target,
			    sizeof(m.target));
		for (j = 0; j < r->nclients; j++) {
			snprintf(m.peer, sizeof(m.peer), "%s", r->clients[j]);
			if ((rc = fn(&m, arg)) != 0)
				return rc;
		}
		m.target[0] = '\0';
	}
	return 0;
}

/* Calls fn for every RULE message of portal, in policy order. */
static int
server_rules_each(const struct policy *pol, const char *portal, int64_t now,
    server_rule_fn *fn, void *arg)
{
	const struct policy_rule *r;
	const uint32_t *idx;
	size_t i, n = policy_portal_rules(pol, portal, &idx);
	int rc;

	/* The portal's own rules only: a HELLO costs what it has. */
	for (i = 0; i < n; i++) {
		r = &pol->rules[idx[i]];
		if (!policy_rule_is_active(r, now))
			continue;
		if ((rc = server_rule_msgs(r, portal, fn, arg)) != 0)
			return rc;
	}
	return 0;
}

struct server_digest {
	EVP_MD_CTX	*md;
	uint32_t	 count;
};

static int
server_digest_rule(const struct proto_msg *m, void *arg)
{
	struct server_digest *d = arg;
	struct buf b;
	int r;

	buf_init(&b, PROTO_HDR_LEN + PROTO_MAX_PAYLOAD);
	if ((r = proto_encode(m, &b)) == 0 &&
	    !EVP_DigestUpdate(d->md, buf_data(&b), buf_len(&b)))
		r = NP_ECRYPTO;
	buf_release(&b);
	d->count++;
	return r;
}

static int
server_send_rule(const struct proto_msg *m, void *arg)
{
	return ctl_conn_send(arg, m);
}

int
server_push_rules(struct server *srv, struct server_peer *p)
{
	const char *name = ctl_conn_peer(p->conn)->name;
	struct server_digest d = { NULL, 0 };
	uint8_t digest[32];
	unsigned int dlen = 0;
	struct proto_msg m;
	int64_t now = (int64_t)time(NULL);
	int r;

	if ((d.md = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(d.md, EVP_sha256(), NULL)) {
		r = NP_ECRYPTO;
		goto fail;
	}
	if ((r = server_rules_each(srv->policy, name, now, server_digest_rule,
	    &d)) != 0)
		goto fail;
	if (!EVP_DigestFinal_ex(d.md, digest, &dlen)) {
		r = NP_ECRYPTO;
		goto fail;
	}
	EVP_MD_CTX_free(d.md);
	if (p->rules_sent && memcmp(digest, p->rules_digest,
	    sizeof(digest)) == 0)
		return 0;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_RULES_BEGIN;
	m.generation = srv->generation;
	m.count = d.count;
	if ((r = ctl_conn_send(p->conn, &m)) != 0 ||
	    (r = server_rules_each(srv->policy, name, now, server_send_rule,
	    p->conn)) != 0)
		return r;	/* the connection is closed, and logged */
	memset(&m, 0, sizeof(m));
	m.type = PROTO_RULES_END;
	m.generation = srv->generation;
	if ((r = ctl_conn_send(p->conn, &m)) != 0)
		return r;
	memcpy(p->rules_digest, digest, sizeof(digest));
	p->rules_sent = 1;
	log_info(ctl_conn_log(p->conn), "sent %u rule%s (policy generation "
	    "%llu)", d.count, d.count == 1 ? "" : "s",
	    (unsigned long long)srv->generation);
	return 1;
fail:
	EVP_MD_CTX_free(d.md);
	ctl_conn_close(p->conn, r, LOGLEVEL_ERROR, "cannot build the rule "
	    "set: %s", np_strerror(r));
	return r;
}

static void
server_expiry_cb(struct loop_timer *t, void *arg)
{
	struct server *srv = arg;
	int64_t now = (int64_t)time(NULL);
	size_t i;

	for (i = 0; i < srv->policy->nrules; i++) {
		const struct policy_rule *r = &srv->policy->rules[i];

		/* Expired since the last check: say so once. */
		if (r->expires > srv->expiry_checked && r->expires <= now)
			log_info(NULL, "rule %s expired", r->name);
	}
	srv->expiry_checked = now;
	server_push_all_rules(srv);
}

static uint64_t
server_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One slice of the fan-out: portals until the slice's time is up. */
static void
server_push_slice_cb(struct loop_timer *t, void *arg)
{
	struct server *srv = arg;
	struct server_peer *p;
	uint64_t deadline = server_mono_us() + SERVER_PUSH_SLICE_US;
	unsigned n = 0;

	while ((p = srv->push_next) != NULL) {
		/* Moved on first: a failed send closes and frees p. */
		srv->push_next = TAILQ_NEXT(p, entry);
		srv->push_checked++;
		if (server_push_rules(srv, p) == 1)
			srv->push_sent++;
		/* The clock every 16 portals: a check costs microseconds. */
		if (++n % 16 == 0 && server_mono_us() >= deadline)
			break;
	}
	if (srv->push_next != NULL) {
		loop_timer_arm(t, 0);	/* after the I/O that waits */
		return;
	}
	if (srv->push_sent > 0)
		log_info(NULL, "rule sets checked for %zu portal%s in %llu ms: "
		    "%zu changed and sent", srv->push_checked,
		    srv->push_checked == 1 ? "" : "s",
		    (unsigned long long)(loop_now_ms() - srv->push_started_ms),
		    srv->push_sent);
}

void
server_push_forget(struct server *srv, struct server_peer *p)
{
	if (srv->push_next == p)
		srv->push_next = TAILQ_NEXT(p, entry);
}

void
server_push_all_rules(struct server *srv)
{
	int64_t now = (int64_t)time(NULL), next_expiry;

	if (srv->push_timer == NULL &&
	    (srv->push_timer = loop_timer_new(srv->loop, server_push_slice_cb,
	    srv)) == NULL) {
		log_error(NULL, "out of memory starting the rule-set fan-out");
		return;
	}
	/* From the first portal again, also when one is under way: the
	 * sets already checked were checked against the old policy. */
	srv->push_next = TAILQ_FIRST(&srv->portals);
	srv->push_started_ms = loop_now_ms();
	srv->push_checked = 0;
	srv->push_sent = 0;
	if (srv->push_next != NULL)
		loop_timer_arm(srv->push_timer, 0);

	if (srv->expiry_timer == NULL &&
	    (srv->expiry_timer = loop_timer_new(srv->loop, server_expiry_cb,
	    srv)) == NULL) {
		log_error(NULL, "out of memory arming the rule expiry timer");
		return;
	}
	loop_timer_cancel(srv->expiry_timer);
	if ((next_expiry = policy_next_expiry(srv->policy, now)) != 0)
		loop_timer_arm(srv->expiry_timer,
		    (uint64_t)(next_expiry - now) * 1000 + 50);
}
