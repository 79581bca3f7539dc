/* SPDX-License-Identifier: MIT */
/* Caps on unauthenticated connections, with eviction; see unauth.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/heap.h"
#include "core/hmap.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/unauth.h"

TAILQ_HEAD(unauth_conn_list, unauth_conn);

/* A source with connections in; freed with its last one. */
struct unauth_source {
	struct hmap_node	 node;
	char			 name[NET_SOURCE_STR_MAX];
	struct unauth_conn_list	 conns;
	size_t			 count;
};

struct unauth {
	struct hmap		 sources;
	size_t			 nsources;
	struct unauth_conn_list	 all;
	size_t			 count;
	size_t			 max_total;
	size_t			 max_per_source;
	size_t			 gone;		/* removed since the last trim */
	struct loop_timer	*trim_timer;	/* NULL without a loop */
};

static int
unauth_source_eq(const struct hmap_node *n, const void *key)
{
	const struct unauth_source *s = hmap_entry_const(n,
	    struct unauth_source, node);

	return strcmp(s->name, key) == 0;
}

static struct unauth_source *
unauth_source_find(const struct unauth *u, const char *name, uint64_t hash)
{
	struct hmap_node *n;

	if ((n = hmap_find(&u->sources, hash, unauth_source_eq, name)) == NULL)
		return NULL;
	return hmap_entry(n, struct unauth_source, node);
}

static void
unauth_trim_cb(struct loop_timer *t, void *arg)
{
	struct unauth *u = arg;

	u->gone = 0;
	heap_trim();
}

struct unauth *
unauth_new(struct loop *loop, size_t max_total, size_t max_per_source)
{
	struct unauth *u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	hmap_init(&u->sources);
	TAILQ_INIT(&u->all);
	u->max_total = max_total;
	u->max_per_source = max_per_source;
	if (loop && (u->trim_timer = loop_timer_new(loop, unauth_trim_cb,
	    u)) == NULL) {
		free(u);
		return NULL;
	}
	return u;
}

void
unauth_free(struct unauth *u)
{
	if (u == NULL)
		return;
	hmap_release(&u->sources);
	loop_timer_free(u->trim_timer);
	free(u);
}

struct unauth_conn *
unauth_victim(struct unauth *u, const struct sockaddr *sa,
    enum unauth_cap *cap)
{
	char name[NET_SOURCE_STR_MAX];
	struct unauth_source *s;

	*cap = UNAUTH_CAP_NONE;
	net_addr_source(sa, name, sizeof(name));
	s = unauth_source_find(u, name, hmap_hash_bytes(name, strlen(name)));
	if (s != NULL && s->count >= u->max_per_source) {
		*cap = UNAUTH_CAP_SOURCE;
		return TAILQ_FIRST(&s->conns);
	}
	if (u->count >= u->max_total) {
		*cap = UNAUTH_CAP_TOTAL;
		return TAILQ_FIRST(&u->all);
	}
	return NULL;
}

int
unauth_add(struct unauth *u, struct unauth_conn *c, const struct sockaddr *sa)
{
	char name[NET_SOURCE_STR_MAX];
	struct unauth_source *s;
	uint64_t hash;

	net_addr_source(sa, name, sizeof(name));
	hash = hmap_hash_bytes(name, strlen(name));
	if ((s = unauth_source_find(u, name, hash)) == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -ENOMEM;
		snprintf(s->name, sizeof(s->name), "%s", name);
		TAILQ_INIT(&s->conns);
		if (hmap_insert(&u->sources, &s->node, hash) != 0) {
			free(s);
			return -ENOMEM;
		}
		u->nsources++;
	}
	TAILQ_INSERT_TAIL(&s->conns, c, by_source);
	TAILQ_INSERT_TAIL(&u->all, c, by_age);
	c->source = s;
	s->count++;
	u->count++;
	return 0;
}

void
unauth_remove(struct unauth *u, struct unauth_conn *c)
{
	struct unauth_source *s = c->source;

	if (s == NULL)
		return;
	TAILQ_REMOVE(&s->conns, c, by_source);
	TAILQ_REMOVE(&u->all, c, by_age);
	c->source = NULL;
	u->count--;
	if (--s->count == 0) {
		hmap_remove(&u->sources, &s->node);
		free(s);
		u->nsources--;
	}
	if (++u->gone >= UNAUTH_TRIM_AFTER && u->trim_timer &&
	    !loop_timer_pending(u->trim_timer))
		loop_timer_arm(u->trim_timer, UNAUTH_TRIM_DELAY_MS);
}

const char *
unauth_source_name(const struct unauth_conn *c)
{
	return c->source ? c->source->name : "";
}

size_t
unauth_count(const struct unauth *u)
{
	return u->count;
}

size_t
unauth_sources(const struct unauth *u)
{
	return u->nsources;
}
