/* SPDX-License-Identifier: MIT */
/*
 * YAML to a ytree with libyaml's event parser; see ytree.h.  The builder
 * keeps an explicit stack of the open sequences and mappings instead of
 * recursing, so nesting is bounded by YTREE_MAX_DEPTH and never by the C
 * stack, and it stops at the first event that breaks a limit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/err.h"
#include "core/ytree.h"

/*
 * Key paths in messages are user text and are cut to fit: a message points
 * at a line, it need not repeat the whole line.
 */
#define YTREE_PATH_MAX	200

/* A sequence or mapping that is still open, with its allocated room. */
struct ytree_open {
	struct ytree_node	*node;	/* borrowed: its parent owns it */
	size_t			 cap;	/* items or pairs allocated */
};

/*
 * A message waiting to be added: duplicate keys are only found when their
 * mapping ends, after the messages of what it contains, so messages are
 * held back and handed over in line order.
 */
struct ytree_msg {
	unsigned long	 line;
	size_t		 seq;	/* order of finding, for equal lines */
	char		*text;		/* owned */
};

struct ytree_builder {
	const char		*name;
	const char		*text;
	size_t			 len;
	struct conf_errors	*errs;
	struct ytree_node	*root;		/* owned */
	struct ytree_open	 stack[YTREE_MAX_DEPTH];
	size_t			 depth;
	size_t			 nodes;
	size_t			 max_nodes;
	const char		*nodes_key;	/* borrowed; may be NULL */
	int			 ndocs;
	struct ytree_msg	*msgs;		/* owned */
	size_t			 nmsgs;
};

