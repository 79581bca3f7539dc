/* SPDX-License-Identifier: MIT */
/*
 * Tunnels and streams, shared by portal_tunnel.c (the tunnel: setup, TLS,
 * frame I/O) and portal_stream.c (the streams inside it).
 *
 * A tunnel is one TLS 1.3 session with one peer portal; its transport is a
 * TCP connection (today through a relay).  The tunnel owns its streams; a
 * stream owns its application socket.  Frames to the peer are appended to
 * the tunnel's output buffer and written by tunnel_flush(); when that buffer
 * passes its high watermark, streams stop reading their sockets and wait on
 * the tunnel's blocked list until it drains below the low watermark.
 */
#ifndef NETPORT_PORTAL_TUNNEL_H
#define NETPORT_PORTAL_TUNNEL_H

#include <sys/uio.h>

#include "core/dgramq.h"
#include "core/tls.h"
#include "portal/portal_impl.h"

/* Output buffer watermarks: above HIGH streams pause, below LOW resume. */
#define TUNNEL_OUT_HIGH		(1024 * 1024)
#define TUNNEL_OUT_LOW		(256 * 1024)
/*
 * How far all streams of a tunnel together may grow their receive windows
 * beyond the initial 256 KiB each: bounds what fast streams that turn slow
 * can make a portal buffer.
 */
#define TUNNEL_WINDOW_BUDGET	(32 * 1024 * 1024)
/*
 * DATA frames of one stream handed over in one write, at most: more full
 * frames than the read buffer holds, so that a batch is never split in two
 * writes of 16 and 1 frames.
 */
#define TUNNEL_DATA_BATCH	32
/* Hard cap on the output buffer: HIGH plus what paused streams may add. */
#define TUNNEL_OUT_MAX		(8 * 1024 * 1024)
/*
 * Plaintext read buffer: records are decrypted into it while one more fits
 * (RECORD_MAX, the most one SSL_read() returns), so that the frames of
 * 256 KiB or more go on at a time.
 */
#define TUNNEL_RECORD_MAX	(16 * 1024)
#define TUNNEL_IN_MAX		(288 * 1024)
/* Ciphertext taken from the socket with one recv(), at most. */
#define TUNNEL_RX_MAX		(256 * 1024)
/*
 * Ciphertext waiting for the socket: SSL_write() is only called while less
 * than HIGH is queued, with at most CHUNK plaintext, so MAX is never hit.
 */
#define TUNNEL_CIPHER_HIGH	(512 * 1024)
#define TUNNEL_WRITE_CHUNK	(256 * 1024)
#define TUNNEL_CIPHER_MAX	(2 * 1024 * 1024)

enum tunnel_state {
	TUN_REQUESTING,		/* client: waiting for the server's grant */
	TUN_RESOLVING,		/* resolving the relay address */
	TUN_DIALING,		/* TCP connect to the relay */
	TUN_RELAY_HS,		/* ticket sent, waiting for "paired" */
	TUN_TLS,		/* TLS handshake with the peer portal */
	TUN_OPEN,
	TUN_CLOSED,
};

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
	uint32_t		 id;		/* 0 until opened */
	enum stream_state	 state;
	char			 rule[NP_NAME_MAX + 1];
	char			 target[PROTO_ADDR_MAX + 1];
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

struct tunnel {
	TAILQ_ENTRY(tunnel)	 entry;		/* in p->tunnels */
	struct portal		*p;		/* borrowed */
	enum tunnel_state	 state;
	int			 initiator;	/* TLS client, odd stream ids */
	char			 peer[NP_NAME_MAX + 1];
	char			 rule[NP_NAME_MAX + 1];	/* that asked for it */
	uint32_t		 request_id;
	char			 tid[2 * PROTO_TUNNEL_ID_LEN + 1];
	char			 relay[PROTO_ADDR_MAX + 1];
	uint8_t			 ticket[PROTO_TICKET_MAX];
	size_t			 ticket_len;
	struct net_resolve	*dns;

	int			 fd;
	SSL			*ssl;
	struct event		*rev, *wev;
	struct event		*flush_ev;	/* tunnel_flush_soon() */
	struct loop_timer	*timer;		/* setup, keepalive, idle */
	uint8_t			 hs_reply[4];
	size_t			 hs_got;
	size_t			 hs_sent;
	int			 write_wants_read;

	struct buf		 in;		/* plaintext frames read */
	struct buf		 out;		/* plaintext frames to write */
	struct buf		 cipher;	/* TLS records to send */
	struct tls_rx		 rx;		/* TLS records received */
	struct hmap		 streams;	/* by id */
	size_t			 nstreams;
	uint32_t		 next_stream;
	struct stream_list	 waiting;	/* client: before the tunnel opens */
	size_t			 nwaiting;
	struct stream_list	 blocked;	/* paused on a full output */
	size_t			 nflows;	/* datagram flows among streams */
	struct stream_list	 udp_done;	/* service side: finished
						 * exchanges, oldest first */
	uint64_t		 udp_evicted;	/* ended to make room */
	uint64_t		 udp_evict_log_ms;
	size_t			 window_budget;	/* bytes streams may still grow
						 * their windows by, together */

	uint64_t		 created_ms;
	uint64_t		 last_rx_ms;
	uint64_t		 idle_since_ms;	/* 0 while it has streams */
	int			 released;	/* buffers given back since */
	uint64_t		 next_ping_ms;
	uint64_t		 ping_value;
	uint64_t		 ping_sent_ms;
	uint32_t		 rtt_ms;
	int			 goaway;	/* no new streams */
	struct log_ctx		 log;
	char			 peer_str[NP_IDENTITY_STR_MAX];
	struct loop_defer	 defer;
};

#define STREAM_Q_WAITING	1
#define STREAM_Q_BLOCKED	2

/* portal_tunnel.c, for streams */
int	tunnel_flush(struct tunnel *t);
/*
 * Flushes once the callbacks of the current loop turn have run, so that
 * the frames several streams queue in one wake-up leave as one TLS record
 * and one send() (and wake the relay and the peer once).
 */
void	tunnel_flush_soon(struct tunnel *t);
int	tunnel_out_full(const struct tunnel *t);
void	tunnel_block(struct tunnel *t, struct stream *s);
void	tunnel_stream_gone(struct tunnel *t, struct stream *s);
void	tunnel_close(struct tunnel *t, uint16_t code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Client side: the tunnel new streams of rule go into, a live one or one
 * being asked for; NULL (logged, with `who` in the line) when none can be.
 */
struct tunnel *tunnel_for_rule(struct portal *p, const struct portal_rule *rule,
	    const char *who);
/* Client side: starts s now if the tunnel is open, else queues it;
 * returns -1 (s untouched) when too many already wait. */
int	tunnel_add_stream(struct tunnel *t, struct stream *s);

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
struct stream *tunnel_find_stream(struct tunnel *t, uint32_t id);
/*
 * Service side: the new stream a peer's OPEN asks for, checked against the
 * tunnel's state, its stream cap and the rules (which must be of ipproto).
 * Returns it, with its rule in *rulep, or NULL when it was refused (reset,
 * logged) or could not be made.
 */
struct stream *stream_accept(struct tunnel *t, const struct mux_frame *f,
	    uint8_t ipproto, const struct portal_rule **rulep);
/* Inserts a stream with its id into t->streams; 0 or -ENOMEM. */
int	stream_insert(struct tunnel *t, struct stream *s);

/* portal_udp.c: datagram flows */
struct udp_listener;
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
