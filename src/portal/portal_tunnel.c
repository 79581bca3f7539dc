/* SPDX-License-Identifier: MIT */
/*
 * The tunnel: the streams, windows and keepalive of one peer pair, over
 * whichever path carries its bytes (portal_path.h).
 *
 * Frames that streams queue gather in t->out and go to the path in one
 * write per loop turn (tunnel_flush); frames the path decrypts gather in
 * t->in and are handed to their streams (tunnel_process).  PINGs measure
 * the round trip and find a dead path; an idle tunnel is closed.  The
 * tunnel knows its path only through struct path_ops: which kind it is
 * (a relay today) is the business of portal_tunnels.c, which makes paths
 * from grants.
 *
 * A tunnel outlives its path.  What it sends stays in t->out until the
 * peer acknowledges it (ACK frames count the bytes of frames received);
 * when the path dies, the streams stay open while the tunnel gets a new
 * one (the initiator asks the server for it, naming the tunnel), and on
 * the new path each side first says with RESUME how much it received, so
 * that the other replays exactly the rest: no byte is lost, repeated or
 * reordered.  Only when no path comes back within tunnel.resume_timeout,
 * or the peer is gone, are the streams reset.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/util.h>

#include "core/err.h"
#include "core/heap.h"
#include "core/log.h"
#include "portal/portal_tunnel_impl.h"

/* Records read per wake-up before other tunnels and streams get a turn. */
#define TUNNEL_READ_ROUNDS	64
/*
 * A tunnel without streams for this long gives its buffers back (and
 * again at each keepalive tick while it stays idle).  Not at once: a
 * client making one short connection after another would pay for the
 * buffers at every connection.
 */
#define TUNNEL_RELEASE_MS	1000
/*
 * Frame buffers beyond this size are what a bulk transfer left: a tunnel
 * that goes idle gives them back at once, without waiting for the idle
 * release.  Short connections never grow them this far.
 */
#define TUNNEL_BULK_BUF		(256 * 1024)

static const char *const tunnel_state_names[] = {
	[TUN_REQUESTING] = "waiting for the server's grant",
	[TUN_CONNECTING] = "setting up its path",
	[TUN_OPEN] = "open",
	[TUN_RESUMING] = "waiting for a new path",
	[TUN_CLOSED] = "closed",
};

static void	tunnel_flush_cb(evutil_socket_t fd, short what, void *arg);
static void	tunnel_read(struct tunnel *t);
static void	tunnel_arm(struct tunnel *t);
static void	tunnel_lose_path(struct tunnel *t, const char *why);
static void	tunnel_resume_ask(struct tunnel *t);
static int	tunnel_on_resume(struct tunnel *t, uint64_t seq,
		    uint32_t path_no);
static void	tunnel_cand_expire(struct tunnel *t, uint64_t now);
static void	tunnel_plan_direct_retry(struct tunnel *t);
static void	tunnel_adopt(struct tunnel *t, struct path *p);

/* ---- what streams and paths may ask ---- */

struct portal *
tunnel_portal(const struct tunnel *t)
{
	return t->p;
}

const char *
tunnel_peer(const struct tunnel *t)
{
	return t->peer;
}

int
tunnel_is_initiator(const struct tunnel *t)
{
	return t->initiator;
}

int
tunnel_is_open(const struct tunnel *t)
{
	return t->state == TUN_OPEN;
}

int
tunnel_takes_streams(const struct tunnel *t)
{
	return !t->goaway && t->state != TUN_CLOSED;
}

size_t
tunnel_nstreams(const struct tunnel *t)
{
	return t->nstreams;
}

size_t
tunnel_nflows(const struct tunnel *t)
{
	return t->nflows;
}

void
tunnel_count_flow(struct tunnel *t, int delta)
{
	t->nflows += (size_t)(ssize_t)delta;
	if (delta > 0)
		portal_metrics_opened("flow");
}

struct tunnel_udp *
tunnel_udp(struct tunnel *t)
{
	return &t->udp;
}

const struct log_ctx *
tunnel_log(const struct tunnel *t)
{
	return &t->log;
}

uint32_t
tunnel_window_take(struct tunnel *t, uint32_t want)
{
	if (t->window_budget < want)
		return 0;
	t->window_budget -= want;
	return want;
}

void
tunnel_window_return(struct tunnel *t, uint32_t n)
{
	t->window_budget += n;
}

/* ---- the stream table ---- */

static int
tunnel_stream_eq(const struct hmap_node *n, const void *key)
{
	const struct stream *s = hmap_entry_const(n, struct stream, node);

	return s->id == *(const uint32_t *)key;
}

struct stream *
tunnel_find_stream(struct tunnel *t, uint32_t id)
{
	struct hmap_node *n;

	n = hmap_find(&t->streams, hmap_hash_bytes(&id, sizeof(id)),
	    tunnel_stream_eq, &id);
	return n ? hmap_entry(n, struct stream, node) : NULL;
}

int
tunnel_add_peer_stream(struct tunnel *t, struct stream *s)
{
	if (hmap_insert(&t->streams, &s->node,
	    hmap_hash_bytes(&s->id, sizeof(s->id))) != 0)
		return -ENOMEM;
	t->nstreams++;
	t->idle_since_ms = 0;
	return 0;
}

int
tunnel_add_new_stream(struct tunnel *t, struct stream *s)
{
	s->id = t->next_stream;
	if (tunnel_add_peer_stream(t, s) != 0) {
		s->id = 0;
		return -ENOMEM;
	}
	t->next_stream += 2;
	return 0;
}

void
tunnel_block(struct tunnel *t, struct stream *s)
{
	if (s->queue)
		return;
	TAILQ_INSERT_TAIL(&t->blocked, s, qentry);
	s->queue = STREAM_Q_BLOCKED;
}

void
tunnel_stream_gone(struct tunnel *t, struct stream *s)
{
	if (s->queue == STREAM_Q_WAITING) {
		TAILQ_REMOVE(&t->waiting, s, qentry);
		t->nwaiting--;
	} else if (s->queue == STREAM_Q_BLOCKED)
		TAILQ_REMOVE(&t->blocked, s, qentry);
	s->queue = 0;
	if (s->id && tunnel_find_stream(t, s->id) == s) {
		hmap_remove(&t->streams, &s->node);
		t->nstreams--;
	}
	if (t->nstreams == 0 && t->nwaiting == 0 && t->idle_since_ms == 0) {
		t->idle_since_ms = loop_now_ms();
		t->released = 0;
		if (t->state == TUN_OPEN) {
			tunnel_arm(t);	/* for the release of its buffers */
			/* The flush gives back what a transfer grew. */
			tunnel_flush_soon(t);
		}
	}
}

/* ---- frames for the peer ---- */

int
tunnel_out_full(const struct tunnel *t)
{
	return buf_len(&t->out) - t->out_sent >= TUNNEL_OUT_HIGH ||
	    buf_len(&t->out) >= TUNNEL_RETAIN_HIGH;
}

/* 1 when streams paused on a full output may go on. */
static int
tunnel_out_roomy(const struct tunnel *t)
{
	return buf_len(&t->out) - t->out_sent < TUNNEL_OUT_LOW &&
	    buf_len(&t->out) < TUNNEL_RETAIN_LOW;
}

int
tunnel_send_open(struct tunnel *t, uint32_t id, const char *rule, int dgram,
    const struct mux_dest *dest)
{
	return dgram ? mux_put_open_dgram(&t->out, id, rule, dest) :
	    mux_put_open(&t->out, id, rule, dest);
}

