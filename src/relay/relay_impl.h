/* SPDX-License-Identifier: MIT */
/*
 * The relay's state, shared by its files:
 *	relay_main.c   start-up, signals, shutdown
 *	relay_ctl.c    the control session to the server: registration, the
 *	               ticket key, load reports
 *	relay_pair.c   portal connections: the relay handshake, ticket checks,
 *	               pairing the two halves of a tunnel, the caps
 *	relay_fwd.c    forwarding between the two halves of a paired tunnel
 *	relay_udp.c    pairing over UDP (QUIC tunnels) and blind forwarding
 *	relay_sockmap.c  the in-kernel fast path's eBPF program and hash
 */
#ifndef NETPORT_RELAY_IMPL_H
#define NETPORT_RELAY_IMPL_H

#include <openssl/ssl.h>

#include "core/ctl_client.h"
#include "core/hmap.h"
#include "core/queue.h"
#include "core/identity.h"
#include "core/loop.h"
#include "core/proto.h"
#include "core/relay_hs.h"
#include "core/ticket.h"
#include "relay/relay_conf.h"

struct event;
struct listener;
struct logsum;
struct relay_half;
struct relay_tunnel;
struct relay_udp;

TAILQ_HEAD(relay_half_list, relay_half);
TAILQ_HEAD(relay_tunnel_list, relay_tunnel);

struct relay {
	struct relay_conf	*conf;		/* borrowed */
	struct loop		*loop;
	SSL_CTX			*tls;		/* control session (client) */
	struct np_identity	 self;
	struct ctl_client	*ctl;

	/* What portals dial; sent in HELLO. */
	char			 advertise[PROTO_MAX_ADVERTISE]
				    [PROTO_ADDR_MAX + 1];
	size_t			 nadvertise;

	/* The server's ticket key, from WELCOME; valid when have_key. */
	struct ticket_key	 ticket_key;
	int			 have_key;

	int			 listen_fd;	/* until the listener takes it */
	struct listener		*listener;
	struct hmap		 pending;	/* relay_half by tunnel id */
	struct hmap		 used;		/* relay_used by tunnel id */
	struct hmap		 sources;	/* relay_source by address */
	struct logsum		*refuse_log;	/* refusals, summarised */
	struct logsum		*cap_log;	/* refusals at a cap, too */
	size_t			 npending;	/* halves not yet paired */
	struct loop_timer	*prune_timer;	/* expires used tickets */
	struct relay_half_list	 halves;	/* not yet paired */
	struct relay_tunnel_list tunnel_list;	/* forwarding */
	struct ctlsock		*ctlsock;	/* netport status; may be NULL */
	struct metrics_http	*metrics;	/* NULL: no endpoint */
	uint64_t		 started_ms;
	struct loop_timer	*load_timer;
	uint32_t		 tunnels;	/* paired now */
	uint64_t		 bytes;		/* forwarded since start */
	int			 stopping;
	int			 exit_status;	/* of a failed stop */

	struct relay_udp	*udp;		/* pairing over UDP; NULL: off */

	/* The kernel fast path (fast_path); NULL when forwarding with splice. */
	struct relay_sockmap	*sockmap;
	int			 kwatch_fd;	/* epoll set of its sockets */
	struct event		*kwatch_ev;	/* kwatch_fd readable */
};

/* relay_status.c */
/* The answer to `netport status` (JSON text, malloc'd); NULL: no memory. */
char	*relay_status_json(void *relay);

/* relay_pair.c */
int	relay_pair_start(struct relay *r);
/*
 * Sends the answer with status on a connection.  The socket is fresh, so
 * the 4 bytes fit its buffer; 0, or -1 with errno (EPIPE for a short send).
 */
int	relay_send_status(int fd, enum relay_status status);
void	relay_pair_stop(struct relay *r);
/*
 * Checks a relay handshake request of n bytes at p: its form, the ticket's
 * signature and expiry, and that it names this relay.  0 with the ticket
 * and side, or -1 with the status to answer and why (static text).
 */
int	relay_check_request(struct relay *r, const uint8_t *p, size_t n,
	    struct ticket *t, uint8_t *side, enum relay_status *status,
	    const char **why);
/*
 * Records a presentation of (tunnel id, side): side is PROTO_SIDE_CLIENT
 * or _SERVICE over TCP, plus RELAY_SIDE_UDP over UDP, so that a tunnel may
 * use both.  0, -1 for a replay, or -ENOMEM.
 */
int	relay_mark_used(struct relay *r, const struct ticket *t, uint8_t side);
#define RELAY_SIDE_UDP		2

/* relay_udp.c */
/* Pairs portals over UDP on the listener's port: 0, or -errno (logged,
 * and the relay goes on with TCP only). */
int	relay_udp_start(struct relay *r, uint16_t port);
void	relay_udp_stop(struct relay *r);
struct json_t *relay_udp_status(const struct relay *r);
/* For /metrics: tunnels forwarded over TCP. */
size_t	relay_fwd_count(const struct relay *r);
/* For /metrics: UDP pairs made and bytes forwarded. */
void	relay_udp_counts(const struct relay *r, size_t *paired,
	    uint64_t *bytes);

/* relay_status.c: metrics */
/* Before each scrape of /metrics: the gauges of the moment. */
void	relay_metrics_scrape(void *relay);
/* A handshake refused (status: enum relay_status), over tcp or udp. */
void	relay_metrics_refused(const char *transport, unsigned status);
/* Two halves paired into a tunnel. */
void	relay_metrics_paired(const char *transport);

/* relay_fwd.c */
/* Sets up the forwarding method that fast_path asks for; 0 or -errno. */
int	relay_fwd_init(struct relay *r);
void	relay_fwd_fini(struct relay *r);
/*
 * Tells both halves of a tunnel they are paired and starts forwarding
 * between them (consumes both fds, also on failure).  The tunnel closes
 * itself; returns 0 or -errno.
 */
int	relay_fwd_start(struct relay *r, int fd_a, int fd_b,
	    const uint8_t tunnel_id[TICKET_TUNNEL_ID_LEN], const char *who);
/* Closes every forwarding tunnel (shutdown). */
void	relay_fwd_close_all(struct relay *r);

/* relay_ctl.c */
int	relay_ctl_start(struct relay *r);
void	relay_ctl_stop(struct relay *r);
/* Sends RELAY_LOAD now (after a tunnel starts or ends). */
void	relay_ctl_report_load(struct relay *r);

#endif
