/* SPDX-License-Identifier: MIT */
/*
 * Paths: how a tunnel's bytes travel to the peer portal.
 *
 * A path is one transport plus its own end-to-end TLS 1.3 session with the
 * peer, which checks the CA, the CRL and the pinned peer name as every path
 * must.  Kinds: through a relay, and direct to the peer portal; each over
 * TLS on a connected TCP socket (portal_path_ticket.c, portal_path_sock.c)
 * or over QUIC on UDP (portal_path_quic.c).  The tunnel (portal_tunnel.c)
 * knows a path only through struct path_ops below, so a new kind plugs in
 * without touching tunnel or stream code.
 *
 * A path reports to its tunnel through the tunnel_path_*() callbacks, from
 * its own events: up (the peer is verified), readable, writable again, and
 * failed.  After failed the path does nothing more; the tunnel frees it.
 */
#ifndef NETPORT_PORTAL_PATH_H
#define NETPORT_PORTAL_PATH_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/loop.h"
#include "core/mux.h"
#include "core/proto.h"

struct path;
struct tunnel;

enum path_state {
	PATH_SETUP,		/* transport and TLS handshake under way */
	PATH_UP,		/* the peer is verified: frames may flow */
	PATH_FAILED,		/* reported; waits to be freed */
};

/*
 * What a path does for its tunnel.  Reads and writes move plaintext; the
 * path encrypts, decrypts, and sends on its own transport.
 */
struct path_ops {
	/*
	 * Begins setting the path up (dial, preamble, TLS).  A failure is
	 * reported through tunnel_path_failed(), possibly before start()
	 * returns.
	 */
	void	(*start)(struct path *p);
	/*
	 * Decrypts into dst, at most cap bytes.  Returns the bytes read (> 0),
	 * 0 when nothing more is there now, NP_ECLOSED when the peer closed
	 * the TLS session cleanly, or another negative code when the path
	 * broke (path->why says how).
	 */
	ssize_t	(*read)(struct path *p, uint8_t *dst, size_t cap);
	/*
	 * Encrypts up to len bytes of src for sending.  Returns how many it
	 * took, which is less than len (or 0) when the path holds as much as
	 * it will queue: tunnel_path_writable() follows once it has room.
	 * Negative: the path broke (path->why).
	 */
	ssize_t	(*write)(struct path *p, const uint8_t *src, size_t len);
	/* Sends what write() queued; 0, or negative: broken (path->why). */
	int	(*push)(struct path *p);
	/* 1 when received bytes wait that no event will announce. */
	int	(*pending)(const struct path *p);
	/*
	 * 1 when nothing waits for the transport and write() would take
	 * bytes; while something waits, tunnel_path_writable() follows.
	 */
	int	(*writable)(const struct path *p);
	/* Gives back the buffers of an idle path (they come back on use). */
	void	(*release)(struct path *p);
	/*
	 * Best effort, never blocking: sends last (plaintext) and a TLS
	 * close, then stops all I/O.  With last NULL it only stops: the peer
	 * sees its transport end, which it takes for a lost path.  Then the
	 * path is only freed.
	 */
	void	(*close)(struct path *p, const uint8_t *last, size_t len);
	/* Where its setup stands ("TLS handshake with the peer"), for logs. */
	const char *(*phase)(const struct path *p);
	/* The TLS session's version and cipher, for logs. */
	void	(*tls_info)(const struct path *p, char *buf, size_t n);
	void	(*free)(struct path *p);
	/*
	 * Optional (NULL: the path has only its byte stream).  Sends one
	 * whole DGRAM frame (hdr, then data) outside the byte stream,
	 * unreliably and unordered, or queues it for the next send.  0, or
	 * negative when this frame cannot go that way (too large, path not
	 * up): the caller then sends it in the stream.
	 */
	int	(*send_dgram)(struct path *p, const uint8_t *hdr, size_t hlen,
		    const void *data, size_t len);
};

/* The part every kind of path shares; each kind embeds it first. */
struct path {
	const struct path_ops	*ops;
	struct tunnel		*t;		/* borrowed: the owner */
	enum path_state		 state;
	const char		*kind;		/* "relay" or "direct" */
	char			 addr[PROTO_ADDR_MAX + 1];	/* dialled */
	char			 via[NP_NAME_MAX + 1];	/* relay: its name;
							 * direct: how the address
							 * was found (lan, ...) */
	char			 why[512];	/* why it failed */
	/* What ranks it among a tunnel's paths (tunnel_path_rank). */
	int			 quic;		/* over QUIC, not TLS over TCP */
	int			 lan;		/* to an address on a LAN or
						 * this host */
	uint64_t		 started_ms;
	/* A candidate's first frame, the initiator's RESUME (the tunnel's). */
	uint8_t			 first[MUX_RESUME_LEN];
	size_t			 first_len;
	struct loop_defer	 defer;		/* tunnel_drop_path() */
};

/* The tunnel's side of a path: called by the path from its events. */
void	tunnel_path_up(struct tunnel *t, struct path *p);
/* A frame that came outside the byte stream (send_dgram's, by the peer). */
void	tunnel_path_dgram(struct tunnel *t, struct path *p, const uint8_t *frame,
	    size_t len);
void	tunnel_path_readable(struct tunnel *t, struct path *p);
void	tunnel_path_writable(struct tunnel *t, struct path *p);
/* The path failed (p->why says why); the tunnel frees it. */
void	tunnel_path_failed(struct tunnel *t, struct path *p);

/* Thin wrappers, so callers read as plain calls. */
static inline void
path_start(struct path *p)
{
	p->ops->start(p);
}

static inline ssize_t
path_read(struct path *p, uint8_t *dst, size_t cap)
{
	return p->ops->read(p, dst, cap);
}

static inline ssize_t
path_write(struct path *p, const uint8_t *src, size_t len)
{
	return p->ops->write(p, src, len);
}

static inline int
path_push(struct path *p)
{
	return p->ops->push(p);
}

static inline int
path_pending(const struct path *p)
{
	return p->ops->pending(p);
}

static inline int
path_writable(const struct path *p)
{
	return p->ops->writable(p);
}

static inline void
path_release(struct path *p)
{
	p->ops->release(p);
}

static inline void
path_close(struct path *p, const uint8_t *last, size_t len)
{
	p->ops->close(p, last, len);
}

static inline const char *
path_phase(const struct path *p)
{
	return p->ops->phase(p);
}

static inline int
path_send_dgram(struct path *p, const uint8_t *hdr, size_t hlen,
    const void *data, size_t len)
{
	return p->ops->send_dgram != NULL ?
	    p->ops->send_dgram(p, hdr, hlen, data, len) : -ENOTSUP;
}

static inline void
path_free(struct path *p)
{
	if (p)
		p->ops->free(p);
}

struct candidate;

/*
 * The relay path named by a grant (portal_path_ticket.c): resolves and
 * dials the relay, presents the ticket, and runs TLS with the peer as
 * initiator or acceptor.  Returns the path in setup, or NULL with why set
 * (a bad address, no memory).
 */
struct path *path_relay_new(struct tunnel *t, const struct proto_msg *grant,
	    char *why, size_t whylen);
/* A direct path to one of the peer's candidates, presenting the grant's
 * ticket; as path_relay_new. */
struct path *path_direct_new(struct tunnel *t, const struct proto_msg *grant,
	    const struct candidate *c, char *why, size_t whylen);
/*
 * A direct path over a connection the direct listener accepted and vetted
 * (consumes fd, also on failure); starting it starts TLS.  NULL: no memory.
 */
struct path *path_direct_accepted(struct tunnel *t, int fd,
	    const char *remote);

#endif
