/* SPDX-License-Identifier: MIT */
/*
 * The YAML tree builder on its own: shape and line numbers of the tree,
 * lookups, and the paths named in its messages, which the config tests only
 * see through the config schema.
 */
#include <string.h>

#include "core/err.h"
#include "core/ytree.h"
#include "t.h"

/* Messages of the last failed parse, joined by newlines. */
static char	ty_msgs[4096];

static int
ty_parse(const char *text, struct ytree_node **out)
{
	struct conf_errors errs = { 0, NULL };
	size_t i, off = 0;
	int r;

	r = ytree_parse("p.yaml", text, strlen(text), NULL, out, &errs);
	ty_msgs[0] = '\0';
	for (i = 0; i < errs.n; i++)
		off += (size_t)snprintf(ty_msgs + off, sizeof(ty_msgs) - off,
		    "%s%s", i ? "\n" : "", errs.msg[i]);
	conf_errors_free(&errs);
	return r;
}

#define TY_BAD(text, expect) do {					\
	struct ytree_node *ty_t_ = (struct ytree_node *)1;		\
	T_EQ_INT(ty_parse((text), &ty_t_), NP_ECONFIG);			\
	T_ASSERT(ty_t_ == NULL);					\
	T_EQ_STR(ty_msgs, (expect));					\
} while (0)

T_CASE(shape_and_lines)
{
	const struct ytree_node *rules, *r0, *ports;
	struct ytree_node *t;

	T_EQ_INT(ty_parse("# policy\n"
	    "version: 1\n"
	    "rules:\n"
	    "  - name: ssh\n"
	    "    ports: [22, \"2222\"]\n"
	    "  - name: web\n"
	    "    note: |\n"
	    "      two\n"
	    "      lines\n", &t), 0);
	T_EQ_INT(t->kind, YTREE_MAP);
	T_EQ_INT(t->n, 2);
	T_EQ_STR(t->pairs[0].key, "version");
	T_EQ_INT(t->pairs[0].line, 2);
	T_EQ_STR(t->pairs[0].value->scalar, "1");
	T_EQ_INT(t->pairs[1].line, 3);
	rules = ytree_map_get(t, "rules");
	T_ASSERT(rules != NULL);
	T_EQ_INT(rules->kind, YTREE_SEQ);
	T_EQ_INT(rules->n, 2);
	T_EQ_INT(rules->line, 4);
	r0 = rules->items[0];
	T_EQ_INT(r0->kind, YTREE_MAP);
	T_EQ_INT(r0->line, 4);
	T_EQ_STR(ytree_map_get(r0, "name")->scalar, "ssh");
	ports = ytree_map_get(r0, "ports");
	T_EQ_INT(ports->kind, YTREE_SEQ);
	T_EQ_INT(ports->line, 5);
	T_EQ_INT(ports->n, 2);
	T_EQ_STR(ports->items[1]->scalar, "2222");
	T_EQ_STR(ytree_map_get(rules->items[1], "note")->scalar,
	    "two\nlines\n");
	T_EQ_INT(ytree_map_get(rules->items[1], "note")->line, 7);
	T_ASSERT(ytree_map_get(t, "missing") == NULL);
	T_ASSERT(ytree_map_get(ports, "0") == NULL);
	T_ASSERT(ytree_map_get(NULL, "x") == NULL);
	ytree_free(t);
	ytree_free(NULL);
}

T_CASE(any_root)
{
	struct ytree_node *t;

	T_EQ_INT(ty_parse("[a, b]\n", &t), 0);
	T_EQ_INT(t->kind, YTREE_SEQ);
	T_EQ_INT(t->n, 2);
	ytree_free(t);
	T_EQ_INT(ty_parse("\n\nword\n", &t), 0);
	T_EQ_INT(t->kind, YTREE_SCALAR);
	T_EQ_INT(t->line, 3);
	T_EQ_STR(t->scalar, "word");
	ytree_free(t);
	/* Quoted, an empty root is a scalar and not "nothing". */
	T_EQ_INT(ty_parse("''\n", &t), 0);
	T_EQ_INT(t->kind, YTREE_SCALAR);
	ytree_free(t);
}

T_CASE(empty_document_is_empty_map)
{
	static const char *const texts[] = {
		"", "# nothing\n", "---\n", "--- # nothing\n...\n",
	};
	struct ytree_node *t;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		T_EQ_INT(ty_parse(texts[i], &t), 0);
		T_EQ_INT(t->kind, YTREE_MAP);
		T_EQ_INT(t->n, 0);
		ytree_free(t);
	}
	T_EQ_INT(ytree_parse("p.yaml", NULL, 0, NULL, &t, NULL), 0);
	T_EQ_INT(t->kind, YTREE_MAP);
	T_EQ_INT(t->line, 1);
	ytree_free(t);
}

T_CASE(empty_values)
{
	struct ytree_node *t;

	T_EQ_INT(ty_parse("a:\nb: []\nc: {}\n", &t), 0);
	T_EQ_INT(t->pairs[0].value->kind, YTREE_SCALAR);
	T_EQ_STR(t->pairs[0].value->scalar, "");
	T_EQ_INT(t->pairs[1].value->kind, YTREE_SEQ);
	T_EQ_INT(t->pairs[1].value->n, 0);
	T_EQ_INT(t->pairs[2].value->kind, YTREE_MAP);
	T_EQ_INT(t->pairs[2].value->n, 0);
	ytree_free(t);
}

