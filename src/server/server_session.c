/* SPDX-License-Identifier: MIT */
/*
 * The server's control sessions: the listener, HELLO and WELCOME, the
 * registry of online portals and relays, and closing the sessions of
 * revoked certificates.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "core/candidate.h"
#include "core/err.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/logsum.h"
#include "core/net.h"
#include "server/server_impl.h"

/* A relay that states no capacity is taken to carry this many tunnels. */
#define SERVER_DEFAULT_CAPACITY		1000
/*
 * Evictions that one accept may cause before it refuses instead: one
 * suffices while the caps hold; the bound only keeps a close that failed
 * to leave the table from looping.
 */
#define SERVER_MAX_EVICT		4

static void
server_peer_list_remove(struct server *srv, struct server_peer *p)
{
	if (!p->hello_done)
		TAILQ_REMOVE(&srv->handshaking, p, entry);
	else if (ctl_conn_peer(p->conn)->role == NP_ROLE_PORTAL) {
		server_push_forget(srv, p);
		TAILQ_REMOVE(&srv->portals, p, entry);
		hmap_remove(&srv->portal_names, &p->name_node);
	}
	else
		TAILQ_REMOVE(&srv->relays, p, entry);
}

static void
server_peer_closed(struct ctl_conn *c, int err, void *arg)
{
	struct server_peer *p = arg;
	struct server *srv = p->srv;

	server_peer_list_remove(srv, p);
	unauth_remove(srv->unauth, &p->unauth);
	srv->nsessions--;
	free(p);
}

static int
server_portal_name_eq(const struct hmap_node *n, const void *key)
{
	const struct server_peer *p = hmap_entry_const(n, struct server_peer,
	    name_node);

	return strcmp(ctl_conn_peer(p->conn)->name, key) == 0;
}

/* Every HELLO and tunnel request looks a portal up: a hash, not a walk. */
struct server_peer *
server_find_portal(struct server *srv, const char *name)
{
	struct hmap_node *n;

	n = hmap_find(&srv->portal_names, hmap_hash_bytes(name, strlen(name)),
	    server_portal_name_eq, name);
	return n ? hmap_entry(n, struct server_peer, name_node) : NULL;
}

/* The relay registered as name, or NULL; *count: every relay registered. */
static struct server_peer *
server_find_relay(struct server *srv, const char *name, size_t *count)
{
	struct server_peer *p, *found = NULL;

	/* A walk: relays are few, and only their HELLOs come here. */
	*count = 0;
	TAILQ_FOREACH(p, &srv->relays, entry) {
		(*count)++;
		if (strcmp(ctl_conn_peer(p->conn)->name, name) == 0)
			found = p;
	}
	return found;
}

/*
 * How wide the portals spread their first attempt after losing their
 * session (reconnect_rate): when all of them come back at once, they
 * arrive at the rate the server is sized for instead of within a second.
 */
static uint32_t
server_reconnect_spread_ms(const struct server *srv)
{
	uint64_t ms;

	/* Fewer portals than a second's worth come back within the
	 * portals' own backoff jitter: no spread to add. */
	if (srv->conf->reconnect_rate <= 0 || srv->portal_names.count <
	    (size_t)srv->conf->reconnect_rate)
		return 0;
	ms = (uint64_t)srv->portal_names.count * 1000 /
	    (uint64_t)srv->conf->reconnect_rate;
	return ms > SERVER_SPREAD_MAX_MS ? SERVER_SPREAD_MAX_MS : (uint32_t)ms;
}

static void
server_send_welcome(struct server *srv, struct server_peer *p, int relay)
{
	struct proto_msg m;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_WELCOME;
	m.keepalive_ms = (uint32_t)srv->conf->keepalive;
	m.dead_ms = (uint32_t)srv->conf->dead_timeout;
	m.time_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (relay)
		memcpy(m.ticket_key, srv->ticket_key.pub,
		    sizeof(m.ticket_key));
	else {
		if (srv->stun != NULL)
			m.stun_port = stun_server_port(srv->stun);
		m.spread_ms = server_reconnect_spread_ms(srv);
	}
	(void)ctl_conn_send(p->conn, &m);
}

/*
 * Keeps the direct-path candidates a portal announced, and adds what only
 * the server sees: the address the portal's session comes from.  When
 * that is one of its own addresses, the portal has a public address;
 * otherwise it is behind NAT, and its reflexive address with the same
 * port is worth a try (a mapping may exist).
 */