int
tunnel_send_window(struct tunnel *t, uint32_t id, uint32_t increment)
{
	return mux_put_window(&t->out, id, increment);
}

int
tunnel_send_reset(struct tunnel *t, uint32_t id, uint16_t code,
    const char *why)
{
	/* While resuming it waits for the new path like any frame. */
	if (t->state != TUN_OPEN && t->state != TUN_RESUMING)
		return 0;
	return mux_put_reset(&t->out, id, code, why);
}

int
tunnel_send_fin(struct tunnel *t, uint32_t id)
{
	return mux_put_fin(&t->out, id);
}

int
tunnel_send_dgram(struct tunnel *t, uint32_t id, const void *p, size_t n)
{
	return mux_put_dgram(&t->out, id, p, n);
}

int
tunnel_send_dgram_unordered(struct tunnel *t, uint32_t id, const void *p,
    size_t n)
{
	uint8_t hdr[MUX_HDR_LEN];

	if (t->state != TUN_OPEN || t->path == NULL ||
	    t->path->state != PATH_UP || n > MUX_MAX_DGRAM)
		return -EAGAIN;
	mux_hdr_encode(hdr, MUX_DGRAM, 0, (uint16_t)n, id);
	return path_send_dgram(t->path, hdr, sizeof(hdr), p, n);
}

void
tunnel_path_dgram(struct tunnel *t, struct path *path, const uint8_t *frame,
    size_t len)
{
	struct mux_frame f;
	const char *why;

	/* Only the path in use speaks for the peer. */
	if (path != t->path || t->state != TUN_OPEN)
		return;
	if (mux_decode(frame, len, &f, &why) != 0 ||
	    f.hdr.type != MUX_DGRAM || MUX_HDR_LEN + (size_t)f.hdr.len != len) {
		tunnel_close(t, MUX_R_PROTOCOL, "malformed datagram frame "
		    "outside the stream: %s", f.hdr.type != MUX_DGRAM ?
		    "not DGRAM" : why);
		return;
	}
	udp_on_dgram(tunnel_find_stream(t, f.hdr.stream), &f);
}

int
tunnel_data_reserve(struct tunnel *t, size_t n, uint8_t **p)
{
	return buf_reserve(&t->out, n, p);
}

void
tunnel_data_commit(struct tunnel *t, size_t n)
{
	buf_commit(&t->out, n);
}

size_t
tunnel_data_tail_room(const struct tunnel *t)
{
	return buf_tail_room(&t->out);
}

/* ---- life and death ---- */

void
tunnel_free(void *arg)
{
	struct tunnel *t = arg;

	/* Its bytes stay in the portal's totals (/metrics). */
	t->p->closed_bytes_out += t->tx_acked + t->out_sent;
	t->p->closed_bytes_in += t->rx_seq;
	if (t->flush_ev)
		event_free(t->flush_ev);
	loop_timer_free(t->timer);
	path_free(t->path);
	while (t->ncand > 0)
		path_free(t->cand[--t->ncand]);
	buf_release(&t->in);
	buf_release(&t->out);
	buf_release(&t->ctl);
	hmap_release(&t->streams);
	free(t);
}

/* Resets every stream of a dying tunnel, locally only. */
static void
tunnel_abort_streams(struct tunnel *t, uint16_t code, const char *why)
{
	struct hmap_node *n, *next;
	struct stream *s;
	size_t iter = 0;

	while ((s = TAILQ_FIRST(&t->waiting)) != NULL)
		stream_reset(s, code, "%s", why);
	for (n = hmap_first(&t->streams, &iter); n; n = next) {
		next = hmap_next(&t->streams, n, &iter);
		stream_reset(hmap_entry(n, struct stream, node), code, "%s",
		    why);
	}
}

