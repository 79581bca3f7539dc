/* SPDX-License-Identifier: MIT */
/* Intrusive hash table; see hmap.h. */
#include <errno.h>
#include <stdlib.h>

#include "core/hmap.h"

#define HMAP_MIN_BUCKETS	16

void
hmap_init(struct hmap *m)
{
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

void
hmap_release(struct hmap *m)
{
	free(m->buckets);
	hmap_init(m);
}

static int
hmap_resize(struct hmap *m, size_t nbuckets)
{
	struct hmap_node **b, *n, *next;
	size_t i;

	if ((b = calloc(nbuckets, sizeof(*b))) == NULL)
		return -ENOMEM;
	for (i = 0; i < m->nbuckets; i++) {
		for (n = m->buckets[i]; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nbuckets - 1)];
			b[n->hash & (nbuckets - 1)] = n;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nbuckets;
	return 0;
}

int
hmap_insert(struct hmap *m, struct hmap_node *node, uint64_t hash)
{
	size_t i;

	if (m->count >= m->nbuckets) {
		if (hmap_resize(m, m->nbuckets ? m->nbuckets * 2 :
		    HMAP_MIN_BUCKETS) != 0 && m->nbuckets == 0)
			return -ENOMEM;
		/* A failed grow keeps the old, fuller table working. */
	}
	node->hash = hash;
	i = hash & (m->nbuckets - 1);
	node->next = m->buckets[i];
	m->buckets[i] = node;
	m->count++;
	return 0;
}

void
hmap_remove(struct hmap *m, struct hmap_node *node)
{
	struct hmap_node **pp;

	if (m->nbuckets == 0)
		return;
	for (pp = &m->buckets[node->hash & (m->nbuckets - 1)]; *pp;
	    pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			node->next = NULL;
			m->count--;
			return;
		}
	}
}

struct hmap_node *
hmap_find(const struct hmap *m, uint64_t hash, hmap_eq_fn *eq,
    const void *key)
{
	struct hmap_node *n;

	if (m->nbuckets == 0)
		return NULL;
	for (n = m->buckets[hash & (m->nbuckets - 1)]; n; n = n->next)
		if (n->hash == hash && eq(n, key))
			return n;
	return NULL;
}

struct hmap_node *
hmap_first(const struct hmap *m, size_t *iter)
{
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		if (m->buckets[i]) {
			*iter = i;
			return m->buckets[i];
		}
	}
	return NULL;
}

struct hmap_node *
hmap_next(const struct hmap *m, struct hmap_node *n, size_t *iter)
{
	size_t i;

	if (n->next)
		return n->next;
	for (i = *iter + 1; i < m->nbuckets; i++) {
		if (m->buckets[i]) {
			*iter = i;
			return m->buckets[i];
		}
	}
	return NULL;
}

uint64_t
hmap_hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	/* Final mix so that the low bits (the bucket) depend on every byte. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}