static void
server_take_candidates(struct server_peer *p, const struct proto_msg *m)
{
	struct conf_endpoint remote;
	struct candidate c;
	const char *why;
	char rwhy[128];
	uint16_t port = 0;
	size_t i;
	int seen = 0, have_remote;

	p->ncandidates = 0;
	have_remote = conf_endpoint_parse(ctl_conn_remote(p->conn), 0, 65535,
	    &remote, rwhy, sizeof(rwhy)) == 0;
	for (i = 0; i < m->candidates_n; i++) {
		if (candidate_parse(m->candidates[i], &c, &why) != 0) {
			log_warn(ctl_conn_log(p->conn), "ignoring candidate "
			    "'%s': %s", m->candidates[i], why);
			continue;
		}
		/* STUN's UDP mapping says nothing of the TCP port. */
		if (have_remote && c.kind != CAND_STUN &&
		    strcmp(remote.host, c.ep.host) == 0) {
			/* An interface address the server sees is public; a
			 * router's mapped port there is already the way in. */
			if (c.kind == CAND_LAN)
				c.kind = CAND_PUBLIC;
			seen = 1;
		}
		if (c.kind == CAND_LAN || c.kind == CAND_PUBLIC ||
		    c.kind == CAND_LOOPBACK)
			port = c.ep.port;
		candidate_format(&c, p->candidates[p->ncandidates],
		    sizeof(p->candidates[0]));
		p->ncandidates++;
	}
	if (port == 0 || seen || !have_remote)
		return;
	memset(&c, 0, sizeof(c));
	c.kind = CAND_REFLEXIVE;
	c.ep = remote;
	c.ep.port = port;
	/* The reflexive address replaces the last one when all are taken. */
	if (p->ncandidates == PROTO_MAX_ADVERTISE)
		p->ncandidates--;
	/* First: it is the one a peer elsewhere can most likely reach. */
	memmove(p->candidates[1], p->candidates[0],
	    p->ncandidates * sizeof(p->candidates[0]));
	candidate_format(&c, p->candidates[0], sizeof(p->candidates[0]));
	p->ncandidates++;
}

/*
 * Refuses a HELLO over max_portals or max_relays.  Past the cap every
 * portal that retries is refused again, so the first refusal is logged
 * and the rest are counted into one summary every 10 s, whatever their
 * source, instead of a line each.
 */
static void
server_refuse_over_cap(struct server *srv, struct server_peer *p,
    const char *why)
{
	enum log_level level = LOGLEVEL_WARN;

	if (!logsum_note(srv->cap_log, "any address", why))
		level = LOGLEVEL_DEBUG;
	ctl_conn_fail_at(p->conn, level, PROTO_E_INTERNAL, "%s", why);
}

static void
server_hello_portal(struct server *srv, struct server_peer *p,
    const struct proto_msg *m)
{
	const struct np_identity *id = ctl_conn_peer(p->conn);
	struct server_peer *old;

	/* A reconnecting portal may beat the dead-peer timeout of its old
	 * session; the newest session is the real one, and takes the old
	 * one's place under max_portals. */
	old = server_find_portal(srv, id->name);
	if (old == NULL &&
	    srv->portal_names.count >= (size_t)srv->conf->max_portals) {
		char why[64];

		snprintf(why, sizeof(why), "portals at max_portals (%lld)",
		    srv->conf->max_portals);
		server_refuse_over_cap(srv, p, why);
		return;
	}
	if (old != NULL)
		ctl_conn_close(old->conn, 0, LOGLEVEL_INFO, "replaced by a "
		    "new session from %s", ctl_conn_remote(p->conn));
	if (hmap_insert(&srv->portal_names, &p->name_node,
	    hmap_hash_bytes(id->name, strlen(id->name))) != 0) {
		ctl_conn_close(p->conn, -ENOMEM, LOGLEVEL_ERROR, "out of memory "
		    "registering the portal");
		return;
	}
	TAILQ_REMOVE(&srv->handshaking, p, entry);
	unauth_remove(srv->unauth, &p->unauth);
	p->hello_done = 1;
	server_take_candidates(p, m);
	TAILQ_INSERT_TAIL(&srv->portals, p, entry);
	log_info(ctl_conn_log(p->conn), "portal registered from %s; %zu "
	    "direct-path candidate(s)%s%s", ctl_conn_remote(p->conn),
	    p->ncandidates, p->ncandidates ? ", first " : "",
	    p->ncandidates ? p->candidates[0] : "");
	server_send_welcome(srv, p, 0);
	(void)server_push_rules(srv, p);	/* a failure closes p */
}