void
tunnel_close(struct tunnel *t, uint16_t code, const char *fmt, ...)
{
	struct portal *p = t->p;
	char why[256];
	va_list ap;

	if (t->state == TUN_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_info(&t->log, "tunnel %s to portal/%s closed (%s): %s (rtt %u ms)",
	    t->tid[0] ? t->tid : "-", t->peer, t->state == TUN_CONNECTING &&
	    t->path ? path_phase(t->path) : tunnel_state_names[t->state],
	    why, t->rtt_ms);
	buf_reset(&t->out);
	t->out_sent = 0;
	t->out_frame_left = 0;
	if (t->path) {
		/* Tell the peer why, if the path still takes it. */
		if (t->state == TUN_OPEN &&
		    mux_put_goaway(&t->out, code, why) == 0)
			path_close(t->path, buf_data(&t->out),
			    buf_len(&t->out));
		else
			path_close(t->path, NULL, 0);
		buf_reset(&t->out);
	}
	for (size_t i = 0; i < t->ncand; i++)
		path_close(t->cand[i], NULL, 0);
	t->state = TUN_CLOSED;
	event_del(t->flush_ev);
	loop_timer_cancel(t->timer);
	tunnel_abort_streams(t, code, why);
	TAILQ_REMOVE(&p->tunnels, t, entry);
	loop_defer_free(p->loop, &t->defer, tunnel_free, t);
}

struct tunnel *
tunnel_new(struct portal *p, const char *peer, int initiator)
{
	struct tunnel *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	/* Same priority as the I/O events: runs after those already due. */
	t->flush_ev = event_new(loop_base(p->loop), -1, 0, tunnel_flush_cb, t);
	if (t->flush_ev == NULL) {
		free(t);
		return NULL;
	}
	t->p = p;
	t->initiator = initiator;
	t->next_stream = initiator ? 1 : 2;
	snprintf(t->peer, sizeof(t->peer), "%s", peer);
	snprintf(t->peer_str, sizeof(t->peer_str), "portal/%s", peer);
	t->log.conn_id = loop_next_conn_id();
	t->log.peer = t->peer_str;
	buf_init(&t->in, TUNNEL_IN_MAX);
	buf_init(&t->out, TUNNEL_OUT_MAX);
	/* An ACK and a RESUME at most. */
	buf_init(&t->ctl, 2 * (MUX_HDR_LEN + 8));
	hmap_init(&t->streams);
	TAILQ_INIT(&t->waiting);
	TAILQ_INIT(&t->blocked);
	TAILQ_INIT(&t->udp.done);
	t->created_ms = loop_now_ms();
	t->window_budget = TUNNEL_WINDOW_BUDGET;
	return t;
}

/*
 * How good a path is, for choosing among those that come up: a LAN path
 * first (direct TCP there, with the kernel's offloads, before QUIC, unless
 * direct.quic says prefer), then
 * QUIC across NATs (no head-of-line blocking across the tunnel's streams,
 * congestion control that does not take loss for congestion), then
 * direct TCP, then a relay: over UDP (QUIC) before TCP.
 */
static int
tunnel_path_rank(const struct path *p)
{
	if (strcmp(p->kind, "direct") != 0)
		return p->quic;		/* a relay: over UDP (QUIC) or TCP */
	if (p->lan && p->t->p->conf->direct_quic == PORTAL_QUIC_PREFER)
		return 4 + p->quic;
	if (p->lan)
		return 5 - p->quic;
	return 2 + p->quic;
}

/*
 * The initiator's best candidate that is up and ranks above the path in
 * use, or NULL.  One that came up before the tunnel was open waited: the
 * first path comes first.
 */
static struct path *
tunnel_best_up(const struct tunnel *t)
{
	struct path *best = NULL;
	size_t i;

	if (!t->initiator || t->state != TUN_OPEN || t->path == NULL)
		return NULL;
	for (i = 0; i < t->ncand; i++)
		if (t->cand[i]->state == PATH_UP &&
		    tunnel_path_rank(t->cand[i]) > tunnel_path_rank(best ?
		    best : t->path))
			best = t->cand[i];
	return best;
}

/*
 * An open tunnel's timer: the earliest of the next PING and the dead-path
 * deadline (last receive + tunnel.dead_timeout), so that a dead path is
 * found at its deadline, not at the next keepalive tick after it.
 */
static void
tunnel_arm(struct tunnel *t)
{
	uint64_t now = loop_now_ms(), next = t->next_ping_ms;
	uint64_t dead = t->last_rx_ms + (uint64_t)t->p->conf->tunnel_dead_timeout;

	if (t->state == TUN_RESUMING) {
		/* The deadline; the initiator also asks again meanwhile. */
		next = t->resume_deadline_ms;
		if (t->initiator && t->path == NULL &&
		    t->resume_asked_ms + TUNNEL_RESUME_RETRY_MS < next)
			next = t->resume_asked_ms + TUNNEL_RESUME_RETRY_MS;
		loop_timer_arm(t->timer, next > now ? next - now : 0);
		return;
	}
	if (dead < next)
		next = dead;
	if (t->idle_since_ms && !t->released &&
	    t->idle_since_ms + TUNNEL_RELEASE_MS < next)
		next = t->idle_since_ms + TUNNEL_RELEASE_MS;
	if (t->ack_due_ms && t->ack_due_ms < next)
		next = t->ack_due_ms;
	if (t->direct_retry_ms && t->direct_retry_ms < next)
		next = t->direct_retry_ms;
	for (size_t i = 0; i < t->ncand; i++) {
		uint64_t until = t->cand[i]->started_ms +
		    (uint64_t)t->p->conf->tunnel_setup_timeout;

		if (t->cand[i]->state == PATH_SETUP && until < next)
			next = until;
	}
	if (tunnel_best_up(t) != NULL)
		next = now;		/* move to it at once */
	loop_timer_arm(t->timer, next > now ? next - now : 0);
}

/*
 * Frees the frame buffers (t->in, t->out) that are empty and larger than
 * above; 1 when it freed any.  Never from inside tunnel_read(), whose
 * frames live in t->in while they are processed.
 */
static int
tunnel_give_back(struct tunnel *t, size_t above)
{
	struct buf *bufs[] = { &t->in, &t->out };
	size_t i;
	int freed = 0;

	for (i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
		if (buf_len(bufs[i]) == 0 && bufs[i]->cap > above) {
			buf_release(bufs[i]);
			freed = 1;
		}
	}
	return freed;
}

/*
 * Gives the buffers of an idle tunnel back: ours, its path's, and then the
 * whole free pages of the heap, which after a transfer hold megabytes that
 * malloc would otherwise keep for the next one.
 */
static void
tunnel_release_buffers(struct tunnel *t)
{
	(void)tunnel_give_back(t, 0);
	if (t->path)
		path_release(t->path);
	heap_trim();
	t->released = 1;
}

/* The setup deadline, then the keepalive / dead-path / idle tick. */
static void
tunnel_timer_cb(struct loop_timer *timer, void *arg)
{
	struct tunnel *t = arg;
	struct portal_conf *c = t->p->conf;
	uint64_t now = loop_now_ms();
	struct path *best;

	if (t->state == TUN_RESUMING) {
		if (now >= t->resume_deadline_ms) {
			tunnel_close(t, MUX_R_PEER_GONE, "no new path within "
			    "%lld ms (tunnel.resume_timeout); the path was "
			    "lost: %s", c->tunnel_resume_timeout, t->lost_why);
			return;
		}
		if (t->initiator && t->path == NULL &&
		    now - t->resume_asked_ms >= TUNNEL_RESUME_RETRY_MS)
			tunnel_resume_ask(t);
		tunnel_arm(t);
		return;
	}
	if (t->state != TUN_OPEN) {
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "not up within %lld ms",
		    c->tunnel_setup_timeout);
		return;
	}
	if (now - t->last_rx_ms >= (uint64_t)c->tunnel_dead_timeout) {
		char why[96];

		snprintf(why, sizeof(why), "nothing received for %llu ms "
		    "(tunnel.dead_timeout)",
		    (unsigned long long)(now - t->last_rx_ms));
		tunnel_lose_path(t, why);
		return;
	}
	if (t->ack_due_ms && now >= t->ack_due_ms) {
		t->ack_now = 1;
		if (tunnel_flush(t) != 0 || t->state != TUN_OPEN)
			return;
	}
	tunnel_cand_expire(t, now);
	if ((best = tunnel_best_up(t)) != NULL) {
		tunnel_adopt(t, best);
		tunnel_path_up(t, best);
		return;
	}
	if (t->direct_retry_ms && now >= t->direct_retry_ms) {
		/* A fresh grant brings a fresh ticket and the candidates. */
		t->direct_retry_ms = 0;
		t->request_id = portal_ctl_request_tunnel(t->p, t->rule, t->id);
		log_debug(&t->log, "tunnel %s: trying direct paths again",
		    t->tid);
	}
	/* Only the side that opens streams decides that a tunnel is idle. */
	if (t->initiator && t->idle_since_ms &&
	    now - t->idle_since_ms >= (uint64_t)c->tunnel_idle_timeout) {
		tunnel_close(t, MUX_R_IDLE, "no streams for %lld ms "
		    "(tunnel.idle_timeout)", c->tunnel_idle_timeout);
		return;
	}
	if (t->idle_since_ms &&
	    now - t->idle_since_ms >= TUNNEL_RELEASE_MS)
		tunnel_release_buffers(t);
	if (now >= t->next_ping_ms) {
		t->ping_value = now;
		t->ping_sent_ms = now;
		t->next_ping_ms = now + (uint64_t)c->tunnel_keepalive;
		if (mux_put_ping(&t->out, 0, t->ping_value) != 0) {
			tunnel_close(t, MUX_R_INTERNAL, "cannot queue a ping");
			return;
		}
		if (tunnel_flush(t) != 0)
			return;
	}
	tunnel_arm(t);
}

int
tunnel_arm_setup(struct tunnel *t)
{
	if ((t->timer = loop_timer_new(t->p->loop, tunnel_timer_cb,
	    t)) == NULL)
		return -ENOMEM;
	loop_timer_arm(t->timer, (uint64_t)t->p->conf->tunnel_setup_timeout);
	return 0;
}

/* Frees a path once the current callbacks are done with it. */
static void
tunnel_path_free_cb(void *arg)
{
	path_free(arg);
}

/*
 * Lets go of the tunnel's path: stops its I/O without a TLS close (the
 * peer sees its transport end, a lost path, not a closed tunnel) and frees
 * it after this loop turn.
 */
static void
tunnel_drop_path(struct tunnel *t)
{
	struct path *path = t->path;

	if (path == NULL)
		return;
	t->path = NULL;
	path_close(path, NULL, 0);
	loop_defer_free(t->p->loop, &path->defer, tunnel_path_free_cb, path);
}

/* The initiator asks the server for a new path of this tunnel. */
static void
tunnel_resume_ask(struct tunnel *t)
{
	t->resume_asked_ms = loop_now_ms();
	t->request_id = portal_ctl_request_tunnel(t->p, t->rule, t->id);
	if (t->request_id == 0)
		log_debug(&t->log, "tunnel %s: no session with the server to "
		    "ask for a new path; asking again in %d ms", t->tid,
		    TUNNEL_RESUME_RETRY_MS);
}

