/* SPDX-License-Identifier: MIT */
/*
 * The portal's state, shared by its files:
 *	portal_main.c     start-up, signals, graceful shutdown
 *	portal_ctl.c      the control session: rule sets, tunnel grants
 *	portal_listen.c   client side: one listener per rule, accepting
 *	portal_tunnels.c  the set of tunnels: requests, grants, rule changes
 *	portal_tunnel.c   one tunnel: frames, its path, keepalive, idle
 *	portal_path_*.c   paths: TLS over a socket; through a relay or direct
 *	portal_direct.c   the direct listener: vets tickets, then paths
 *	portal_portmap.c  a port mapped on the router (NAT-PMP, UPnP)
 *	portal_stun.c     the reflexive UDP address, by STUN to the server
 *	portal_stream.c   streams: application sockets, flow control
 *	portal_status.c   what `netport status` shows
 * Everything runs on the main loop, but for the port-mapping worker
 * thread, which shares nothing (portal_portmap.c).
 */
#ifndef NETPORT_PORTAL_IMPL_H
#define NETPORT_PORTAL_IMPL_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "core/allowlist.h"
#include "core/buf.h"
#include "core/ctl_client.h"
#include "core/hmap.h"
#include "core/identity.h"
#include "core/loop.h"
#include "core/mux.h"
#include "core/net.h"
#include "core/portset.h"
#include "core/prefix.h"
#include "core/proto.h"
#include "core/queue.h"
#include "portal/portal_conf.h"

struct event;
struct listener;
struct portal;
struct tunnel;
struct stream;
struct udp_listener;

/*
 * A rule as the server pushed it, for one side and one protocol (a rule
 * for tcp and udp comes as two).  A listener rule has listen (client side)
 * or target (service side); with has_ports, those are hosts (port 0) and
 * each port of `ports` maps to itself.  A capture rule has `to` and
 * `ports`, and on the client side `as` when the rule maps a range.
 */
struct portal_rule {
	char			name[NP_NAME_MAX + 1];
	uint8_t			side;		/* PROTO_SIDE_* */
	uint8_t			ipproto;
	char			peer[NP_NAME_MAX + 1];
	struct conf_endpoint	listen;		/* client side */
	unsigned		listen_mode;	/* client side, Unix socket */
	struct conf_endpoint	target;		/* service side */
	int64_t			expires;
	int			direct_off;	/* the policy says direct: off */
	int			has_ports;
	struct portset		ports;
	int			capture;
	struct prefix		to;
	struct prefix		as;		/* family 0: as to */
};

/* A client-side listener for one rule. */
struct portal_listener {
	TAILQ_ENTRY(portal_listener) entry;
	struct portal		*p;		/* borrowed */
	struct portal_rule	 rule;		/* copy: rules are replaced */
	struct listener		*listener;	/* NULL until bound (TCP) */
	struct udp_listener	*udp;		/* NULL until bound (UDP) */
	dev_t			 unix_dev;	/* the socket file we made */
	ino_t			 unix_ino;
};

TAILQ_HEAD(portal_listener_list, portal_listener);
TAILQ_HEAD(tunnel_list, tunnel);
TAILQ_HEAD(stream_list, stream);

struct portal {
	struct portal_conf	*conf;		/* borrowed */
	struct loop		*loop;
	SSL_CTX			*tls_ctl;	/* to the server */
	SSL_CTX			*tls_initiator;	/* tunnel, TLS client */
	SSL_CTX			*tls_acceptor;	/* tunnel, TLS server */
	struct np_identity	 self;
	struct ctl_client	*ctl;
	struct allowlist	 allow;

	/* The rule set in force, and the one being received. */
	struct portal_rule	*rules;		/* owned */
	size_t			 nrules;
	struct portal_rule	*incoming;	/* owned */
	size_t			 nincoming, incoming_count;
	uint64_t		 incoming_gen;
	int			 receiving;