static void
server_hello_relay(struct server *srv, struct server_peer *p,
    const struct proto_msg *m)
{
	const struct np_identity *id = ctl_conn_peer(p->conn);
	struct server_peer *old;
	struct conf_endpoint ep;
	char why[128];
	size_t i, nrelays;

	if (m->advertise_n == 0) {
		ctl_conn_fail(p->conn, PROTO_E_BAD_REQUEST, "relay advertised "
		    "no address for portals to dial");
		return;
	}
	for (i = 0; i < m->advertise_n; i++) {
		if (conf_endpoint_parse(m->advertise[i], 1, 65535, &ep, why,
		    sizeof(why)) != 0) {
			ctl_conn_fail(p->conn, PROTO_E_BAD_REQUEST, "relay "
			    "advertised a bad address: %s", why);
			return;
		}
		memcpy(p->advertise[i], m->advertise[i],
		    sizeof(p->advertise[i]));
	}
	p->nadvertise = m->advertise_n;
	p->capacity = m->capacity ? m->capacity : SERVER_DEFAULT_CAPACITY;
	old = server_find_relay(srv, id->name, &nrelays);
	if (old == NULL && nrelays >= (size_t)srv->conf->max_relays) {
		snprintf(why, sizeof(why), "relays at max_relays (%lld)",
		    srv->conf->max_relays);
		server_refuse_over_cap(srv, p, why);
		return;
	}
	if (old != NULL)
		ctl_conn_close(old->conn, 0, LOGLEVEL_INFO, "replaced by a "
		    "new session from %s", ctl_conn_remote(p->conn));
	TAILQ_REMOVE(&srv->handshaking, p, entry);
	unauth_remove(srv->unauth, &p->unauth);
	p->hello_done = 1;
	TAILQ_INSERT_TAIL(&srv->relays, p, entry);
	log_info(ctl_conn_log(p->conn), "relay registered from %s: dial %s, "
	    "capacity %u", ctl_conn_remote(p->conn), p->advertise[0],
	    p->capacity);
	server_send_welcome(srv, p, 1);
}

static void
server_peer_msg(struct ctl_conn *c, const struct proto_msg *m, void *arg)
{
	struct server_peer *p = arg;
	struct server *srv = p->srv;
	enum np_role role = ctl_conn_peer(c)->role;

	if (!p->hello_done) {
		if (m->type != PROTO_HELLO) {
			ctl_conn_fail(c, PROTO_E_BAD_REQUEST, "expected HELLO, "
			    "got %s", proto_type_name(m->type));
			return;
		}
		if (role == NP_ROLE_PORTAL)
			server_hello_portal(srv, p, m);
		else
			server_hello_relay(srv, p, m);
		return;
	}
	switch (m->type) {
	case PROTO_TUNNEL_REQUEST:
		if (role == NP_ROLE_PORTAL) {
			server_handle_tunnel_request(srv, p, m);
			return;
		}
		break;
	case PROTO_CANDIDATES:
		/* A portal's candidates changed (a port mapping came or
		 * went): tunnels granted from now on carry the new ones. */
		if (role == NP_ROLE_PORTAL) {
			server_take_candidates(p, m);
			log_info(ctl_conn_log(c), "%zu direct-path candidate(s)"
			    " now%s%s", p->ncandidates, p->ncandidates ?
			    ", first " : "", p->ncandidates ?
			    p->candidates[0] : "");
			return;
		}
		break;
	case PROTO_RELAY_LOAD:
		if (role == NP_ROLE_RELAY) {
			server_handle_relay_load(srv, p, m);
			return;
		}
		break;
	case PROTO_ERROR:
		log_warn(ctl_conn_log(c), "peer reports error %u (%s): %s",
		    m->code, proto_error_text(m->code), m->message);
		return;
	default:
		break;
	}
	ctl_conn_fail(c, PROTO_E_BAD_REQUEST, "unexpected %s from a %s",
	    proto_type_name(m->type), identity_role_name(role));
}

