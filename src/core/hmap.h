/* SPDX-License-Identifier: MIT */
/*
 * An intrusive hash table: the caller embeds struct hmap_node in its
 * objects and supplies the hash; the table never allocates per entry and
 * never owns the objects.  Buckets double when the table grows past one
 * entry per bucket, so lookups stay O(1) as tunnels and streams come and go.
 */
#ifndef NETPORT_CORE_HMAP_H
#define NETPORT_CORE_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_node {
	struct hmap_node	*next;
	uint64_t		 hash;
};

struct hmap {
	struct hmap_node	**buckets;	/* owned */
	size_t			  nbuckets;	/* a power of two, or 0 */
	size_t			  count;
};

/* Compares a node with the key being looked up; 1 when equal. */
typedef int hmap_eq_fn(const struct hmap_node *node, const void *key);

void	hmap_init(struct hmap *m);
/* Frees the buckets; the entries are the caller's. */
void	hmap_release(struct hmap *m);
/* Inserts node with hash; 0 or -ENOMEM (the node is then not inserted). */
int	hmap_insert(struct hmap *m, struct hmap_node *node, uint64_t hash)
	    __attribute__((warn_unused_result));
void	hmap_remove(struct hmap *m, struct hmap_node *node);
struct hmap_node *hmap_find(const struct hmap *m, uint64_t hash,
	    hmap_eq_fn *eq, const void *key);

/* Iteration: for (n = hmap_first(m, &i); n; n = hmap_next(m, n, &i)). */
struct hmap_node *hmap_first(const struct hmap *m, size_t *iter);
struct hmap_node *hmap_next(const struct hmap *m, struct hmap_node *n,
	    size_t *iter);

/* FNV-1a over bytes, then mixed: good enough for ids and names. */
uint64_t hmap_hash_bytes(const void *p, size_t n);

#define hmap_entry(node, type, member)					\
	((type *)(void *)((char *)(node) - offsetof(type, member)))
#define hmap_entry_const(node, type, member)				\
	((const type *)(const void *)((const char *)(node) -		\
	    offsetof(type, member)))

#endif
