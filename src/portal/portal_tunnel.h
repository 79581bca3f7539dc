/* SPDX-License-Identifier: MIT */
/*
 * Tunnels and streams: the interface between portal_tunnel.c (the tunnel:
 * frames, flow of bytes to and from its path, keepalive), portal_tunnels.c
 * (the portal's set of tunnels: requests, grants, rules) and the streams
 * inside a tunnel (portal_stream.c, portal_udp.c).
 *
 * A tunnel is the peer pair's streams, windows and keepalive; it runs over
 * a path (portal_path.h), one transport with its own TLS session.  The
 * tunnel owns its streams; a stream owns its application socket.  Streams
 * see their tunnel only through the functions below: they queue frames
 * with tunnel_send_*() and tunnel_data_*(), never touching its buffers;
 * when the tunnel's output passes its high watermark they stop reading
 * their sockets and wait on its blocked list until it drains below the low
 * watermark.  struct tunnel itself is private (portal_tunnel_impl.h).
 */
#ifndef NETPORT_PORTAL_TUNNEL_H
#define NETPORT_PORTAL_TUNNEL_H

#include <sys/uio.h>

#include "core/dgramq.h"
#include "core/tls.h"
#include "portal/portal_impl.h"

enum stream_state {
	ST_WAITING,		/* client: accepted, tunnel not open yet */
	ST_CONNECTING,		/* service: connecting to the target */
	ST_OPEN,
	ST_CLOSED,
};

struct stream {
	struct hmap_node	 node;		/* in t->streams, once it has an id */
	TAILQ_ENTRY(stream)	 qentry;	/* t->waiting or t->blocked */
	int			 queue;		/* which list, 0: none */
	struct tunnel		*t;		/* borrowed: the owner */
	struct portal		*p;		/* borrowed */
	uint32_t		 id;		/* 0 until opened */
	enum stream_state	 state;
	char			 rule[NP_NAME_MAX + 1];
	char			 target[PROTO_ADDR_MAX + 1];
	/*
	 * What its OPEN names (capture and port-range rules): client side,
	 * the destination the application asked for; service side, what
	 * the peer asked for and the rule allowed.
	 */
	struct mux_dest		 dest;
	/* Client side, a captured UDP flow: where the client sent to (its
	 * key, with src), and the flow is in the capture's table. */
	struct mux_dest		 seen;
	int			 capture_flow;
	int			 fd;		/* the application socket */
	struct event		*rev, *wev;
	struct loop_timer	*timer;		/* waiting or connect deadline */
	struct net_resolve	*dns;
	int			 allowed_by_name; /* local allow-list */
	int			 nodelay;	/* service side: TCP target */
	int			 tune_tcp;	/* ... not on loopback: keepalive */

	/* Toward the peer: bytes read from fd and sent as DATA. */
	uint32_t		 send_credit;
	int			 rd_fin;	/* EOF read, FIN sent */
	int			 rd_paused;

	/* From the peer: DATA not yet written to fd. */
	struct buf		 pending;
	uint32_t		 recv_window;	/* what the peer may still send */
	uint32_t		 window;	/* credit granted in all: grows for
						 * a stream that keeps up */
	uint32_t		 unacked;	/* written to fd, not yet credited */
	int			 peer_fin;
	int			 wr_shut;

	uint64_t		 bytes_up, bytes_down;

	/* Datagram flows (udp rules): one per client address. */
	int			 dgram;
	int			 flow_counted;	/* in t->nflows */
	struct udp_listener	*ul;		/* client side: borrowed */
	struct hmap_node	 flow_node;	/* in ul->flows, by src */
	struct sockaddr_storage	 src;		/* client side: the app */
	socklen_t		 srclen;
	struct dgramq		 to_peer;	/* waiting for the tunnel */
	struct dgramq		 to_app;	/* service side: socket busy */
	uint64_t		 dgrams_up, dgrams_down;
	uint64_t		 last_active_ms;
	/*
	 * Exchanges, counted from the client's point of view: a request
	 * is a datagram from the client, a reply one from the target.  A
	 * flow is established by a reply to a request that followed a
	 * reply (two exchanges); until then it lives for udp.flow_idle_new
	 * and, once it has its reply, waits in a list of finished single
	 * exchanges (ul->done or t->udp_done), oldest first, from which a
	 * full flow table takes room for a new client.
	 */
	int			 replied;
	int			 asked_again;
	int			 established;
	int			 in_done;
	TAILQ_ENTRY(stream)	 done_entry;