/* 1 when a candidate path of t is up (TLS done, the peer verified). */
static int
tunnel_has_cand_up(const struct tunnel *t)
{
	size_t i;

	for (i = 0; i < t->ncand; i++)
		if (t->cand[i]->state == PATH_UP)
			return 1;
	return 0;
}

/*
 * The path died while the peer may well be alive: keep the streams and
 * look for a new path, unless resuming is off, the peer said it is going
 * away, or this portal is stopping.
 */
static void
tunnel_lose_path(struct tunnel *t, const char *why)
{
	const struct portal_conf *c = t->p->conf;
	uint64_t now = loop_now_ms();

	if (t->state != TUN_OPEN && t->state != TUN_RESUMING)
		return;
	if (t->goaway || c->tunnel_resume_timeout == 0 || t->p->stopping) {
		tunnel_close(t, MUX_R_PEER_GONE, "%s", why);
		return;
	}
	snprintf(t->lost_why, sizeof(t->lost_why), "%s", why);
	if (t->state == TUN_OPEN) {
		if (!t->initiator && tunnel_has_cand_up(t))
			/* The initiator is moving the tunnel to a candidate
			 * that is up: its RESUME there is due, no loss. */
			log_debug(&t->log, "tunnel %s: the old path (%s %s) "
			    "closed: %s; a candidate is up, waiting for the "
			    "initiator's RESUME on it", t->tid,
			    t->path ? t->path->kind : "-",
			    t->path ? t->path->addr : "-", why);
		else
			log_info(&t->log, "tunnel %s to portal/%s lost its "
			    "path (%s %s): %s; its %zu streams wait up to %lld "
			    "ms for a new one (tunnel.resume_timeout)", t->tid,
			    t->peer, t->path ? t->path->kind : "-",
			    t->path ? t->path->addr : "-", why, t->nstreams,
			    c->tunnel_resume_timeout);
		t->state = TUN_RESUMING;
		t->path_lost_ms = now;
		t->resume_deadline_ms = now + (uint64_t)c->tunnel_resume_timeout;
		t->replay_max = t->out_sent;
	} else
		log_info(&t->log, "tunnel %s to portal/%s: the new path failed: "
		    "%s", t->tid, t->peer, why);
	tunnel_drop_path(t);
	/* All that was sent and not acknowledged goes again. */
	t->out_sent = 0;
	t->out_frame_left = 0;
	buf_reset(&t->in);	/* a partial frame of the dead path */
	buf_reset(&t->ctl);
	t->resume_sent = 0;
	t->ack_due_ms = 0;
	t->ack_now = 0;
	t->request_id = 0;
	if (t->initiator)
		tunnel_resume_ask(t);
	tunnel_arm(t);
}

void
tunnel_resume_later(struct tunnel *t, const char *why)
{
	log_info(&t->log, "tunnel %s to portal/%s: no new path yet: %s; "
	    "asking again in %d ms", t->tid, t->peer, why,
	    TUNNEL_RESUME_RETRY_MS);
	t->request_id = 0;
}

/* ---- candidate paths ---- */

