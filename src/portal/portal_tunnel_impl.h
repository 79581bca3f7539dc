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
	TUN_CONNECTING,		/* its path is being set up */
	TUN_OPEN,
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
	char			 tid[2 * PROTO_TUNNEL_ID_LEN + 1];

	struct path		*path;		/* the one frames use */
	struct event		*flush_ev;	/* tunnel_flush_soon() */
	struct loop_timer	*timer;		/* setup, keepalive, idle */

	struct buf		 in;		/* plaintext frames read */
	struct buf		 out;		/* plaintext frames to write */
	struct hmap		 streams;	/* by id */
	size_t			 nstreams;
	uint32_t		 next_stream;
	struct stream_list	 waiting;	/* client: before the tunnel opens */
	size_t			 nwaiting;
	struct stream_list	 blocked;	/* paused on a full output */
	size_t			 nflows;	/* datagram flows among streams */
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
 * Takes a grant: logs it, and gives the tunnel the path (consumes it) that
 * the grant's caller made; the path is started here.
 */
void	tunnel_start_path(struct tunnel *t, const struct proto_msg *grant,
	    struct path *path);

#endif