static int	ytree_fail(struct ytree_builder *b, unsigned long line,
		    const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* Holds a message back; returns NP_ECONFIG, or -ENOMEM if it could not. */
static int
ytree_fail(struct ytree_builder *b, unsigned long line, const char *fmt, ...)
{
	struct ytree_msg *v;
	char *text = NULL;
	va_list ap;
	int r = -ENOMEM;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (text == NULL)
		goto out;
	if ((v = reallocarray(b->msgs, b->nmsgs + 1, sizeof(*v))) == NULL)
		goto out;
	b->msgs = v;
	v[b->nmsgs].line = line;
	v[b->nmsgs].seq = b->nmsgs;
	v[b->nmsgs].text = text;
	b->nmsgs++;
	text = NULL;
	r = NP_ECONFIG;
out:
	free(text);
	return r;
}

static int
ytree_msg_cmp(const void *a, const void *b)
{
	const struct ytree_msg *ma = a, *mb = b;

	if (ma->line != mb->line)
		return ma->line < mb->line ? -1 : 1;
	return ma->seq < mb->seq ? -1 : ma->seq > mb->seq;
}

/* Hands the held messages over to errs in line order and frees them. */
static int
ytree_flush(struct ytree_builder *b)
{
	size_t i;
	int r = 0;

	if (b->nmsgs > 1)
		qsort(b->msgs, b->nmsgs, sizeof(*b->msgs), ytree_msg_cmp);
	for (i = 0; i < b->nmsgs; i++) {
		if (r == 0 && conf_errorf(b->errs, b->name, b->msgs[i].line,
		    "%s", b->msgs[i].text) != 0)
			r = -ENOMEM;
		free(b->msgs[i].text);
	}
	free(b->msgs);
	b->msgs = NULL;
	b->nmsgs = 0;
	return r;
}

void
ytree_free(struct ytree_node *node)
{
	size_t i;

	if (node == NULL)
		return;
	free(node->scalar);
	for (i = 0; i < node->n; i++) {
		if (node->kind == YTREE_SEQ)
			ytree_free(node->items[i]);
		else if (node->kind == YTREE_MAP) {
			free(node->pairs[i].key);
			ytree_free(node->pairs[i].value);
		}
	}
	free(node->items);
	free(node->pairs);
	free(node);
}

const struct ytree_node *
ytree_map_get(const struct ytree_node *map, const char *key)
{
	size_t i;

	if (map == NULL || map->kind != YTREE_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (strcmp(map->pairs[i].key, key) == 0)
			return map->pairs[i].value;
	return NULL;
}

static struct ytree_node *
ytree_node_new(enum ytree_kind kind, unsigned long line)
{
	struct ytree_node *node;

	if ((node = calloc(1, sizeof(*node))) == NULL)
		return NULL;
	node->kind = kind;
	node->line = line;
	return node;
}

/* The 1-based line of a byte offset, for errors that only carry an offset. */
static unsigned long
ytree_offset_line(const struct ytree_builder *b, size_t offset)
{
	unsigned long line = 1;
	size_t i;

	for (i = 0; i < offset && i < b->len; i++)
		if (b->text[i] == '\n')
			line++;
	return line;
}

static struct ytree_open *
ytree_top(struct ytree_builder *b)
{
	return b->depth > 0 ? &b->stack[b->depth - 1] : NULL;
}

/* A mapping whose last pair has no value yet is waiting for that value. */
static int
ytree_wants_key(const struct ytree_open *top)
{
	const struct ytree_node *map;

	if (top == NULL || top->node->kind != YTREE_MAP)
		return 0;
	map = top->node;
	return map->n == 0 || map->pairs[map->n - 1].value != NULL;
}

/* Makes room for one more item or pair in an open node. */
static int
ytree_grow(struct ytree_open *o)
{
	struct ytree_node *node = o->node;
	size_t cap;
	void *p;

	if (node->n < o->cap)
		return 0;
	cap = o->cap == 0 ? 4 : o->cap * 2;
	if (node->kind == YTREE_SEQ)
		p = reallocarray(node->items, cap, sizeof(*node->items));
	else
		p = reallocarray(node->pairs, cap, sizeof(*node->pairs));
	if (p == NULL)
		return -ENOMEM;
	if (node->kind == YTREE_SEQ)
		node->items = p;
	else
		node->pairs = p;
	o->cap = cap;
	return 0;
}

/*
 * Hangs a new value node under the innermost open node, or makes it the
 * root.  Consumes node, also on failure.
 */
static int
ytree_attach(struct ytree_builder *b, struct ytree_node *node)
{
	struct ytree_open *top = ytree_top(b);
	int r = 0;

	if (top == NULL) {
		b->root = node;
		node = NULL;
		goto out;
	}
	if (top->node->kind == YTREE_MAP) {
		top->node->pairs[top->node->n - 1].value = node;
		node = NULL;
		goto out;
	}
	if ((r = ytree_grow(top)) != 0)
		goto out;
	top->node->items[top->node->n++] = node;
	node = NULL;
out:
	ytree_free(node);
	return r;
}

/*
 * Counts one more node against the limit.  Keys count too: they cost
 * memory like any scalar.
 */
static int
ytree_count(struct ytree_builder *b, unsigned long line)
{
	if (++b->nodes <= b->max_nodes)
		return 0;
	if (b->nodes_key != NULL)
		return ytree_fail(b, line, "more than %zu nodes; expected a "
		    "smaller document (%s)", b->max_nodes, b->nodes_key);
	return ytree_fail(b, line, "more than %zu nodes; expected a smaller "
	    "document", b->max_nodes);
}

static int
ytree_scalar(struct ytree_builder *b, const yaml_event_t *ev,
    unsigned long line)
{
	const char *value = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct ytree_open *top = ytree_top(b);
	struct ytree_node *node = NULL;
	struct ytree_pair *pair;
	char *copy = NULL;
	int r;

	if ((r = ytree_count(b, line)) != 0)
		goto out;
	if (len > YTREE_MAX_SCALAR) {
		r = ytree_fail(b, line, "scalar longer than %d bytes; "
		    "expected at most %d", YTREE_MAX_SCALAR, YTREE_MAX_SCALAR);
		goto out;
	}
	/* A "\0" escape would silently cut the C string short. */
	if (memchr(value, '\0', len) != NULL) {
		r = ytree_fail(b, line, "NUL character in a scalar; expected "
		    "text without NUL");
		goto out;
	}
	if ((copy = strndup(value, len)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (ytree_wants_key(top)) {
		if ((r = ytree_grow(top)) != 0)
			goto out;
		pair = &top->node->pairs[top->node->n++];
		pair->key = copy;
		pair->line = line;
		pair->value = NULL;
		copy = NULL;
		goto out;
	}
	/*
	 * A document that holds nothing ("---" alone) parses as one empty
	 * plain scalar; it means the same as an empty file.
	 */
	if (top == NULL && len == 0 &&
	    ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		node = ytree_node_new(YTREE_MAP, line);
	else
		node = ytree_node_new(YTREE_SCALAR, line);
	if (node == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (node->kind == YTREE_SCALAR) {
		node->scalar = copy;
		copy = NULL;
	}
	r = ytree_attach(b, node);
	node = NULL;
out:
	free(copy);
	ytree_free(node);
	return r;
}

static int
ytree_start(struct ytree_builder *b, enum ytree_kind kind, unsigned long line)
{
	const char *what = kind == YTREE_MAP ? "mapping" : "sequence";
	struct ytree_node *node;
	int r;

	if (ytree_wants_key(ytree_top(b)))
		return ytree_fail(b, line, "a %s used as a mapping key; "
		    "expected a scalar key", what);
	if (b->depth == YTREE_MAX_DEPTH)
		return ytree_fail(b, line, "nested more than %d levels deep; "
		    "expected at most %d levels of sequences and mappings",
		    YTREE_MAX_DEPTH, YTREE_MAX_DEPTH);
	if ((r = ytree_count(b, line)) != 0)
		return r;
	if ((node = ytree_node_new(kind, line)) == NULL)
		return -ENOMEM;
	/* Attached first: from then on the tree owns it, whatever happens. */
	if ((r = ytree_attach(b, node)) != 0)
		return r;
	b->stack[b->depth].node = node;
	b->stack[b->depth].cap = 0;
	b->depth++;
	return 0;
}

/*
 * Writes the path of the keys and indices above the open node at `level`,
 * then key, such as "tls.cert" or "rules[2].ports".
 */
static void
ytree_path(const struct ytree_builder *b, size_t level, const char *key,
    char *out, size_t size)
{
	const struct ytree_node *node;
	size_t i, len = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i <= level && len < size; i++) {
		node = b->stack[i].node;
		if (i == level)
			n = snprintf(out + len, size - len, "%s%s",
			    len > 0 ? "." : "", key);
		else if (node->kind == YTREE_SEQ)
			n = snprintf(out + len, size - len, "[%zu]",
			    node->n - 1);
		else
			n = snprintf(out + len, size - len, "%s%s",
			    len > 0 ? "." : "", node->pairs[node->n - 1].key);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (len >= size && size > 4)
		memcpy(out + size - 4, "...", 4);
}

static int
ytree_pair_cmp(const void *a, const void *b)
{
	const struct ytree_pair *pa = *(const struct ytree_pair *const *)a;
	const struct ytree_pair *pb = *(const struct ytree_pair *const *)b;
	int c;

	if ((c = strcmp(pa->key, pb->key)) != 0)
		return c;
	/* Pairs sit in one array, so address order is file order. */
	return pa < pb ? -1 : pa > pb;
}

/*
 * Reports every key of the open mapping at `level` that repeats an earlier
 * one.
 * Sorting keeps a mapping of many keys from costing n^2 comparisons; the
 * messages still come out in file order.  Duplicates do not stop the
 * parse, so that one run shows all of them.
 */
static int
ytree_check_dups(struct ytree_builder *b, size_t level)
{
	const struct ytree_node *map = b->stack[level].node;
	const struct ytree_pair **sorted = NULL;
	unsigned long *first = NULL;
	char path[YTREE_PATH_MAX];
	size_t i, head;
	int r = 0;

	if (map->n < 2)
		goto out;
	sorted = calloc(map->n, sizeof(*sorted));
	first = calloc(map->n, sizeof(*first));
	if (sorted == NULL || first == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < map->n; i++)
		sorted[i] = &map->pairs[i];
	qsort(sorted, map->n, sizeof(*sorted), ytree_pair_cmp);
	for (head = 0, i = 1; i < map->n; i++) {
		if (strcmp(sorted[i]->key, sorted[head]->key) != 0) {
			head = i;
			continue;
		}
		first[sorted[i] - map->pairs] = sorted[head]->line;
	}
	for (i = 0; i < map->n && r != -ENOMEM; i++) {
		if (first[i] == 0)
			continue;
		ytree_path(b, level, map->pairs[i].key, path, sizeof(path));
		r = ytree_fail(b, map->pairs[i].line, "%s: duplicate key, "
		    "first at line %lu; expected each key once", path,
		    first[i]);
	}
	if (r == NP_ECONFIG)
		r = 0;
out:
	free(sorted);
	free(first);
	return r;
}

static int
ytree_anchor(struct ytree_builder *b, const yaml_char_t *anchor,
    unsigned long line)
{
	if (anchor == NULL)
		return 0;
	return ytree_fail(b, line, "anchor '&%.40s' not allowed; expected "
	    "each value written out, without anchors or aliases",
	    (const char *)anchor);
}

/* Returns 0 to go on, or NP_ECONFIG / -ENOMEM to stop. */
static int
ytree_event(struct ytree_builder *b, const yaml_event_t *ev)
{
	unsigned long line = (unsigned long)ev->start_mark.line + 1;
	int r = 0;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++b->ndocs > 1)
			r = ytree_fail(b, line, "a second YAML document; "
			    "expected a single document");
		break;
	case YAML_ALIAS_EVENT:
		r = ytree_fail(b, line, "alias '*%.40s' not allowed; expected "
		    "each value written out, without anchors or aliases",
		    (const char *)ev->data.alias.anchor);
		break;
	case YAML_SCALAR_EVENT:
		if ((r = ytree_anchor(b, ev->data.scalar.anchor, line)) == 0)
			r = ytree_scalar(b, ev, line);
		break;
	case YAML_SEQUENCE_START_EVENT:
		if ((r = ytree_anchor(b, ev->data.sequence_start.anchor,
		    line)) == 0)
			r = ytree_start(b, YTREE_SEQ, line);
		break;
	case YAML_MAPPING_START_EVENT:
		if ((r = ytree_anchor(b, ev->data.mapping_start.anchor,
		    line)) == 0)
			r = ytree_start(b, YTREE_MAP, line);
		break;
	case YAML_MAPPING_END_EVENT:
		r = ytree_check_dups(b, b->depth - 1);
		b->depth--;
		break;
	case YAML_SEQUENCE_END_EVENT:
		b->depth--;
		break;
	default:
		break;
	}
	return r;
}

static int
ytree_syntax_error(struct ytree_builder *b, const yaml_parser_t *parser)
{
	unsigned long line;

	if (parser->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	/* The reader (bad UTF-8, control characters) only gives an offset. */
	if (parser->error == YAML_READER_ERROR)
		line = ytree_offset_line(b, parser->problem_offset);
	else
		line = (unsigned long)parser->problem_mark.line + 1;
	if (parser->context != NULL)
		return ytree_fail(b, line, "invalid YAML: %s %s",
		    parser->problem ? parser->problem : "syntax error",
		    parser->context);
	return ytree_fail(b, line, "invalid YAML: %s",
	    parser->problem ? parser->problem : "syntax error");
}

int
ytree_parse(const char *name, const char *text, size_t len,
    const struct ytree_limits *limits, struct ytree_node **out,
    struct conf_errors *errs)
{
	struct ytree_builder b;
	yaml_parser_t parser;
	yaml_event_t ev;
	yaml_event_type_t type;
	const char *nul;
	int r = 0;

	*out = NULL;
	/* libyaml asserts on a NULL input, even an empty one. */
	if (text == NULL && len == 0)
		text = "";
	memset(&b, 0, sizeof(b));
	b.name = name;
	b.text = text;
	b.len = len;
	b.errs = errs;
	b.max_nodes = limits && limits->max_nodes ? limits->max_nodes :
	    YTREE_MAX_NODES;
	b.nodes_key = limits ? limits->nodes_key : NULL;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	/*
	 * libyaml ends its own buffer with a NUL, so one inside the text
	 * would be read as the end of the input; refuse it up front.
	 */
	if ((nul = memchr(text, '\0', len)) != NULL) {
		r = ytree_fail(&b, ytree_offset_line(&b, (size_t)(nul - text)),
		    "NUL byte in the file; expected UTF-8 text");
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	for (;;) {
		if (!yaml_parser_parse(&parser, &ev)) {
			r = ytree_syntax_error(&b, &parser);
			break;
		}
		type = ev.type;
		r = ytree_event(&b, &ev);
		yaml_event_delete(&ev);
		if (r != 0 || type == YAML_STREAM_END_EVENT)
			break;
	}
	/*
	 * An error that stops the parse leaves mappings open; the keys they
	 * have so far are still worth checking, so that duplicates above the
	 * error are not hidden by it.
	 */
	for (; r == NP_ECONFIG && b.depth > 0; b.depth--)
		if (b.stack[b.depth - 1].node->kind == YTREE_MAP &&
		    ytree_check_dups(&b, b.depth - 1) == -ENOMEM)
			r = -ENOMEM;
	if (r == 0 && b.nmsgs > 0)
		r = NP_ECONFIG;
	if (r == 0 && b.root == NULL &&
	    (b.root = ytree_node_new(YTREE_MAP, 1)) == NULL)
		r = -ENOMEM;
	if (r == 0) {
		*out = b.root;
		b.root = NULL;
	}
out:
	if (ytree_flush(&b) != 0)
		r = -ENOMEM;
	ytree_free(b.root);
	yaml_parser_delete(&parser);
	return r;
}
