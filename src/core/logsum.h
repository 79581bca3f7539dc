/* SPDX-License-Identifier: MIT */
/*
 * Log summaries for events that a flood repeats: failed handshakes,
 * refused connections.  The first event of a (source, reason) pair is
 * logged in full by the caller; the ones that follow are only counted, and
 * once per window (LOGSUM_WINDOW_MS) a summary line says how many there
 * were: "37 handshakes from 192.0.2.7 failed in the last 10 s: REASON".
 * A pair that stays quiet for a whole window is forgotten, so its next
 * event is logged in full again.
 *
 * The table of pairs is capped (LOGSUM_MAX_ENTRIES): once full, events of
 * new pairs are folded into one count for "other sources", summarised the
 * same way, so an attacker with many addresses cannot grow it.
 *
 * At log level debug every event is logged in full (nothing is counted):
 * an operator who asks for debug lines wants each one.
 *
 * One instance per kind of event, on one loop's thread.
 */
#ifndef NETPORT_CORE_LOGSUM_H
#define NETPORT_CORE_LOGSUM_H

#include <stddef.h>

#include "core/log.h"

/* Summaries are written at most this often, and pairs forgotten after
 * one whole window without an event. */
#define LOGSUM_WINDOW_MS	10000
/*
 * Pairs tracked at once.  Enough for every source of a flood that a
 * reader can follow line by line; beyond it the counts are still right,
 * only no longer per source.
 */
#define LOGSUM_MAX_ENTRIES	256
/* The reason is kept up to this many bytes (longer ones are cut). */
#define LOGSUM_REASON_MAX	200

struct logsum;
struct loop;

/*
 * A summariser of "NOUN from SOURCE VERB" events, e.g. "handshakes" and
 * "failed"; both strings are borrowed (string literals).  Summaries are
 * logged at level.  With a loop, a timer writes them every window; with
 * NULL (tests), only logsum_flush() does.  NULL when out of memory.
 */
struct logsum	*logsum_new(struct loop *loop, const char *noun,
		    const char *verb, enum log_level level);
/* Writes the pending summaries and frees; NULL-safe. */
void		 logsum_free(struct logsum *ls);

/*
 * Notes one event from source (an address as net_addr_source() gives it)
 * for reason.  Returns 1 when the caller should log this event in full
 * (the first of its pair, or any when out of memory), 0 when it was
 * counted for the next summary.
 */
int		 logsum_note(struct logsum *ls, const char *source,
		    const char *reason);

/*
 * Ends a window: writes one summary line per pair with counted events and
 * one for the folded "other sources", and forgets the pairs that had none.
 */
void		 logsum_flush(struct logsum *ls);

/* Pairs tracked now (tests). */
size_t		 logsum_entries(const struct logsum *ls);

#endif