/* Logs a refusal at accept, or counts it for the summary of its source. */
static void
server_refuse_log(struct server *srv, const char *source, const char *remote,
    const char *why)
{
	if (logsum_note(srv->unauth_log, source, why))
		log_warn(NULL, "refusing connection from %s: %s", remote, why);
}

/*
 * Makes room for one more unauthenticated connection from sa by closing
 * the oldest of its source, or of all, when a cap is reached; 0, or -1
 * when no room could be made.
 */
static int
server_make_room(struct server *srv, const struct sockaddr *sa)
{
	struct unauth_conn *victim;
	struct server_peer *old;
	enum unauth_cap cap;
	int i;

	for (i = 0; i < SERVER_MAX_EVICT; i++) {
		if ((victim = unauth_victim(srv->unauth, sa, &cap)) == NULL)
			return 0;
		old = unauth_entry(victim, struct server_peer, unauth);
		ctl_conn_close(old->conn, NP_ECLOSED, LOGLEVEL_WARN, "%s",
		    cap == UNAUTH_CAP_SOURCE ? "evicted: the oldest unfinished "
		    "handshake of an address at max_unauth_per_source" :
		    "evicted: the oldest unfinished handshake of all at "
		    "max_unauth");
	}
	return unauth_victim(srv->unauth, sa, &cap) == NULL ? 0 : -1;
}

/* Every session at once: registered portals and relays, and handshakes. */
static size_t
server_max_sessions(const struct server_conf *conf)
{
	return (size_t)conf->max_portals + (size_t)conf->max_relays +
	    (size_t)conf->max_unauth;
}

static void
server_accept_one(int fd, const struct sockaddr *sa, void *arg)
{
	struct server *srv = arg;
	static const struct ctl_conn_cbs cbs_template = {
		.msg = server_peer_msg,
		.closed = server_peer_closed,
	};
	struct ctl_conn_cbs cbs = cbs_template;
	char remote[NET_ADDR_STR_MAX], source[NET_SOURCE_STR_MAX];
	struct ctl_conn_opts opts = {
		.handshake_ms = (uint32_t)srv->conf->handshake_timeout,
		.keepalive_ms = (uint32_t)srv->conf->keepalive,
		/* Portals and relays ping us; we ping only a quiet one. */
		.ping_when_quiet = 1,
		.dead_ms = (uint32_t)srv->conf->dead_timeout,
		/* HELLO comes at once; a silent peer only holds a slot. */
		.first_msg_ms = (uint32_t)srv->conf->handshake_timeout,
		.unauth_log = srv->unauth_log,
		.source = source,
	};
	struct server_peer *p;

	net_addr_format(sa, remote, sizeof(remote));
	net_addr_source(sa, source, sizeof(source));
	if (server_make_room(srv, sa) != 0) {
		server_refuse_log(srv, source, remote, "no room among "
		    "unauthenticated connections (max_unauth)");
		close(fd);
		return;
	}
	/*
	 * A backstop: portals and relays are capped at HELLO and the rest
	 * by max_unauth (above), so the sum holds unless those drift.
	 */
	if (srv->nsessions >= server_max_sessions(srv->conf)) {
		server_refuse_log(srv, source, remote, "sessions at "
		    "max_portals + max_relays + max_unauth");
		close(fd);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_error(NULL, "refusing connection from %s: out of memory",
		    remote);
		close(fd);
		return;
	}
	p->srv = srv;
	if (unauth_add(srv->unauth, &p->unauth, sa) != 0) {
		log_error(NULL, "refusing connection from %s: out of memory",
		    remote);
		free(p);
		close(fd);
		return;
	}
	cbs.arg = p;
	if ((p->conn = ctl_conn_accept(srv->loop, srv->tls, fd, remote, &opts,
	    &cbs)) == NULL) {
		unauth_remove(srv->unauth, &p->unauth);
		free(p);
		return;
	}
	TAILQ_INSERT_TAIL(&srv->handshaking, p, entry);
	srv->nsessions++;
}

/*
 * listen() cuts the backlog to net.core.somaxconn without a word; past it,
 * a wave of reconnecting portals sees SYNs dropped and retried seconds
 * later.  Said once at start, where the operator looks.
 */