	struct portal_listener_list listeners;
	struct loop_timer	*listen_retry;	/* binds that failed */
	struct loop_timer	*expiry_timer;	/* next rule expiry */
	struct tunnel_list	 tunnels;
	uint32_t		 next_request;
	int			 stopping;
	struct loop_timer	*drain_timer;
	uint64_t		 drain_deadline;
	uint8_t			*udp_scratch;	/* one datagram, owned */
	struct ctlsock		*ctlsock;	/* netport status; may be NULL */
	struct portal_direct	*direct;	/* direct listener; NULL: off */
	struct portal_portmap	*portmap;	/* NULL: off */
	struct portal_stun	*stun;		/* NULL: none yet */
	struct portal_quic	*quic;		/* NULL: direct.quic off */
	struct portal_capture	*capture;	/* NULL: capture.mode off */
	unsigned		 candidates_gen;  /* bumped on each change */
	unsigned		 candidates_sent; /* the one the server has */
	uint64_t		 started_ms;
	uint64_t		 closed_bytes_in;	/* of tunnels gone */
	uint64_t		 closed_bytes_out;
	struct metrics_http	*metrics;	/* NULL: no endpoint */
	int			 exit_status;	/* of a failed stop */
};

/* portal_main.c */
/* Stops the portal now (tunnels closed, loop stopped); main returns
 * status. */
void	portal_exit(struct portal *p, int status, const char *why);

/* portal_ctl.c */
int	portal_ctl_start(struct portal *p);
void	portal_ctl_stop(struct portal *p);
/*
 * Sends TUNNEL_REQUEST, for a new tunnel or, with resume (a tunnel id),
 * for a new path of that tunnel; returns the request id, or 0 when the
 * session is down.
 */
uint32_t portal_ctl_request_tunnel(struct portal *p, const char *rule,
	    const uint8_t *resume);
/* This portal's direct-path candidates changed: tells the server
 * (CANDIDATES), now or once the session is up. */
void	portal_ctl_candidates_changed(struct portal *p);
const struct portal_rule *portal_find_service_rule(const struct portal *p,
	    const char *rule, const char *peer, uint8_t ipproto);
/*
 * Service side: where a stream of rule r goes, given the destination its
 * OPEN names.  A rule with one target takes no destination; a port-range
 * rule takes one of its ports (the host is its target's); a capture rule
 * takes an address and port inside its range and ports.  0 with *out set,
 * or -1 with why when the rule does not allow it.
 */
int	portal_rule_target(const struct portal_rule *r,
	    const struct mux_dest *d, struct conf_endpoint *out, char *why,
	    size_t whylen);

/* portal_direct.c */
struct portal_direct;
/* Starts the direct listener unless direct.mode is off; 0 or -ENOMEM (a
 * port that cannot be bound is logged: tunnels then stay on relays). */
int	portal_direct_start(struct portal *p);
void	portal_direct_stop(struct portal *p);
/* A grant came: connections that presented a ticket we had no tunnel
 * for yet are looked at again. */
void	portal_direct_granted(struct portal *p);
/* Puts this portal's direct-path candidates into HELLO (or CANDIDATES). */
void	portal_direct_hello(struct portal *p, struct proto_msg *m);
/* The direct listener's port; 0 when there is none. */
uint16_t portal_direct_port(const struct portal *p);

/* portal_portmap.c */
struct portal_portmap;
struct candidate;
/* Starts asking the router to forward a port to the direct listener's
 * port, unless direct.portmap is off; 0 or -errno. */
int	portal_portmap_start(struct portal *p, uint16_t port);
/* Removes the mapping (waits for the router, a few seconds at most). */
void	portal_portmap_stop(struct portal *p);
/* The mapped candidate, if any: 0 or 1 written to out. */
size_t	portal_portmap_candidates(const struct portal *p,
	    struct candidate *out, size_t max);
/* The mapping's state for `netport status` (a new JSON object). */
struct json_t *portal_portmap_status(const struct portal *p);

/* portal_stun.c */
struct portal_stun;
/* The control session is up (WELCOME told stun_port, 0: none): asks the
 * server for this portal's reflexive UDP address, and keeps it fresh. */
void	portal_stun_session_up(struct portal *p, uint16_t stun_port);
void	portal_stun_stop(struct portal *p);
/* For `netport status`: a new JSON value (null when never asked). */
struct json_t *portal_stun_status(const struct portal *p);
/*
 * The portal's one UDP socket for direct paths, on the direct listener's
 * port number when free: STUN and the QUIC path share it.  Opened on
 * first use; returns its fd with its family and port, or -errno.
 */