	struct log_ctx		 log;
	char			 peer_str[NP_IDENTITY_STR_MAX];
	struct loop_defer	 defer;
};

#define STREAM_Q_WAITING	1
#define STREAM_Q_BLOCKED	2

/* portal_tunnel.c, for streams and paths */
struct portal *tunnel_portal(const struct tunnel *t);
const char *tunnel_peer(const struct tunnel *t);
/* 1 on the side that asked for the tunnel (TLS client, odd stream ids). */
int	tunnel_is_initiator(const struct tunnel *t);
/* 1 while frames flow: its path is up and it has not closed. */
int	tunnel_is_open(const struct tunnel *t);
/* 1 while the tunnel takes new streams (no GOAWAY either way). */
int	tunnel_takes_streams(const struct tunnel *t);
size_t	tunnel_nstreams(const struct tunnel *t);
/* Datagram flows among the streams, for udp.max_flows. */
size_t	tunnel_nflows(const struct tunnel *t);
void	tunnel_count_flow(struct tunnel *t, int delta);
/* What the datagram flows of a tunnel keep in it (portal_udp.c). */
struct tunnel_udp {
	struct stream_list	 done;		/* service side: finished
						 * exchanges, oldest first */
	uint64_t		 evicted;	/* ended to make room */
	uint64_t		 evict_log_ms;
};
struct tunnel_udp *tunnel_udp(struct tunnel *t);
const struct log_ctx *tunnel_log(const struct tunnel *t);

/* Gives s the next stream id of this side and adds it; 0 or -ENOMEM. */
int	tunnel_add_new_stream(struct tunnel *t, struct stream *s);
/* Adds s under the id the peer chose (s->id); 0 or -ENOMEM. */
int	tunnel_add_peer_stream(struct tunnel *t, struct stream *s);
struct stream *tunnel_find_stream(struct tunnel *t, uint32_t id);
/* s is closing: off every list and table of the tunnel. */
void	tunnel_stream_gone(struct tunnel *t, struct stream *s);

/*
 * Frames for the peer.  Each returns 0, or a negative code when the output
 * is at its hard cap (the stream then resets itself).  A RESET on a tunnel
 * that is no longer open is dropped (0): the peer learns from the close.
 */
/* OPEN of stream id under rule, naming dest (NULL or port 0: none). */
int	tunnel_send_open(struct tunnel *t, uint32_t id, const char *rule,
	    int dgram, const struct mux_dest *dest)
	    __attribute__((warn_unused_result));
int	tunnel_send_window(struct tunnel *t, uint32_t id, uint32_t increment)
	    __attribute__((warn_unused_result));
int	tunnel_send_reset(struct tunnel *t, uint32_t id, uint16_t code,
	    const char *why) __attribute__((warn_unused_result));
int	tunnel_send_fin(struct tunnel *t, uint32_t id)
	    __attribute__((warn_unused_result));
int	tunnel_send_dgram(struct tunnel *t, uint32_t id, const void *p,
	    size_t n) __attribute__((warn_unused_result));
/*
 * The same outside the path's byte stream (a QUIC DATAGRAM frame), when
 * the path can: no head-of-line blocking, no replay after a path change.
 * 0, or negative: send it with tunnel_send_dgram() instead.  Only for a
 * flow the peer knows already (its OPEN arrived), since the datagram may
 * overtake the stream.
 */
int	tunnel_send_dgram_unordered(struct tunnel *t, uint32_t id,
	    const void *p, size_t n);
/*
 * DATA without a copy: tunnel_data_reserve() lends n bytes of room at the
 * end of the output (frames are built in place: headers with
 * mux_hdr_encode(), payloads read into it), and tunnel_data_commit() queues
 * the first n of them.  Returns 0 or a negative code (no room: block).
 */
int	tunnel_data_reserve(struct tunnel *t, size_t n, uint8_t **p);
void	tunnel_data_commit(struct tunnel *t, size_t n);
/* Bytes that fit behind what the output holds, without moving it. */
size_t	tunnel_data_tail_room(const struct tunnel *t);
/* 1 above the output's high watermark: streams should block. */
int	tunnel_out_full(const struct tunnel *t);
/* s waits until the output drains (stream_resume() then). */
void	tunnel_block(struct tunnel *t, struct stream *s);
int	tunnel_flush(struct tunnel *t);
/*
 * Flushes once the callbacks of the current loop turn have run, so that
 * the frames several streams queue in one wake-up leave as one TLS record
 * and one send() (and wake the relay and the peer once).
 */