int
server_listen(struct server *srv)
{
	char addr[NET_ADDR_STR_MAX];
	int fd;

	if ((srv->unauth = unauth_new(srv->loop,
	    (size_t)srv->conf->max_unauth,
	    (size_t)srv->conf->max_unauth_per_source)) == NULL ||
	    (srv->unauth_log = logsum_new(srv->loop, "handshakes", "failed",
	    LOGLEVEL_WARN)) == NULL ||
	    (srv->cap_log = logsum_new(srv->loop, "HELLOs", "refused",
	    LOGLEVEL_WARN)) == NULL)
		return -ENOMEM;
	if ((fd = net_listen_tcp(&srv->conf->listen,
	    (int)srv->conf->listen_backlog)) < 0)
		return fd;
	listener_check_backlog(srv->conf->listen_backlog);
	net_local_addr(fd, addr, sizeof(addr));
	if ((srv->listener = listener_new(srv->loop, fd, "the control port",
	    server_accept_one, srv)) == NULL)
		return -ENOMEM;
	log_info(NULL, "listening on %s", addr);
	return 0;
}

static void
server_close_list(struct server_peer_list *list, const char *why)
{
	struct server_peer *p, *next;

	TAILQ_FOREACH_SAFE(p, list, entry, next)
		ctl_conn_close(p->conn, 0, LOGLEVEL_INFO, "%s", why);
}

static void
server_fail_list(struct server_peer_list *list, enum proto_error code,
    const char *why)
{
	struct server_peer *p, *next;

	TAILQ_FOREACH_SAFE(p, list, entry, next)
		ctl_conn_fail(p->conn, code, "%s", why);
}

void
server_say_goodbye(struct server *srv)
{
	struct server_peer *p, *next;
	struct proto_msg m;

	/* Portals hear how wide to spread their return: all come back. */
	memset(&m, 0, sizeof(m));
	m.type = PROTO_ERROR;
	m.code = PROTO_E_SHUTDOWN;
	m.spread_ms = server_reconnect_spread_ms(srv);
	snprintf(m.message, sizeof(m.message), "server shutting down");
	TAILQ_FOREACH_SAFE(p, &srv->portals, entry, next)
		ctl_conn_fail_msg(p->conn, &m);
	server_fail_list(&srv->handshaking, PROTO_E_SHUTDOWN,
	    "server shutting down");
	server_fail_list(&srv->relays, PROTO_E_SHUTDOWN,
	    "server shutting down");
}

void
server_close_all(struct server *srv, const char *why)
{
	server_close_list(&srv->handshaking, why);
	server_close_list(&srv->portals, why);
	server_close_list(&srv->relays, why);
}

/* Tells every portal that shares a rule with a revoked one to drop it. */
static void
server_announce_revoked(struct server *srv, const char *name)
{
	struct server_peer *p, *next;
	struct proto_msg m;
	const char *other;
	const uint32_t *idx;
	size_t i, n = policy_portal_rules(srv->policy, name, &idx);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_PEER_REVOKED;
	snprintf(m.peer, sizeof(m.peer), "%s", name);
	TAILQ_FOREACH_SAFE(p, &srv->portals, entry, next) {
		other = ctl_conn_peer(p->conn)->name;
		if (strcmp(other, name) == 0)
			continue;
		for (i = 0; i < n; i++) {
			const struct policy_rule *r = &srv->policy->rules[idx[i]];

			if (policy_rule_involves(r, other)) {
				(void)ctl_conn_send(p->conn, &m);
				break;
			}
		}
	}
}

static void
server_drop_revoked_list(struct server_peer_list *list, X509_CRL *crl)
{
	struct server_peer *p, *next;
	X509_REVOKED *rev;
	X509 *cert;

	TAILQ_FOREACH_SAFE(p, list, entry, next) {
		if ((cert = ctl_conn_peer_cert(p->conn)) == NULL)
			continue;
		if (X509_CRL_get0_by_cert(crl, &rev, cert) != 1)
			continue;
		if (p->hello_done &&
		    ctl_conn_peer(p->conn)->role == NP_ROLE_PORTAL)
			server_announce_revoked(p->srv,
			    ctl_conn_peer(p->conn)->name);
		ctl_conn_fail(p->conn, PROTO_E_REVOKED, "certificate revoked");
	}
}

void
server_drop_revoked(struct server *srv, X509_CRL *crl)
{
	server_drop_revoked_list(&srv->handshaking, crl);
	server_drop_revoked_list(&srv->portals, crl);
	server_drop_revoked_list(&srv->relays, crl);
}
