/* SPDX-License-Identifier: MIT */
/*
 * The server's state, shared by its files:
 *	server_main.c      start-up, signals, reload, shutdown
 *	server_session.c   control sessions: accept, HELLO/WELCOME, registry,
 *	                   revocation
 *	server_rules.c     rule sets pushed to portals
 *	server_broker.c    tunnel requests: policy check, relay choice, tickets
 * Everything runs on the main loop.
 */
#ifndef NETPORT_SERVER_IMPL_H
#define NETPORT_SERVER_IMPL_H

#include "core/queue.h"
#include <sys/stat.h>

#include <openssl/ssl.h>

#include "core/ctl_conn.h"
#include "core/hmap.h"
#include "core/identity.h"
#include "core/loop.h"
#include "core/policy.h"
#include "core/proto.h"
#include "core/stun_server.h"
#include "core/ticket.h"
#include "core/unauth.h"
#include "server/server_conf.h"

/* Grants count against a relay for at most this long without a report. */
#define SERVER_INFLIGHT_SLOTS	5
#define SERVER_INFLIGHT_MS	100
/*
 * The longest stretch one slice of a rule-set fan-out holds the loop.  A
 * portal's check costs some microseconds (its rules encoded and hashed,
 * and sent when they changed), so a slice covers hundreds of portals.
 */
#define SERVER_PUSH_SLICE_US	5000
/* The widest reconnect spread the server asks of portals (reconnect_rate). */
#define SERVER_SPREAD_MAX_MS	600000

/* One control session, from accept to close. */
struct server_peer {
	TAILQ_ENTRY(server_peer) entry;
	struct server		*srv;		/* borrowed */
	struct ctl_conn		*conn;		/* borrowed; NULL once closed */
	int			 hello_done;
	struct unauth_conn	 unauth;	/* in srv->unauth until HELLO */

	/* Portals: the digest of the last rule set sent. */
	uint8_t			 rules_digest[32];
	int			 rules_sent;
	/* Portals: where peers may dial them directly ("KIND HOST:PORT"). */
	char			 candidates[PROTO_MAX_ADVERTISE]
				    [PROTO_CANDIDATE_MAX + 1];
	size_t			 ncandidates;

	/* Relays: what HELLO and RELAY_LOAD said. */
	char			 advertise[PROTO_MAX_ADVERTISE]
				    [PROTO_ADDR_MAX + 1];
	size_t			 nadvertise;
	uint32_t		 capacity;
	uint32_t		 tunnels;	/* as the last report said */
	uint64_t		 bytes;
	/*
	 * Grants since that report, in slots of SERVER_INFLIGHT_MS: a grant
	 * counts against the relay until the relay reports (it does when
	 * a tunnel pairs or closes) or the window has passed, so that grants
	 * whose portals never come cannot fill it for a whole report
	 * interval.
	 */
	uint32_t		 inflight[SERVER_INFLIGHT_SLOTS];
	uint64_t		 inflight_slot;	/* the newest slot's number */

	/* Portals: in srv->portal_names, by name. */
	struct hmap_node	 name_node;
};

/* A policy file on its way through the worker thread (server_main.c). */
struct server_policy_job;
TAILQ_HEAD(server_job_list, server_policy_job);

TAILQ_HEAD(server_peer_list, server_peer);

/* A watched file: reloaded when its size or mtime changes. */
struct server_watch {
	const char	*path;		/* borrowed from the config */
	struct timespec	 mtime;
	off_t		 size;
	int		 exists;
};

struct server {
	struct server_conf	*conf;		/* borrowed */
	const char		*conf_path;	/* borrowed */
	struct loop		*loop;
	SSL_CTX			*tls;
	struct np_identity	 self;
	struct ticket_key	 ticket_key;
	struct policy		*policy;	/* owned; never NULL once up */
	uint64_t		 generation;	/* bumps at each policy load */

	struct listener		*listener;
	struct loop_timer	*poll_timer;	/* file watch */
	struct loop_timer	*expiry_timer;	/* next rule expiry */
	int64_t			 expiry_checked; /* rules expired up to here
						  * have been logged */
	struct loop_timer	*stop_timer;	/* shutdown grace */
	struct server_watch	 policy_watch;
	struct server_watch	 crl_watch;

	struct server_peer_list	 handshaking;	/* no HELLO yet */
	struct unauth		*unauth;	/* the caps on those */
	struct logsum		*unauth_log;	/* their failures, summarised */
	struct logsum		*cap_log;	/* HELLOs over max_portals or
						 * max_relays, summarised */
	struct server_peer_list	 portals;
	struct hmap		 portal_names;	/* portals, by name */
	struct server_peer_list	 relays;
	size_t			 nsessions;
	int			 stopping;
	struct ctlsock		*ctlsock;	/* netport status; may be NULL */
	struct stun_server	*stun;		/* NULL: off */
	struct metrics_http	*metrics;	/* NULL: no endpoint */
	int			 reserve_fd;	/* kept for reloads */
	struct worker		*worker;	/* parses and frees policies */
	struct server_job_list	 jobs;		/* on the worker, or back */
	int			 reloading;	/* a policy load is running */
	int			 reload_again;	/* the file changed meanwhile */

	/*
	 * Rule-set fan-out after a policy change: the portals from push_next
	 * on (in srv->portals order) are still to be checked, a slice per
	 * loop turn, so that keepalives and grants keep flowing while 100,000
	 * portals get their new sets.
	 */
	struct server_peer	*push_next;	/* NULL: none to check */
	struct loop_timer	*push_timer;
	uint64_t		 push_started_ms;
	size_t			 push_checked;
	size_t			 push_sent;
	uint64_t		 started_ms;
};

/* server_status.c */
/* The answer to `netport status` (JSON text, malloc'd); NULL: no memory. */
char	*server_status_json(void *server);
/* Before each scrape of /metrics: the gauges of the moment. */
void	server_metrics_scrape(void *server);
/* A tunnel request's outcome, by rule ("" when the rule is unknown). */
void	server_metrics_decision(const char *rule, const char *decision);

/* server_session.c */
int	server_listen(struct server *srv);
void	server_close_all(struct server *srv, const char *why);
/* Sends every session ERROR SHUTDOWN; each closes once that is written. */
void	server_say_goodbye(struct server *srv);
struct server_peer *server_find_portal(struct server *srv, const char *name);
/* Closes the session of every peer whose certificate the CRL revokes. */
void	server_drop_revoked(struct server *srv, X509_CRL *crl);

/* server_rules.c */
/*
 * Sends p its rule set if it changed since the last one sent: 1 when sent,
 * 0 when unchanged, or an error after which p's session is closed.
 */
int	server_push_rules(struct server *srv, struct server_peer *p);
/*
 * After a policy change or an expiry: every portal's set is checked, in
 * slices of at most SERVER_PUSH_SLICE_US per loop turn, and the expiry
 * timer is armed.  A change during a fan-out starts it over.
 */
void	server_push_all_rules(struct server *srv);
/* Before p leaves srv->portals: the fan-out must not point at it. */
void	server_push_forget(struct server *srv, struct server_peer *p);

/* server_broker.c */
void	server_handle_tunnel_request(struct server *srv, struct server_peer *p,
	    const struct proto_msg *m);
void	server_handle_relay_load(struct server *srv, struct server_peer *p,
	    const struct proto_msg *m);

#endif
