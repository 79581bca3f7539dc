/* SPDX-License-Identifier: MIT */
/* Log summaries per source and reason; see logsum.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"
#include "core/logsum.h"
#include "core/loop.h"
#include "core/net.h"

struct logsum_entry {
	struct hmap_node	 node;
	char			 source[NET_SOURCE_STR_MAX];
	char			 reason[LOGSUM_REASON_MAX + 1];
	size_t			 count;		/* not yet summarised */
	int			 seen;		/* an event this window */
};

struct logsum {
	struct hmap		 entries;
	size_t			 nentries;
	const char		*noun;		/* borrowed */
	const char		*verb;		/* borrowed */
	enum log_level		 level;
	struct loop_timer	*timer;		/* NULL without a loop */
	/* Events of pairs that found the table full. */
	size_t			 folded;
	char			 folded_reason[LOGSUM_REASON_MAX + 1];
};

struct logsum_key {
	const char	*source;
	const char	*reason;
};

static int
logsum_entry_eq(const struct hmap_node *n, const void *key)
{
	const struct logsum_entry *e = hmap_entry_const(n,
	    struct logsum_entry, node);
	const struct logsum_key *k = key;

	return strcmp(e->source, k->source) == 0 &&
	    strcmp(e->reason, k->reason) == 0;
}

/* Hashes the pair as it is stored, so a reason cut to size still finds
 * its entry. */
static uint64_t
logsum_hash(const char *source, const char *reason)
{
	char buf[NET_SOURCE_STR_MAX + LOGSUM_REASON_MAX + 2];
	int n;

	n = snprintf(buf, sizeof(buf), "%.*s|%.*s", NET_SOURCE_STR_MAX - 1,
	    source, LOGSUM_REASON_MAX, reason);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	return hmap_hash_bytes(buf, (size_t)n);
}

static void
logsum_timer_cb(struct loop_timer *t, void *arg)
{
	struct logsum *ls = arg;

	logsum_flush(ls);
}

static void
logsum_arm(struct logsum *ls)
{
	if (ls->timer && !loop_timer_pending(ls->timer))
		loop_timer_arm(ls->timer, LOGSUM_WINDOW_MS);
}

struct logsum *
logsum_new(struct loop *loop, const char *noun, const char *verb,
    enum log_level level)
{
	struct logsum *ls;

	if ((ls = calloc(1, sizeof(*ls))) == NULL)
		return NULL;
	hmap_init(&ls->entries);
	ls->noun = noun;
	ls->verb = verb;
	ls->level = level;
	if (loop && (ls->timer = loop_timer_new(loop, logsum_timer_cb,
	    ls)) == NULL) {
		free(ls);
		return NULL;
	}
	return ls;
}

void
logsum_free(struct logsum *ls)
{
	struct hmap_node *n, *next;
	size_t iter = 0;

	if (ls == NULL)
		return;
	logsum_flush(ls);	/* counts not yet written would be lost */
	for (n = hmap_first(&ls->entries, &iter); n; n = next) {
		next = hmap_next(&ls->entries, n, &iter);
		hmap_remove(&ls->entries, n);
		free(hmap_entry(n, struct logsum_entry, node));
	}
	hmap_release(&ls->entries);
	loop_timer_free(ls->timer);
	free(ls);
}

int
logsum_note(struct logsum *ls, const char *source, const char *reason)
{
	struct logsum_key key = { source, reason };
	struct logsum_entry *e;
	struct hmap_node *n;
	uint64_t hash;
	char cut[LOGSUM_REASON_MAX + 1];

	/* Whoever asks for debug lines wants every event, flood or not. */
	if (log_enabled(LOGLEVEL_DEBUG))
		return 1;
	/* Look up the pair as stored: the reason cut to its maximum. */
	snprintf(cut, sizeof(cut), "%s", reason);
	key.reason = cut;
	hash = logsum_hash(source, cut);
	if ((n = hmap_find(&ls->entries, hash, logsum_entry_eq,
	    &key)) != NULL) {
		e = hmap_entry(n, struct logsum_entry, node);
		e->count++;
		e->seen = 1;
		return 0;
	}
	if (ls->nentries >= LOGSUM_MAX_ENTRIES) {
		ls->folded++;
		snprintf(ls->folded_reason, sizeof(ls->folded_reason), "%s",
		    cut);
		logsum_arm(ls);
		return 0;
	}
	/* Out of memory: the event is logged in full, as without us. */
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return 1;
	snprintf(e->source, sizeof(e->source), "%s", source);
	snprintf(e->reason, sizeof(e->reason), "%s", cut);
	e->seen = 1;
	if (hmap_insert(&ls->entries, &e->node, hash) != 0) {
		free(e);
		return 1;
	}
	ls->nentries++;
	logsum_arm(ls);
	return 1;
}

void
logsum_flush(struct logsum *ls)
{
	struct hmap_node *n, *next;
	struct logsum_entry *e;
	size_t iter = 0;
	const int secs = LOGSUM_WINDOW_MS / 1000;

	for (n = hmap_first(&ls->entries, &iter); n; n = next) {
		next = hmap_next(&ls->entries, n, &iter);
		e = hmap_entry(n, struct logsum_entry, node);
		if (e->count > 0)
			log_emit(ls->level, NULL, __func__, "%zu %s from %s %s "
			    "in the last %d s: %s", e->count, ls->noun,
			    e->source, ls->verb, secs, e->reason);
		if (!e->seen) {
			hmap_remove(&ls->entries, n);
			free(e);
			ls->nentries--;
			continue;
		}
		e->count = 0;
		e->seen = 0;
	}
	if (ls->folded > 0) {
		log_emit(ls->level, NULL, __func__, "%zu %s from other sources "
		    "%s in the last %d s (more than %d sources and reasons at "
		    "once; not told apart); the last: %s", ls->folded,
		    ls->noun, ls->verb, secs, LOGSUM_MAX_ENTRIES,
		    ls->folded_reason);
		ls->folded = 0;
	}
	if (ls->nentries > 0)
		logsum_arm(ls);
}

size_t
logsum_entries(const struct logsum *ls)
{
	return ls->nentries;
}