T_CASE(duplicate_paths)
{
	TY_BAD("rules:\n  - name: a\n  - name: b\n    name: c\n",
	    "p.yaml:4: rules[1].name: duplicate key, first at line 3; "
	    "expected each key once");
	TY_BAD("a: 1\nb: 2\na: 3\nb: 4\na: 5\n",
	    "p.yaml:3: a: duplicate key, first at line 1; expected each key "
	    "once\n"
	    "p.yaml:4: b: duplicate key, first at line 2; expected each key "
	    "once\n"
	    "p.yaml:5: a: duplicate key, first at line 1; expected each key "
	    "once");
	/* Keys are compared as text after YAML unquoting. */
	TY_BAD("x: {k: 1, 'k': 2}\n", "p.yaml:1: x.k: duplicate key, first "
	    "at line 1; expected each key once");
}

T_CASE(duplicates_before_a_stop)
{
	/* An error that ends the parse does not hide duplicates above it. */
	TY_BAD("a: 1\na: 2\nb: *x\n",
	    "p.yaml:2: a: duplicate key, first at line 1; expected each key "
	    "once\n"
	    "p.yaml:3: alias '*x' not allowed; expected each value written "
	    "out, without anchors or aliases");
	TY_BAD("t:\n  k: 1\n  k: 2\n  z: [\n",
	    "p.yaml:3: t.k: duplicate key, first at line 2; expected each "
	    "key once\n"
	    "p.yaml:5: invalid YAML: did not find expected node content "
	    "while parsing a flow node");
}

T_CASE(many_keys)
{
	char text[64 * 1024];
	struct ytree_node *t;
	size_t i, off = 0;

	for (i = 0; i < 4000; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "k%zu: %zu\n", i, i);
	T_EQ_INT(ty_parse(text, &t), 0);
	T_EQ_INT(t->n, 4000);
	T_EQ_INT(t->pairs[3999].line, 4000);
	T_EQ_STR(ytree_map_get(t, "k1234")->scalar, "1234");
	ytree_free(t);
}

T_CASE(refusals)
{
	TY_BAD("- &x a\n- *x\n", "p.yaml:1: anchor '&x' not allowed; "
	    "expected each value written out, without anchors or aliases");
	TY_BAD("a: 1\n---\nb: 2\n", "p.yaml:2: a second YAML document; "
	    "expected a single document");
	TY_BAD("? {a: 1}\n: 2\n", "p.yaml:1: a mapping used as a mapping "
	    "key; expected a scalar key");
	TY_BAD("a: \"\\0\"\n", "p.yaml:1: NUL character in a scalar; "
	    "expected text without NUL");
	TY_BAD("\"\\0\": 1\n", "p.yaml:1: NUL character in a scalar; "
	    "expected text without NUL");
	TY_BAD("a: [1, 2\n", "p.yaml:2: invalid YAML: did not find expected "
	    "',' or ']' while parsing a flow sequence");
}

T_CASE(depth_limit)
{
	char text[128];
	struct ytree_node *t;

	snprintf(text, sizeof(text), "%.16s%.16s\n", "[[[[[[[[[[[[[[[[",
	    "]]]]]]]]]]]]]]]]");
	T_EQ_INT(ty_parse(text, &t), 0);
	ytree_free(t);
	snprintf(text, sizeof(text), "[%.16s%.16s]\n", "[[[[[[[[[[[[[[[[",
	    "]]]]]]]]]]]]]]]]");
	TY_BAD(text, "p.yaml:1: nested more than 16 levels deep; expected at "
	    "most 16 levels of sequences and mappings");
}

/* A caller's node limit, and the setting its message names. */
T_CASE(node_limit)
{
	static const char text[] = "a: [1, 2]\nb: 3\n";
	struct ytree_limits lim = { .max_nodes = 6 };
	struct conf_errors errs = { 0, NULL };
	struct ytree_node *t;

	/* Root, a, its list and two items, b and 3: seven nodes. */
	T_EQ_INT(ytree_parse("p.yaml", text, strlen(text), &lim, &t, &errs),
	    NP_ECONFIG);
	T_ASSERT(t == NULL);
	T_EQ_INT(errs.n, 1);
	T_EQ_STR(errs.msg[0], "p.yaml:2: more than 6 nodes; expected a "
	    "smaller document");
	conf_errors_free(&errs);
	lim.nodes_key = "doc_limits.max_nodes";
	T_EQ_INT(ytree_parse("p.yaml", text, strlen(text), &lim, &t, &errs),
	    NP_ECONFIG);
	T_EQ_STR(errs.msg[0], "p.yaml:2: more than 6 nodes; expected a "
	    "smaller document (doc_limits.max_nodes)");
	conf_errors_free(&errs);
	lim.max_nodes = 7;
	T_EQ_INT(ytree_parse("p.yaml", text, strlen(text), &lim, &t, &errs),
	    0);
	ytree_free(t);
	/* Zero: the default, YTREE_MAX_NODES. */
	lim.max_nodes = 0;
	T_EQ_INT(ytree_parse("p.yaml", text, strlen(text), &lim, &t, &errs),
	    0);
	ytree_free(t);
	T_EQ_INT(errs.n, 0);
}

int
main(void)
{
	T_RUN(shape_and_lines);
	T_RUN(any_root);
	T_RUN(empty_document_is_empty_map);
	T_RUN(empty_values);
	T_RUN(duplicate_paths);
	T_RUN(duplicates_before_a_stop);
	T_RUN(many_keys);
	T_RUN(refusals);
	T_RUN(depth_limit);
	T_RUN(node_limit);
	return t_done();
}
