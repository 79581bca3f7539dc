/* SPDX-License-Identifier: MIT */
/*
 * The tunnel's own state, for portal_tunnel.c (the engine) and
 * portal_tunnels.c (the portal's set of tunnels) only.  Streams and paths
 * use the functions of portal_tunnel.h and portal_path.h.
 */
#ifndef NETPORT_PORTAL_TUNNEL_IMPL_H
#define NETPORT_PORTAL_TUNNEL_IMPL_H

#include "portal/portal_path.h"
#include "portal/portal_tunnel.h"

/*
 * Output buffer watermarks, of frames not yet handed to the path: above
 * HIGH streams pause, below LOW they resume.
 */
#define TUNNEL_OUT_HIGH		(1024 * 1024)
#define TUNNEL_OUT_LOW		(256 * 1024)
/*
 * The output buffer also keeps what was sent until the peer acknowledges
 * it, for a replay on a new path.  Streams pause while it holds this much
 * in all (the peer's acknowledgements free it), so it never reaches
 * TUNNEL_OUT_MAX; RETAIN_LOW is where they resume.
 */
#define TUNNEL_RETAIN_HIGH	(6 * 1024 * 1024)
#define TUNNEL_RETAIN_LOW	(4 * 1024 * 1024)
/*
 * A receiver acknowledges at once once this much arrived unacknowledged,
 * else with the next frames it sends anyway, else after ACK_DELAY_MS:
 * what a sender keeps for a replay is about this plus what is in flight,
 * and an idle tunnel keeps nothing for long.
 */
#define TUNNEL_ACK_EVERY	(64 * 1024)
#define TUNNEL_ACK_DELAY_MS	200
/* While a tunnel waits for a new path, how often it asks again. */
#define TUNNEL_RESUME_RETRY_MS	1000
/* Paths tried besides the active one: per peer candidate a TCP and a QUIC path, QUIC paths to addresses
 * learned from probes, and a relay path. */
#define TUNNEL_MAX_CANDIDATES	(4 * PROTO_MAX_ADVERTISE + 1)
/* Direct attempts remembered for netport status. */
#define TUNNEL_MAX_TRIES	(2 * PROTO_MAX_ADVERTISE)
/*
 * After every direct attempt of a grant failed, the initiator asks for a
 * fresh grant to try again after direct.retry, doubling up to MAX: a NAT
 * or a firewall that blocked the peer may have opened up meanwhile.
 */
#define TUNNEL_DIRECT_RETRY_MAX	(30 * 60 * 1000)

/* One direct attempt, as netport status tells it. */
struct tunnel_try {
	char			 addr[PROTO_ADDR_MAX + 1];
	char			 how[NP_NAME_MAX + 1];	/* lan, public, accepted */
	char			 result[160];
};
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
 * Plaintext read buffer.  Records are decrypted into it while one more
 * fits (RECORD_MAX, the most one read returns), and only then are the
 * frames handed on: a stream's DATA frames of many records then leave
 * with one write to its socket.  MAX is 256 KiB of such records plus
 * room for one more and a partial frame left from the previous batch.
 */
#define TUNNEL_RECORD_MAX	(16 * 1024)
#define TUNNEL_IN_MAX		(288 * 1024)

enum tunnel_state {
	TUN_REQUESTING,		/* client: waiting for the server's grant */
	TUN_CONNECTING,		/* its first path is being set up */
	TUN_OPEN,
	TUN_RESUMING,		/* its path died: waiting for a new one, and
				 * then for the peer's RESUME */
	TUN_CLOSED,
};

struct tunnel {
	TAILQ_ENTRY(tunnel)	 entry;		/* in p->tunnels */
	struct portal		*p;		/* borrowed */
	enum tunnel_state	 state;
	int			 initiator;	/* TLS client, odd stream ids */
	char			 peer[NP_NAME_MAX + 1];
	char			 rule[NP_NAME_MAX + 1];	/* that asked for it */
	uint32_t		 request_id;
	uint8_t			 id[PROTO_TUNNEL_ID_LEN];
	char			 tid[2 * PROTO_TUNNEL_ID_LEN + 1];

