/* SPDX-License-Identifier: MIT */
/*
 * Typed configuration from YAML.
 *
 * Each role declares its keys once, in an X-macro list of
 *	X(field, TYPE, "dotted.name", "default", min, max, "choices", "help")
 * from which CONF_STRUCT() generates the C struct and CONF_SCHEMA_ROWS() the
 * table that drives the parser, the defaults and docs/CONFIG.md.  Defaults
 * are written in config syntax and go through the same parser as the file,
 * so a default can never disagree with what a user could write.  A NULL
 * default makes the key required.
 *
 * Types and what they hold in the struct:
 *	STRING    char *              any non-empty scalar
 *	PATH      char *              a file system path (non-empty, no NUL)
 *	INT       long long           integer in [min, max]
 *	BOOL      int                 true/false, yes/no, on/off
 *	DURATION  long long (ms)      "250ms", "30s", "5m", "2h", "7d"; a bare
 *	                              integer means seconds; in [min, max] ms
 *	SIZE      unsigned long long  bytes; suffix K/KiB, M/MiB, G/GiB (x1024)
 *	ENDPOINT  struct conf_endpoint "host:port", "[v6addr]:port"; port in
 *	                              [min, max]
 *	ENUM      int                 index of the value in choices "a|b|c"
 *	STRLIST   struct conf_strlist a YAML sequence of non-empty scalars, at
 *	                              most max entries
 *
 * An empty default ("") makes a STRING or PATH key optional: unset, its
 * field is NULL.
 *
 * Nested mappings name keys with dots: "tls:\n  cert: x" sets "tls.cert".
 *
 * Errors are collected, not stopped at: one load reports every problem, each
 * as "FILE:LINE: KEY: what is wrong; what is expected".
 */
#ifndef NETPORT_CORE_CONF_H
#define NETPORT_CORE_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum conf_type {
	CONF_STRING,
	CONF_PATH,
	CONF_INT,
	CONF_BOOL,
	CONF_DURATION,
	CONF_SIZE,
	CONF_ENDPOINT,
	CONF_ENUM,
	CONF_STRLIST,
};

/* Longest host part of an endpoint: a DNS name is at most 253 bytes. */
#define CONF_HOST_MAX	255

/* Longest Unix socket path: sun_path holds 108 bytes with the NUL. */
#define CONF_UNIX_PATH_MAX	107

struct conf_endpoint {
	char		host[CONF_HOST_MAX + 1];	/* without brackets; for a
							 * Unix socket, its path */
	uint16_t	port;				/* 0 for a Unix socket */
	int		is_unix;
};

struct conf_strlist {
	size_t		  n;
	char		**v;		/* owned, each entry owned */
	unsigned long	 *lines;	/* owned: line of each entry, 0 for
					 * a default */
};

/* The C type of each conf type, used by CONF_STRUCT(). */
#define CONF_CTYPE_STRING	char *
#define CONF_CTYPE_PATH		char *
#define CONF_CTYPE_INT		long long
#define CONF_CTYPE_BOOL		int
#define CONF_CTYPE_DURATION	long long
#define CONF_CTYPE_SIZE		unsigned long long
#define CONF_CTYPE_ENDPOINT	struct conf_endpoint
#define CONF_CTYPE_ENUM		int
#define CONF_CTYPE_STRLIST	struct conf_strlist

struct conf_key {
	const char	*name;		/* dotted path, e.g. "tls.cert" */
	enum conf_type	 type;
	size_t		 offset;	/* of the field in the role's struct */
	const char	*def;		/* default in config syntax; NULL: required */
	long long	 min, max;	/* bounds: INT, DURATION (ms), SIZE, port,
					 * STRLIST entries; min == max == 0: none */
	const char	*choices;	/* ENUM only: "debug|info|warn|error" */
	const char	*help;		/* one sentence for --help and CONFIG.md */
};

struct conf_errors;
struct conf_check;

/*
 * A role's checks of what a key's type cannot express: the entries of a
 * list (an allow-list pattern), the mode of a file a key names, keys that
 * depend on each other.  Called at the end of every load that got as far
 * as the keys, whether or not some of them were refused, so that one run
 * reports every problem.  It may rely only on the keys for which
 * conf_check_usable() is true, and adds its messages with conf_check_fail()
 * or conf_errorf() on c->errs.  Returns 0, NP_ECONFIG when it added a
 * message, or -ENOMEM.
 */
typedef int conf_check_cb(const struct conf_check *c);

struct conf_schema {
	const char		*role;		/* "server", for messages and docs */
	const struct conf_key	*keys;
	size_t			 nkeys;
	size_t			 size;		/* sizeof the role's struct */
	size_t			 lines_offset;	/* of conf_lines; 0: none */
	conf_check_cb		*check;		/* NULL: none */
};

/* What a schema's check sees; every pointer is borrowed from the load. */
struct conf_check {
	const struct conf_schema *schema;
	const char		*name;		/* the file, for messages */
	const void		*conf;		/* the role's struct */
	const unsigned long	*lines;		/* per key: line it was set on,
						 * 0 for its default */
	const unsigned char	*refused;	/* per key: 1 when the file's
						 * value was refused, or a
						 * required key is missing */
	struct conf_errors	*errs;
};