int	portal_udp_open(struct portal *p, int *family, uint16_t *port);
/* An IPv4 address in the form the socket wants (::ffff:a.b.c.d when it
 * is dual-stack). */
void	portal_udp_map_v4(const struct portal *p, struct sockaddr_storage *ss,
	    socklen_t *len);
/* The reflexive UDP address STUN told, as a CAND_STUN candidate: 1, or 0
 * when none is known. */
int	portal_stun_mapped(const struct portal *p, struct candidate *out);
/* 1 when STUN saw another port than the socket's: this portal's NAT
 * picks its own ports (port-preserving NATs keep them when free). */
int	portal_stun_port_changed(const struct portal *p);

/* portal_quic.c */
struct portal_quic;
/* Starts the QUIC path's side of the UDP socket when direct.quic is on:
 * 0, or negative (logged: tunnels then use TCP direct paths). */
int	portal_quic_start(struct portal *p);
void	portal_quic_stop(struct portal *p);
/* Birthday probing, the side whose NAT keeps ports: probes to count
 * random ports of host (the peer's public address) for tunnel t. */
void	portal_quic_spray_ports(struct portal *p, struct tunnel *t,
	    const char *host, int count);
/* A datagram on the UDP socket that is not STUN: a probe or QUIC. */
void	portal_quic_input(struct portal *p, const uint8_t *data, size_t len,
	    const struct sockaddr *from, socklen_t fromlen);
/* For `netport status`: a new JSON object (null when off). */
struct json_t *portal_quic_status(const struct portal *p);

/* portal_capture.c */
struct portal_capture;
struct stream;
/*
 * Sets capture up unless capture.mode is off: marks this process's
 * sockets when it may, and removes what a crashed earlier run left in the
 * firewall.  0 or -ENOMEM.
 */
int	portal_capture_start(struct portal *p);
/* Removes the firewall rules and closes the capture sockets. */
void	portal_capture_stop(struct portal *p);
/* The rule set changed: captures what its capture rules say. */
void	portal_capture_apply(struct portal *p);
/* The client-side capture rule for a destination (longest prefix). */
const struct portal_rule *portal_capture_find(const struct portal *p,
	    uint8_t ipproto, int family, const uint8_t *addr, uint16_t port);
/* For `netport status`: a new JSON object (null when off). */
struct json_t *portal_capture_status(const struct portal *p);
/* 1 when capture installs firewall rules itself (mode auto, allowed). */
int	portal_capture_installs(const struct portal *p);
/* A captured UDP flow ended: out of the capture's table. */
void	portal_capture_flow_closed(struct portal *p, struct stream *s);

/* portal_status.c */
/* The answer to `netport status` (JSON text, malloc'd); NULL: no memory. */
char	*portal_status_json(void *portal);
/* Before each scrape of /metrics: the gauges of the moment. */
void	portal_metrics_scrape(void *portal);
/* A stream or a flow ("stream", "flow") opened. */
void	portal_metrics_opened(const char *kind);
/* A tunnel measured its round trip (t->rtt_ms). */
void	portal_metrics_rtt(const struct tunnel *t);

/* portal_listen.c */
/* Makes the listeners match the client-side rules of the set in force. */
void	portal_listen_apply(struct portal *p);
void	portal_listen_close_all(struct portal *p);

/* portal_tunnels.c */
/* Client side: a connection accepted for rule (consumes fd). */
void	portal_tunnel_accept(struct portal *p, const struct portal_rule *rule,
	    int fd, const char *remote, const struct mux_dest *dest);
/* A TUNNEL_GRANT (reply or unsolicited) or an ERROR reply. */
void	portal_tunnel_grant(struct portal *p, const struct proto_msg *m);
void	portal_tunnel_refused(struct portal *p, const struct proto_msg *m);
/* The control session went down: tunnels still requesting fail. */
void	portal_tunnel_ctl_down(struct portal *p);
/* The server revoked a peer's certificate: close tunnels with it. */
void	portal_tunnel_peer_revoked(struct portal *p, const char *peer);
/* Rules changed: reset streams whose rule is gone. */
void	portal_tunnel_rules_changed(struct portal *p);
/* Shutdown: refuse new streams; 1 while streams are still live. */
int	portal_tunnel_drain(struct portal *p);
void	portal_tunnel_close_all(struct portal *p, const char *why);

#endif