/* The status line of a direct attempt: found by address and kind. */
static void
tunnel_try_note(struct tunnel *t, const struct path *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
tunnel_try_note(struct tunnel *t, const struct path *p, const char *fmt, ...)
{
	struct tunnel_try *tr = NULL;
	va_list ap;
	size_t i;

	/* Direct attempts, and QUIC through the relay. */
	if (strcmp(p->kind, "direct") != 0 && !p->quic)
		return;
	for (i = 0; i < t->ntries && tr == NULL; i++)
		if (strcmp(t->tries[i].addr, p->addr) == 0 &&
		    strcmp(t->tries[i].how, p->via) == 0)
			tr = &t->tries[i];
	if (tr == NULL) {
		/* Full: the oldest goes. */
		if (t->ntries == TUNNEL_MAX_TRIES) {
			memmove(&t->tries[0], &t->tries[1],
			    (TUNNEL_MAX_TRIES - 1) * sizeof(t->tries[0]));
			t->ntries--;
		}
		tr = &t->tries[t->ntries++];
		snprintf(tr->addr, sizeof(tr->addr), "%s", p->addr);
		snprintf(tr->how, sizeof(tr->how), "%s", p->via);
	}
	va_start(ap, fmt);
	vsnprintf(tr->result, sizeof(tr->result), fmt, ap);
	va_end(ap);
}

static int
tunnel_cand_index(const struct tunnel *t, const struct path *p)
{
	size_t i;

	for (i = 0; i < t->ncand; i++)
		if (t->cand[i] == p)
			return (int)i;
	return -1;
}

/* Takes candidate p off the list (it is not freed). */
static void
tunnel_cand_take(struct tunnel *t, struct path *p)
{
	int i = tunnel_cand_index(t, p);

	if (i < 0)
		return;
	memmove(&t->cand[i], &t->cand[i + 1],
	    (t->ncand - (size_t)i - 1) * sizeof(t->cand[0]));
	t->ncand--;
}

/* Stops a candidate and frees it after this loop turn. */
static void
tunnel_cand_drop(struct tunnel *t, struct path *p, const char *why)
{
	tunnel_cand_take(t, p);
	tunnel_try_note(t, p, "%s", why);
	log_debug(&t->log, "tunnel %s: %s path %s (%s) given up: %s", t->tid,
	    p->kind, p->addr, p->via, why);
	path_close(p, NULL, 0);
	loop_defer_free(t->p->loop, &p->defer, tunnel_path_free_cb, p);
}

void
tunnel_add_candidate(struct tunnel *t, struct path *path)
{
	if (t->state == TUN_CLOSED || t->ncand == TUNNEL_MAX_CANDIDATES) {
		path_free(path);
		return;
	}
	t->cand[t->ncand++] = path;
	tunnel_try_note(t, path, "connecting");
	log_debug(&t->log, "tunnel %s: trying %s path %s (%s)", t->tid,
	    path->kind, path->addr, path->via);
	path_start(path);
}

void
tunnel_take_ticket(struct tunnel *t, const struct proto_msg *g)
{
	t->granted_ms = loop_now_ms();
	t->direct_off = g->direct_off != 0;
	if (t->direct_off) {
		/* No direct dial is let in for this tunnel. */
		t->ticket_len = 0;
		return;
	}
	memcpy(t->ticket, g->ticket, g->ticket_len);
	t->ticket_len = g->ticket_len;
	t->ticket_expires = g->expires;
	portal_direct_granted(t->p);
}

void
tunnel_allow_direct(struct tunnel *t)
{
	t->direct_off = 0;
	t->direct_failures = 0;
	/* The initiator asks for a fresh grant, with candidates, at once. */
	if (t->initiator && t->state == TUN_OPEN && t->path != NULL &&
	    strcmp(t->path->kind, "direct") != 0) {
		log_info(&t->log, "tunnel %s to portal/%s: direct paths are "
		    "allowed again; trying them", t->tid, t->peer);
		t->direct_retry_ms = loop_now_ms();
		tunnel_arm(t);
	}
}

void
tunnel_leave_direct(struct tunnel *t, const char *why)
{
	size_t i = 0;

	t->direct_off = 1;
	t->ticket_len = 0;
	while (i < t->ncand) {
		if (strcmp(t->cand[i]->kind, "direct") == 0)
			tunnel_cand_drop(t, t->cand[i], why);
		else
			i++;
	}
	if (t->path != NULL && strcmp(t->path->kind, "direct") == 0)
		tunnel_lose_path(t, why);
}

/*
 * Makes candidate p the tunnel's path: the old one stops (no TLS close:
 * the peer takes it for a lost path), and the tunnel resumes on p (RESUME
 * both ways, replay).  The initiator, which chooses, also stops the other
 * candidates, except better ones still being set up: when one of those
 * comes up the tunnel moves again.  The acceptor keeps its candidates:
 * the initiator closes the ones it does not want.
 */
static void
tunnel_adopt(struct tunnel *t, struct path *p)
{
	const struct portal_conf *c = t->p->conf;
	uint64_t now = loop_now_ms(), wait;
	size_t i = 0;

	tunnel_cand_take(t, p);
	tunnel_try_note(t, p, "chosen");
	tunnel_drop_path(t);
	while (t->initiator && i < t->ncand) {
		if (t->cand[i]->state == PATH_SETUP &&
		    tunnel_path_rank(t->cand[i]) > tunnel_path_rank(p))
			i++;
		else
			tunnel_cand_drop(t, t->cand[i], "not needed: another "
			    "path was chosen");
	}
	t->path = p;
	if (t->state != TUN_RESUMING) {
		/* Sent on the old path and not acknowledged: replayed. */
		t->replay_max = t->state == TUN_OPEN ? t->out_sent : 0;
		t->path_lost_ms = now;
		wait = (uint64_t)(c->tunnel_resume_timeout >
		    c->tunnel_setup_timeout ? c->tunnel_resume_timeout :
		    c->tunnel_setup_timeout);
		t->resume_deadline_ms = now + wait;
		snprintf(t->lost_why, sizeof(t->lost_why), "moving to %s path "
		    "%s", p->kind, p->addr);
		t->state = TUN_RESUMING;
	}
	if (strcmp(p->kind, "direct") == 0) {
		t->direct_failures = 0;
		t->direct_retry_ms = 0;
	}
	t->out_sent = 0;
	t->out_frame_left = 0;
	buf_reset(&t->in);
	buf_reset(&t->ctl);
	t->resume_sent = 0;
	t->ack_due_ms = 0;
	t->ack_now = 0;
	tunnel_arm(t);
}

/*
 * Candidates not up within tunnel.setup_timeout are given up: a peer
 * behind a firewall that drops our packets never answers at all.
 */
static void
tunnel_cand_expire(struct tunnel *t, uint64_t now)
{
	const uint64_t limit = (uint64_t)t->p->conf->tunnel_setup_timeout;
	size_t i = 0;
	int dropped = 0;

	while (i < t->ncand) {
		struct path *p = t->cand[i];

		if (p->state == PATH_SETUP && now - p->started_ms >= limit) {
			tunnel_cand_drop(t, p, "no answer within "
			    "tunnel.setup_timeout (packets dropped on the way?)");
			dropped = 1;
			continue;
		}
		i++;
	}
	if (dropped)
		tunnel_plan_direct_retry(t);
}

/*
 * After every candidate of a grant failed, the initiator plans another
 * try with a fresh grant, later and later.
 */
static void
tunnel_plan_direct_retry(struct tunnel *t)
{
	uint64_t delay = (uint64_t)t->p->conf->direct_retry;
	unsigned i;

	if (!t->initiator || t->ncand > 0 || t->ntries == 0 ||
	    t->state != TUN_OPEN || strcmp(t->path->kind, "direct") == 0)
		return;
	t->direct_failures++;
	for (i = 1; i < t->direct_failures && delay < TUNNEL_DIRECT_RETRY_MAX;
	    i++)
		delay *= 2;
	if (delay > TUNNEL_DIRECT_RETRY_MAX)
		delay = TUNNEL_DIRECT_RETRY_MAX;
	t->direct_retry_ms = loop_now_ms() + delay;
	log_info(&t->log, "tunnel %s to portal/%s stays on %s %s: no direct "
	    "path (netport status tells why); trying again in %llu s",
	    t->tid, t->peer, t->path->kind, t->path->addr,
	    (unsigned long long)(delay / 1000));
	tunnel_arm(t);
}

/*
 * A candidate is up (TLS done, the peer verified).  The initiator
 * chooses: once the tunnel is open (or has lost its path), the first
 * candidate up becomes its path.  The acceptor follows the initiator: it
 * takes the candidate on which the initiator's RESUME arrives.
 */
static void
tunnel_cand_up(struct tunnel *t, struct path *p)
{
	struct path *best;

	tunnel_try_note(t, p, "up");
	if (!t->initiator) {
		if (path_pending(p))
			tunnel_path_readable(t, p);
		return;
	}
	if (t->state != TUN_OPEN && t->state != TUN_RESUMING)
		return;		/* the first path comes first: tunnel_best_up */
	if (t->state == TUN_OPEN) {
		/* Another may have come up while the tunnel was opening. */
		if ((best = tunnel_best_up(t)) == NULL) {
			tunnel_cand_drop(t, p, "not needed: the path in use "
			    "is as good");
			return;
		}
		p = best;
	} else if (t->path != NULL && t->path->state == PATH_UP &&
	    tunnel_path_rank(p) <= tunnel_path_rank(t->path)) {
		tunnel_cand_drop(t, p, "not needed: the path in use is as "
		    "good");
		return;
	}
	tunnel_adopt(t, p);
	tunnel_path_up(t, p);
}

/* The acceptor reads a candidate's first frame: the initiator's RESUME. */
static void
tunnel_cand_readable(struct tunnel *t, struct path *p)
{
	struct mux_frame f;
	const char *why;
	ssize_t n;

	n = path_read(p, p->first + p->first_len,
	    sizeof(p->first) - p->first_len);
	if (n < 0) {
		tunnel_cand_drop(t, p, p->why);
		return;
	}
	p->first_len += (size_t)n;
	if (p->first_len < sizeof(p->first))
		return;
	if (mux_decode(p->first, sizeof(p->first), &f, &why) != 0 ||
	    f.hdr.type != MUX_RESUME) {
		tunnel_cand_drop(t, p, "the peer's first frame on it was not "
		    "RESUME");
		return;
	}
	if (f.path_no <= t->path_no) {
		/* Sent before the RESUME that brought the path in use. */
		tunnel_cand_drop(t, p, "the initiator had moved on: its RESUME "
		    "here came after the one of a newer path");
		return;
	}
	tunnel_adopt(t, p);
	if (tunnel_on_resume(t, f.seq, f.path_no) != 0)
		return;
	/* Frames behind the RESUME wait in the path's buffers. */
	if (path_pending(p))
		tunnel_read(t);
}

void
tunnel_start_path(struct tunnel *t, const struct proto_msg *g,
    struct path *path)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (t->tid[0] == '\0') {
		memcpy(t->id, g->tunnel_id, sizeof(t->id));
		for (i = 0; i < PROTO_TUNNEL_ID_LEN; i++) {
			t->tid[2 * i] = hex[g->tunnel_id[i] >> 4];
			t->tid[2 * i + 1] = hex[g->tunnel_id[i] & 15];
		}
		t->tid[2 * PROTO_TUNNEL_ID_LEN] = '\0';
	}
	log_info(&t->log, "tunnel %s to portal/%s %s (rule %s, %s side): "
	    "%s %s at %s", t->tid, t->peer, t->state == TUN_RESUMING ?
	    "gets a new path" : "granted", g->rule[0] ? g->rule : "-",
	    t->initiator ? "client" : "service", path->kind, g->relay_name,
	    g->relay);
	t->path = path;
	if (t->state != TUN_RESUMING)
		t->state = TUN_CONNECTING;
	path_start(path);
}

/* ---- the path's reports ---- */