void	tunnel_flush_soon(struct tunnel *t);
/*
 * Receive windows beyond the initial one come from a budget per tunnel:
 * takes want bytes of it (returns want) or nothing (returns 0).
 */
uint32_t tunnel_window_take(struct tunnel *t, uint32_t want);
void	tunnel_window_return(struct tunnel *t, uint32_t n);
void	tunnel_close(struct tunnel *t, uint16_t code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* portal_tunnels.c, for the direct listener */
/*
 * The tunnel whose latest grant carried this ticket, unexpired, for the
 * other side (the dialer's side is side); NULL when none.
 */
struct tunnel *portal_direct_find_tunnel(struct portal *p,
	    const uint8_t *ticket, size_t len, uint8_t side);
/* A vetted direct connection for t (consumes fd): a candidate path. */
void	tunnel_accept_direct(struct tunnel *t, int fd, const char *remote);
struct path;
/* The latest grant's ticket (0 bytes: none, or direct paths are off). */
size_t	tunnel_ticket(const struct tunnel *t, const uint8_t **out);
/* Starts path as a candidate of t (consumes it): tried beside the
 * active path, which it replaces once it is up and chosen. */
void	tunnel_add_candidate(struct tunnel *t, struct path *path);

/* portal_tunnels.c, for streams */
/*
 * Client side: the tunnel new streams of rule go into, a live one or one
 * being asked for; NULL when none can be (*why says why).
 */
struct tunnel *tunnel_for_rule(struct portal *p, const struct portal_rule *rule,
	    char *why, size_t whylen);
/*
 * Client side: starts s now if the tunnel is open, else queues it;
 * returns -1 (s untouched) when too many already wait (*nwaiting: how
 * many).
 */
int	tunnel_add_stream(struct tunnel *t, struct stream *s, size_t *nwaiting);

/* portal_stream.c, for the tunnel */
/* A new stream of t for rule, owning fd (-1: none yet); NULL: no memory. */
struct stream *stream_alloc(struct tunnel *t, const char *rule, int fd);
struct stream *stream_new_client(struct tunnel *t, const char *rule, int fd,
	    const char *remote);
/* The tunnel opened: send OPEN and start moving bytes. */
void	stream_start(struct stream *s);
/* Frames for a stream (a NULL stream means an unknown id). */
void	stream_on_open(struct tunnel *t, const struct mux_frame *f);
/* DATA for s: the payloads of one or more frames in a row (borrowed). */
void	stream_on_data(struct stream *s, struct iovec *iov, int iovcnt,
	    size_t len, int fin);
void	stream_on_window(struct stream *s, uint32_t increment);
void	stream_on_reset(struct stream *s, uint16_t code, const char *reason);
/* Resets the stream both ways with a reason, and frees it. */
void	stream_reset(struct stream *s, uint16_t code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* The tunnel has room again: read from the socket. */
void	stream_resume(struct stream *s);
/*
 * Service side: the new stream a peer's OPEN asks for, checked against the
 * tunnel's state, its stream cap and the rules (which must be of ipproto),
 * with the destination the OPEN names.  Returns it, with its rule in
 * *rulep and where it goes in *target, or NULL when it was refused (reset,
 * logged) or could not be made.
 */
struct stream *stream_accept(struct tunnel *t, const struct mux_frame *f,
	    uint8_t ipproto, const struct portal_rule **rulep,
	    struct conf_endpoint *target);

/* portal_udp.c: datagram flows */
struct udp_listener;
/*
 * Client side, capture: a flow of rule toward dest with the client at
 * src, over fd, its own socket connected to the client (consumed).  NULL
 * when refused (logged).
 */
struct stream *udp_capture_flow(struct portal *p,
	    const struct portal_rule *rule, int fd,
	    const struct sockaddr_storage *src, socklen_t srclen,
	    const struct mux_dest *dest);
/* A datagram from a captured flow's client, into the tunnel. */
void	udp_capture_input(struct stream *s, const uint8_t *data, size_t len);
/* The portal's buffer for one datagram; NULL when out of memory. */
uint8_t *portal_udp_scratch(struct portal *p);
int	udp_listener_open(struct portal *p, struct portal_listener *l);
void	udp_listener_close(struct portal_listener *l);
/* The tunnel opened (client side): OPEN the flow, send what waited. */
void	udp_flow_start(struct stream *s);
/* The tunnel has room again: send what waited. */
void	udp_flow_resume(struct stream *s);
void	udp_flow_closed(struct stream *s);
void	udp_on_open(struct tunnel *t, const struct mux_frame *f);
void	udp_on_dgram(struct stream *s, const struct mux_frame *f);

#endif