	struct path		*path;		/* the one frames use */
	struct path		*cand[TUNNEL_MAX_CANDIDATES];	/* being tried */
	size_t			 ncand;
	struct tunnel_try	 tries[TUNNEL_MAX_TRIES];
	size_t			 ntries;
	/* The latest grant's ticket: what a peer's direct dial presents. */
	uint8_t			 ticket[PROTO_TICKET_MAX];
	size_t			 ticket_len;
	uint64_t		 ticket_expires;	/* Unix seconds */
	unsigned		 direct_failures;	/* grants in a row */
	int			 direct_off;	/* the latest grant: relays only */
	uint64_t		 granted_ms;	/* when the latest grant came */
	uint64_t		 direct_retry_ms;	/* 0: none planned */
	int			 unknown;	/* made for a resume of a tunnel
						 * this portal does not have */
	uint64_t		 path_lost_ms;	/* RESUMING: when, and until */
	uint64_t		 resume_deadline_ms;
	uint64_t		 resume_asked_ms; /* initiator: last request */
	unsigned		 resumes;	/* new paths it has had */
	/*
	 * The number of the path in use: the initiator counts the paths it
	 * sends RESUME on, 1 up; the acceptor keeps the number of the last
	 * RESUME it followed, so that a RESUME that arrives late, on a path
	 * the initiator left already (one through the relay, overtaken by a
	 * direct one), is not followed.
	 */
	uint32_t		 path_no;
	char			 lost_why[512];	/* how it lost the last one */
	struct event		*flush_ev;	/* tunnel_flush_soon() */
	struct loop_timer	*timer;		/* setup, keepalive, idle */

	struct buf		 in;		/* plaintext frames read */
	/*
	 * Frames for the peer: the first out_sent bytes went to the path and
	 * wait for the peer's ACK (tx_acked counts the bytes acknowledged
	 * since the tunnel began); the rest waits for the path.
	 */
	struct buf		 out;
	size_t			 out_sent;
	size_t			 out_frame_left; /* of the frame at out_sent */
	uint64_t		 tx_acked;
	size_t			 replay_max;	/* RESUMING: out_sent at the loss */
	struct buf		 ctl;		/* ACK, RESUME: not sequenced */
	uint64_t		 rx_seq;	/* sequenced bytes processed */
	uint64_t		 rx_acked;	/* ... and acknowledged */
	uint64_t		 ack_due_ms;	/* 0: no delayed ACK pending */
	int			 ack_now;
	int			 resume_sent;	/* RESUMING: ours is queued */
	struct hmap		 streams;	/* by id */
	size_t			 nstreams;
	uint32_t		 next_stream;
	struct stream_list	 waiting;	/* client: before the tunnel opens */
	size_t			 nwaiting;
	struct stream_list	 blocked;	/* paused on a full output */
	size_t			 nflows;	/* datagram flows among streams */
	struct tunnel_udp	 udp;
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

/* portal_tunnel.c, for portal_tunnels.c */
/* A new tunnel to peer, in TUN_REQUESTING; NULL: out of memory. */
struct tunnel *tunnel_new(struct portal *p, const char *peer, int initiator);
/* Arms the setup deadline (tunnel.setup_timeout); 0 or -ENOMEM. */
int	tunnel_arm_setup(struct tunnel *t);
/* Frees a tunnel that never went on p->tunnels. */
void	tunnel_free(void *arg);
/*
 * Takes a grant for a tunnel that has no path (a new one, or one that
 * lost its path): logs it, and gives the tunnel the path (consumes it)
 * that the grant's caller made; the path is started here.  A tunnel with
 * a path gets new paths as candidates (tunnel_add_candidate) instead.
 */
void	tunnel_start_path(struct tunnel *t, const struct proto_msg *grant,
	    struct path *path);
/* A resume request failed for a reason that may pass (no relay yet). */
void	tunnel_resume_later(struct tunnel *t, const char *why);
/* Records a grant's ticket for the direct listener (none when the grant
 * says direct: off). */
void	tunnel_take_ticket(struct tunnel *t, const struct proto_msg *g);
/* The policy turned direct paths off: a tunnel on a direct path gives it
 * up and resumes on a relay path. */
void	tunnel_leave_direct(struct tunnel *t, const char *why);
/* The policy allows them again: the initiator tries them at once. */
void	tunnel_allow_direct(struct tunnel *t);

#endif