/* Streams that waited for the tunnel start now; then all is sent. */
static void
tunnel_start_waiting(struct tunnel *t)
{
	struct stream *s;

	while ((s = TAILQ_FIRST(&t->waiting)) != NULL) {
		TAILQ_REMOVE(&t->waiting, s, qentry);
		t->nwaiting--;
		s->queue = 0;
		stream_start(s);
		if (t->state != TUN_OPEN)
			return;
	}
	tunnel_flush(t);
}

void
tunnel_path_up(struct tunnel *t, struct path *path)
{
	char tls[128];

	if (path != t->path) {
		if (tunnel_cand_index(t, path) >= 0)
			tunnel_cand_up(t, path);
		return;
	}
	if (t->state == TUN_RESUMING) {
		/*
		 * The initiator says how much arrived, and replays once the
		 * peer says the same; the acceptor answers the initiator's.
		 */
		if (!t->initiator) {
			t->last_rx_ms = loop_now_ms();
			if (path_pending(path))
				tunnel_read(t);
			return;
		}
		if (mux_put_resume(&t->ctl, t->rx_seq, t->path_no + 1) != 0) {
			tunnel_close(t, MUX_R_INTERNAL, "cannot queue RESUME");
			return;
		}
		t->path_no++;
		t->resume_sent = 1;
		t->last_rx_ms = loop_now_ms();
		log_debug(&t->log, "tunnel %s: new path via %s %s is up; "
		    "received %llu bytes so far", t->tid, path->kind,
		    path->addr, (unsigned long long)t->rx_seq);
		if (tunnel_flush(t) != 0 || t->path != path)
			return;
		if (path_pending(path))
			tunnel_read(t);
		return;
	}
	t->state = TUN_OPEN;
	t->last_rx_ms = loop_now_ms();
	if (t->nstreams == 0 && t->nwaiting == 0)
		t->idle_since_ms = t->last_rx_ms;
	path->ops->tls_info(path, tls, sizeof(tls));
	log_info(&t->log, "tunnel %s to portal/%s up via %s %s (%s, %llu ms)",
	    t->tid, t->peer, path->kind, path->addr, tls,
	    (unsigned long long)(loop_now_ms() - t->created_ms));
	loop_timer_cancel(t->timer);
	t->next_ping_ms = t->last_rx_ms + (uint64_t)t->p->conf->tunnel_keepalive;
	tunnel_arm(t);
	/*
	 * The record that finished the handshake may have arrived together
	 * with the peer's first frames: they sit in the path's buffers and no
	 * event will announce them.
	 */
	if (path_pending(path)) {
		tunnel_read(t);
		if (t->state != TUN_OPEN)
			return;
	}
	tunnel_start_waiting(t);
	/* The best direct path that came up first takes over at once. */
	if (t->initiator && t->state == TUN_OPEN) {
		struct path *c = tunnel_best_up(t);

		if (c != NULL) {
			tunnel_adopt(t, c);
			tunnel_path_up(t, c);
			return;
		}
		/* Every candidate failed already: plan the next try. */
		tunnel_plan_direct_retry(t);
	}
}

/* The peer's RESUME on the new path: replay from where it says. */
static int
tunnel_on_resume(struct tunnel *t, uint64_t seq, uint32_t path_no)
{
	uint64_t now = loop_now_ms();
	size_t drop;
	char tls[128];

	if (t->unknown) {
		tunnel_close(t, MUX_R_PEER_GONE, "the peer resumes a tunnel "
		    "that this portal does not have (it restarted, or gave "
		    "the tunnel up)");
		return -1;
	}
	if (t->state != TUN_RESUMING || (t->initiator && !t->resume_sent)) {
		tunnel_close(t, MUX_R_PROTOCOL, "RESUME from the peer out of "
		    "turn");
		return -1;
	}
	if (t->initiator && path_no != t->path_no) {
		tunnel_close(t, MUX_R_PROTOCOL, "the peer's RESUME names path "
		    "%u; this is path %u", path_no, t->path_no);
		return -1;
	}
	if (!t->resume_sent) {
		/* The acceptor answers with what it received. */
		if (mux_put_resume(&t->ctl, t->rx_seq, path_no) != 0) {
			tunnel_close(t, MUX_R_INTERNAL, "cannot queue RESUME");
			return -1;
		}
		t->path_no = path_no;
		t->resume_sent = 1;
	}
	if (seq < t->tx_acked || seq - t->tx_acked > t->replay_max) {
		tunnel_close(t, MUX_R_PROTOCOL, "the peer resumes at byte %llu, "
		    "outside what was sent (%llu acknowledged, %zu more sent)",
		    (unsigned long long)seq, (unsigned long long)t->tx_acked,
		    t->replay_max);
		return -1;
	}
	drop = (size_t)(seq - t->tx_acked);
	buf_consume(&t->out, drop);
	t->tx_acked = seq;
	t->out_sent = 0;
	t->out_frame_left = 0;
	t->state = TUN_OPEN;
	t->resumes++;
	t->last_rx_ms = now;
	t->next_ping_ms = now + (uint64_t)t->p->conf->tunnel_keepalive;
	t->path->ops->tls_info(t->path, tls, sizeof(tls));
	if (strcmp(t->path->kind, "direct") == 0)
		log_info(&t->log, "tunnel %s to portal/%s now direct: %s (%s, "
		    "%s); the move took %llu ms, %llu ms after the grant, "
		    "replaying %zu bytes, %zu streams kept", t->tid, t->peer,
		    t->path->addr, t->path->via, tls,
		    (unsigned long long)(now - t->path_lost_ms),
		    (unsigned long long)(now - t->granted_ms),
		    t->replay_max - drop, t->nstreams);
	else if (strncmp(t->lost_why, "moving to ", 10) == 0)
		/* A move chosen by rank (to QUIC through the relay), no loss. */
		log_info(&t->log, "tunnel %s to portal/%s now via %s %s (%s, "
		    "%s); the move took %llu ms, replaying %zu bytes, %zu "
		    "streams kept", t->tid, t->peer, t->path->kind,
		    t->path->addr, t->path->via, tls,
		    (unsigned long long)(now - t->path_lost_ms),
		    t->replay_max - drop, t->nstreams);
	else
		log_info(&t->log, "tunnel %s to portal/%s resumed via %s %s "
		    "(%s) after %llu ms without a path; replaying %zu bytes, "
		    "%zu streams kept", t->tid, t->peer, t->path->kind,
		    t->path->addr, tls,
		    (unsigned long long)(now - t->path_lost_ms),
		    t->replay_max - drop, t->nstreams);
	tunnel_arm(t);
	tunnel_start_waiting(t);
	return t->state == TUN_OPEN ? 0 : -1;
}

/* The peer acknowledges seq bytes: what it has no longer needs keeping. */
static int
tunnel_on_ack(struct tunnel *t, uint64_t seq)
{
	size_t drop;

	if (seq < t->tx_acked || seq - t->tx_acked > t->out_sent) {
		tunnel_close(t, MUX_R_PROTOCOL, "the peer acknowledges byte "
		    "%llu, outside what was sent (%llu acknowledged, %zu more "
		    "sent)", (unsigned long long)seq,
		    (unsigned long long)t->tx_acked, t->out_sent);
		return -1;
	}
	drop = (size_t)(seq - t->tx_acked);
	buf_consume(&t->out, drop);
	t->out_sent -= drop;
	t->tx_acked = seq;
	/*
	 * All acknowledged after a transfer: the megabytes the replay kept
	 * go back now, not only once the tunnel idles (a live UDP flow would
	 * keep it from idling for good).  Such a block is its own mapping.
	 */
	if (buf_len(&t->out) == 0 && t->out.cap > TUNNEL_BULK_BUF)
		buf_release(&t->out);
	/* Streams paused on a full retention may go on. */
	if (!TAILQ_EMPTY(&t->blocked))
		tunnel_flush_soon(t);
	return 0;
}