/*
 * A numeric macro as a key's default, so that the code that applies a
 * limit and the schema that documents it share one number:
 * CONF_NUM(POLICY_DEFAULT_MAX_RULES) is "100000".
 */
#define CONF_NUM_(x)	#x
#define CONF_NUM(x)	CONF_NUM_(x)

#define CONF_FIELD_(field, type, name, def, min, max, choices, help)	\
	CONF_CTYPE_##type field;
#define CONF_COUNT_(field, type, name, def, min, max, choices, help) + 1
/*
 * The struct of a role: one field per key, and conf_lines, the line each
 * key was set on (0: its default), for checks that span several keys.
 */
#define CONF_STRUCT(tag, LIST)						\
	struct tag {							\
		LIST(CONF_FIELD_)					\
		unsigned long conf_lines[0 LIST(CONF_COUNT_)];		\
	}

#define CONF_ROW_(S, field, type, name, def, min, max, choices, help)	\
	{ (name), CONF_##type, offsetof(S, field), (def), (min), (max),	\
	  (choices), (help) },

/* The messages of one load; each is "FILE:LINE: KEY: why; expected". */
struct conf_errors {
	size_t	  n;
	char	**msg;		/* owned */
};

void	conf_errors_free(struct conf_errors *errs);

/*
 * Appends "NAME:LINE: " + formatted text to errs ("NAME: " when line is 0,
 * for what concerns the whole file).  Returns 0 or -ENOMEM.
 * Shared by every checker built on a tree so that messages look alike.
 */
int	conf_errorf(struct conf_errors *errs, const char *name,
	    unsigned long line, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/*
 * Sets every field of out (schema->size bytes) to its default.  Defaults are
 * part of the program, so a default that fails to parse is a broken
 * invariant and ends the process.
 */
void	conf_defaults(const struct conf_schema *schema, void *out);

/*
 * Loads a file into out: defaults first, then the file.  Returns 0, or
 * NP_ECONFIG with every problem in errs (out is then freed and zeroed), or
 * -errno when the file cannot be read (also reported in errs).
 */
int	conf_load_file(const struct conf_schema *schema, const char *path,
	    void *out, struct conf_errors *errs)
	    __attribute__((warn_unused_result));

/* As conf_load_file, from memory; `name` is used in messages. */
int	conf_load_string(const struct conf_schema *schema, const char *name,
	    const char *text, size_t len, void *out, struct conf_errors *errs)
	    __attribute__((warn_unused_result));

/* Frees what a load allocated inside out and zeroes it; NULL-safe. */
void	conf_free(const struct conf_schema *schema, void *out);

/* The line a loaded config set key `name` on; 0 for a default. */
unsigned long conf_key_line(const struct conf_schema *schema,
	    const void *conf, const char *name);

/*
 * 1 when key `name` holds a value a check may rely on: the file's, or its
 * default; 0 when the file's value was refused (the field then holds the
 * default, or nothing for a required key) or the key is unknown.
 */
int	conf_check_usable(const struct conf_check *c, const char *name);

/*
 * The field of key `name` in c->conf when conf_check_usable(), else NULL;
 * for checks shared by roles whose structs differ (the tls.* keys).
 */
const void *conf_check_field(const struct conf_check *c, const char *name);

/* The line the file set key `name` on; 0 for a default. */
unsigned long conf_check_line(const struct conf_check *c, const char *name);

/*
 * Adds "FILE:LINE: KEY: what; expected ..." for key `name`, on the line the
 * file set it on (line 1 for a default, as for a missing key); fmt writes
 * both halves.
 * Returns NP_ECONFIG, or -ENOMEM when the message could not be added.
 */
int	conf_check_fail(const struct conf_check *c, const char *name,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes the markdown table of a schema's keys (docs/CONFIG.md). */
void	conf_write_markdown(const struct conf_schema *schema, FILE *fp);
/* The same keys as an scdoc list, for the netport.yaml(5) man page. */
void	conf_write_scdoc(const struct conf_schema *schema, FILE *fp);

/*
 * Parses "host:port" or "[v6]:port" with the port in [minport, maxport],
 * as the ENDPOINT type does (policy files use it too).  Returns 0, or -1
 * with what is wrong in why ("port 70000 out of range").
 */
int	conf_endpoint_parse(const char *s, long long minport, long long maxport,
	    struct conf_endpoint *ep, char *why, size_t size);

/*
 * As conf_endpoint_parse, and also "unix:/absolute/path" for a Unix stream
 * socket (abstract names, "unix:@...", are refused).
 */
int	conf_endpoint_parse_any(const char *s, long long minport,
	    long long maxport, struct conf_endpoint *ep, char *why,
	    size_t size);

/* Formats an endpoint as "host:port", "[v6]:port" or "unix:/path". */
void	conf_endpoint_format(const struct conf_endpoint *ep, char *out,
	    size_t size);

#endif