void
tunnel_path_readable(struct tunnel *t, struct path *path)
{
	if (path != t->path) {
		if (!t->initiator && t->state != TUN_CLOSED &&
		    tunnel_cand_index(t, path) >= 0)
			tunnel_cand_readable(t, path);
		return;
	}
	if (t->state == TUN_OPEN || t->state == TUN_RESUMING)
		tunnel_read(t);
}

void
tunnel_path_writable(struct tunnel *t, struct path *path)
{
	if (path == t->path)
		tunnel_flush_soon(t);
}

void
tunnel_path_failed(struct tunnel *t, struct path *path)
{
	if (path != t->path) {
		if (tunnel_cand_index(t, path) < 0)
			return;
		tunnel_cand_drop(t, path, path->why);
		tunnel_plan_direct_retry(t);
		return;
	}
	if (t->state == TUN_OPEN || t->state == TUN_RESUMING)
		tunnel_lose_path(t, path->why);
	else
		tunnel_close(t, MUX_R_TUNNEL_FAILED, "%s", path->why);
}

/* ---- frames from the peer ---- */

/*
 * Hands a DATA frame to its stream together with the DATA frames of the
 * same stream right behind it in t->in, so that the stream writes them
 * with one syscall.  Returns how many bytes of t->in that covered.
 */
static size_t
tunnel_take_data(struct tunnel *t, const struct mux_frame *first, size_t need)
{
	struct iovec iov[TUNNEL_DATA_BATCH];
	const uint8_t *p = buf_data(&t->in);
	size_t avail = buf_len(&t->in), total = first->hdr.len, next;
	struct mux_frame f;
	struct mux_hdr h;
	const char *why;
	int n = 1, fin = (first->hdr.flags & MUX_FLAG_FIN) != 0;

	iov[0].iov_base = (void *)(uintptr_t)first->data;
	iov[0].iov_len = first->hdr.len;
	while (!fin && n < TUNNEL_DATA_BATCH && avail - need >= MUX_HDR_LEN) {
		if (mux_hdr_decode(p + need, avail - need, &h) != 0 ||
		    h.type != MUX_DATA || h.stream != first->hdr.stream)
			break;
		next = MUX_HDR_LEN + (size_t)h.len;
		if (avail - need < next ||
		    mux_decode(p + need, next, &f, &why) != 0)
			break;	/* incomplete, or bad: the main loop decides */
		iov[n].iov_base = (void *)(uintptr_t)f.data;
		iov[n++].iov_len = f.hdr.len;
		total += f.hdr.len;
		fin = (f.hdr.flags & MUX_FLAG_FIN) != 0;
		need += next;
	}
	stream_on_data(tunnel_find_stream(t, first->hdr.stream), iov, n,
	    total, fin);
	return need;
}

/*
 * Handles the frames in t->in; returns -1 when the tunnel closed or lost
 * its path (the caller must stop reading).
 */
static int
tunnel_process(struct tunnel *t)
{
	struct path *path = t->path;
	struct mux_frame f;
	struct mux_hdr h;
	const char *why;
	size_t need;
	int r;

	while (buf_len(&t->in) >= MUX_HDR_LEN) {
		if ((r = mux_hdr_decode(buf_data(&t->in), buf_len(&t->in),
		    &h)) != 0) {
			tunnel_close(t, MUX_R_PROTOCOL, "bad frame header (type "
			    "%u, length %u): %s", buf_data(&t->in)[0],
			    (unsigned)(buf_data(&t->in)[2] << 8 |
			    buf_data(&t->in)[3]), np_strerror(r));
			return -1;
		}
		need = MUX_HDR_LEN + (size_t)h.len;
		if (buf_len(&t->in) < need)
			return 0;
		if (mux_decode(buf_data(&t->in), need, &f, &why) != 0) {
			tunnel_close(t, MUX_R_PROTOCOL, "malformed frame (type "
			    "%u, stream %u): %s", h.type, h.stream, why);
			return -1;
		}
		/* Before the peer's RESUME only RESUME and GOAWAY may come. */
		if (t->state == TUN_RESUMING && f.hdr.type != MUX_RESUME &&
		    f.hdr.type != MUX_GOAWAY) {
			tunnel_close(t, MUX_R_PROTOCOL, "frame of type %u on a "
			    "new path before RESUME", f.hdr.type);
			return -1;
		}
		switch (f.hdr.type) {
		case MUX_ACK:
			if (tunnel_on_ack(t, f.seq) != 0)
				return -1;
			break;
		case MUX_RESUME:
			if (tunnel_on_resume(t, f.seq, f.path_no) != 0)
				return -1;
			break;
		case MUX_DATA:
			need = tunnel_take_data(t, &f, need);
			break;
		case MUX_OPEN:
			stream_on_open(t, &f);
			break;
		case MUX_WINDOW:
			stream_on_window(tunnel_find_stream(t, f.hdr.stream),
			    f.increment);
			break;
		case MUX_RESET:
			stream_on_reset(tunnel_find_stream(t, f.hdr.stream),
			    f.code, f.reason);
			break;
		case MUX_PING:
			if (f.hdr.flags & MUX_FLAG_ACK) {
				if (f.ping == t->ping_value && t->ping_sent_ms) {
					t->rtt_ms = (uint32_t)(loop_now_ms() -
					    t->ping_sent_ms);
					portal_metrics_rtt(t);
				}
			} else if (mux_put_ping(&t->out, MUX_FLAG_ACK,
			    f.ping) != 0) {
				tunnel_close(t, MUX_R_INTERNAL, "cannot queue "
				    "a ping answer");
				return -1;
			}
			break;
		case MUX_DGRAM:
			udp_on_dgram(tunnel_find_stream(t, f.hdr.stream), &f);
			break;
		case MUX_GOAWAY:
			if (!t->goaway)
				log_info(&t->log, "peer is closing tunnel %s: "
				    "%s%s%s", t->tid, mux_reset_text(f.code),
				    f.reason[0] ? ": " : "", f.reason);
			t->goaway = 1;
			break;
		}
		if ((t->state != TUN_OPEN && t->state != TUN_RESUMING) ||
		    t->path != path)
			return -1;
		if (mux_is_sequenced(f.hdr.type))
			t->rx_seq += need;
		buf_consume(&t->in, need);
	}
	return 0;
}

/*
 * A read ended the path (rc < 0 from path_read): a TLS close from the
 * peer closes the tunnel; anything else (a reset, an EOF without a TLS
 * close, a corrupt record) is a lost path, and the tunnel looks for a new
 * one.
 */
static void
tunnel_read_failed(struct tunnel *t, ssize_t rc)
{
	char why[sizeof(t->path->why)];

	snprintf(why, sizeof(why), "%s", t->path->why);
	if (rc == NP_ECLOSED)
		tunnel_close(t, MUX_R_PEER_GONE, "%s", why);
	else
		tunnel_lose_path(t, why);
}

/*
 * Acknowledgements of what arrived: at once past TUNNEL_ACK_EVERY, else
 * with the next frames that leave anyway, else after TUNNEL_ACK_DELAY_MS.
 */
static void
tunnel_ack_after_read(struct tunnel *t)
{
	if (t->rx_seq == t->rx_acked)
		return;
	if (t->rx_seq - t->rx_acked >= TUNNEL_ACK_EVERY) {
		t->ack_now = 1;
		tunnel_flush_soon(t);
	} else if (t->ack_due_ms == 0) {
		t->ack_due_ms = loop_now_ms() + TUNNEL_ACK_DELAY_MS;
		tunnel_arm(t);
	}
}

/*
 * Decrypts records into t->in while they come and a whole one still fits,
 * and only then hands the frames on: a stream's consecutive DATA frames
 * then leave with one write to its socket instead of one per record.
 */
static void
tunnel_read(struct tunnel *t)
{
	struct path *path = t->path;
	uint8_t *p;
	ssize_t n;
	int i;

	for (i = 0; i < TUNNEL_READ_ROUNDS; i++) {
		if (buf_reserve(&t->in, TUNNEL_RECORD_MAX, &p) != 0) {
			/* Full of frames that wait for a record's room. */
			if (tunnel_process(t) != 0)
				return;
			if (buf_reserve(&t->in, TUNNEL_RECORD_MAX, &p) != 0) {
				tunnel_close(t, MUX_R_INTERNAL, "out of memory");
				return;
			}
		}
		n = path_read(path, p, TUNNEL_RECORD_MAX);
		if (n > 0) {
			buf_commit(&t->in, (size_t)n);
			if (i == 0)	/* once per batch is precise enough */
				t->last_rx_ms = loop_now_ms();
			continue;
		}
		/* Frames that came before the end or the error count. */
		if (tunnel_process(t) != 0)
			return;
		if (n < 0)
			tunnel_read_failed(t, n);
		else
			tunnel_ack_after_read(t);
		return;
	}
	if (tunnel_process(t) != 0)
		return;
	tunnel_ack_after_read(t);
	/* Yielded with records left in the path's buffers: come back. */
	if (path_pending(path))
		tunnel_flush_soon(t);
}

/* ---- frames to the peer ---- */

void
tunnel_flush_soon(struct tunnel *t)
{
	if (t->state != TUN_CLOSED)
		event_active(t->flush_ev, 0, 0);
}

/*
 * Reads what a yielding read left in the path's buffers, then flushes.  An
 * idle tunnel also gives back here what a bulk transfer grew.
 */
static void
tunnel_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel *t = arg;

	if ((t->state == TUN_OPEN || t->state == TUN_RESUMING) && t->path &&
	    t->path->state == PATH_UP && path_pending(t->path)) {
		tunnel_read(t);
		if (t->state != TUN_OPEN)
			return;
	}
	if (tunnel_flush(t) == 0 && t->state == TUN_OPEN && t->idle_since_ms &&
	    tunnel_give_back(t, TUNNEL_BULK_BUF))
		heap_trim();
}

/* Queues an ACK when one is due and the unsequenced buffer is free. */
static void
tunnel_maybe_ack(struct tunnel *t)
{
	if (t->rx_seq == t->rx_acked || buf_len(&t->ctl) > 0)
		return;
	/* Due now, or free: it rides with frames that leave anyway. */
	if (!t->ack_now && t->rx_seq - t->rx_acked < TUNNEL_ACK_EVERY &&
	    buf_len(&t->out) == t->out_sent)
		return;
	if (mux_put_ack(&t->ctl, t->rx_seq) != 0)
		return;
	t->rx_acked = t->rx_seq;
	t->ack_due_ms = 0;
	t->ack_now = 0;
}

/*
 * Hands bytes to the path until it takes no more; 0, or -1 when the path
 * broke (then lost: the caller stops).
 */
static int
tunnel_write(struct tunnel *t, const uint8_t *p, size_t len, size_t *taken)
{
	ssize_t n;

	*taken = 0;
	while (*taken < len) {
		n = path_write(t->path, p + *taken, len - *taken);
		if (n < 0) {
			tunnel_lose_path(t, t->path->why);
			return -1;
		}
		if (n == 0)
			break;
		*taken += (size_t)n;
	}
	return 0;
}

/*
 * Hands up to max bytes of the unsent frames to the path; 0, or -1 when
 * the path broke.  Keeps track of where the frame being sent ends, since
 * a path takes bytes, not frames, and an ACK may only go between frames.
 */
static int
tunnel_write_out(struct tunnel *t, size_t max)
{
	const uint8_t *p = buf_data(&t->out) + t->out_sent;
	size_t unsent = buf_len(&t->out) - t->out_sent, taken, adv, step;
	struct mux_hdr h;

	if (max > unsent)
		max = unsent;
	if (tunnel_write(t, p, max, &taken) != 0)
		return -1;
	for (adv = 0; adv < taken; adv += step) {
		if (t->out_frame_left == 0) {
			/* Our own frames: the header is whole and valid. */
			(void)mux_hdr_decode(p + adv, unsent - adv, &h);
			t->out_frame_left = MUX_HDR_LEN + (size_t)h.len;
		}
		step = taken - adv < t->out_frame_left ? taken - adv :
		    t->out_frame_left;
		t->out_frame_left -= step;
	}
	t->out_sent += taken;
	return 0;
}

int
tunnel_flush(struct tunnel *t)
{
	struct stream *s;
	size_t taken;
	int r, rounds;

	if (t->state == TUN_CLOSED)
		return -1;
	if ((t->state != TUN_OPEN && t->state != TUN_RESUMING) ||
	    t->path == NULL || t->path->state != PATH_UP)
		return 0;
	if (t->state == TUN_OPEN)
		tunnel_maybe_ack(t);
	for (rounds = 0; rounds < 2; rounds++) {
		/*
		 * Encrypt while the path keeps up; then send in one go.  The
		 * unsequenced frames (ACK, RESUME) go first; sequenced frames
		 * only once the tunnel is open (after the peer's RESUME).
		 */
		if (t->out_frame_left > 0 && buf_len(&t->ctl) > 0 &&
		    tunnel_write_out(t, t->out_frame_left) != 0)
			return 0;
		if (t->out_frame_left == 0) {
			if (tunnel_write(t, buf_data(&t->ctl),
			    buf_len(&t->ctl), &taken) != 0)
				return 0;
			buf_consume(&t->ctl, taken);
		}
		if (t->state == TUN_OPEN && buf_len(&t->ctl) == 0 &&
		    tunnel_write_out(t, SIZE_MAX) != 0)
			return 0;
		if ((r = path_push(t->path)) != 0) {
			tunnel_lose_path(t, t->path->why);
			return 0;
		}
		/* Room again: let paused streams read, then write that. */
		if (t->state != TUN_OPEN || TAILQ_EMPTY(&t->blocked) ||
		    !tunnel_out_roomy(t))
			break;
		while ((s = TAILQ_FIRST(&t->blocked)) != NULL &&
		    tunnel_out_roomy(t)) {
			TAILQ_REMOVE(&t->blocked, s, qentry);
			s->queue = 0;
			stream_resume(s);
			if (t->state != TUN_OPEN)
				return t->state == TUN_CLOSED ? -1 : 0;
		}
	}
	/*
	 * Frames are left while the path took everything it queued (no
	 * event will come): the encryption stopped at the path's limit, or
	 * the streams resumed last round added more.  Go on in the next turn
	 * of the loop, or, with every stream paused, nothing would ever send
	 * them (the tunnel would stall until its keepalive tick).  Streams
	 * paused on the retention wait for the peer's ACK instead.
	 */
	if (t->state == TUN_OPEN && path_writable(t->path) &&
	    (buf_len(&t->out) > t->out_sent || buf_len(&t->ctl) > 0 ||
	    (!TAILQ_EMPTY(&t->blocked) && tunnel_out_roomy(t))))
		tunnel_flush_soon(t);
	return 0;
}
