/* SPDX-License-Identifier: MIT */
/*
 * Logging.  One line per event, as text or as JSON lines, written to stderr
 * with a single write(2) so lines from several threads never interleave.
 * Every line carries the process role and, when given, the connection id and
 * the peer identity of the connection it is about.
 */
#ifndef NETPORT_CORE_LOG_H
#define NETPORT_CORE_LOG_H

#include <stdint.h>

enum log_level {
	LOGLEVEL_DEBUG,
	LOGLEVEL_INFO,
	LOGLEVEL_WARN,
	LOGLEVEL_ERROR,
};

enum log_format {
	LOGFORMAT_TEXT,
	LOGFORMAT_JSON,
};

/* The context a line is about.  Both fields are optional. */
struct log_ctx {
	uint64_t	 conn_id;	/* 0: not about one connection */
	const char	*peer;		/* borrowed; "portal/cam-17" or NULL */
};

/* Sets the role shown on every line ("server", "portal", ...); borrowed. */
void	log_set_role(const char *role);
void	log_set_level(enum log_level level);
void	log_set_format(enum log_format format);
/* Sends lines to fd instead of stderr (tests); the fd is borrowed. */
void	log_set_fd(int fd);

/* Parses "debug|info|warn|error" and "text|json"; 0 or NP_ECONFIG. */
int	log_level_parse(const char *s, enum log_level *out);
int	log_format_parse(const char *s, enum log_format *out);
const char *log_level_name(enum log_level level);

int	log_enabled(enum log_level level);

void	log_emit(enum log_level level, const struct log_ctx *ctx,
	    const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/*
 * Logs at error level and exits with status 1.  Only for start-up errors and
 * broken invariants: a failure inside one connection closes that connection.
 */
void	fatal(const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

#define log_debug(ctx, ...) do {					\
	if (log_enabled(LOGLEVEL_DEBUG))				\
		log_emit(LOGLEVEL_DEBUG, (ctx), __func__, __VA_ARGS__);	\
} while (0)
#define log_info(ctx, ...)  log_emit(LOGLEVEL_INFO, (ctx), __func__, __VA_ARGS__)
#define log_warn(ctx, ...)  log_emit(LOGLEVEL_WARN, (ctx), __func__, __VA_ARGS__)
#define log_error(ctx, ...) log_emit(LOGLEVEL_ERROR, (ctx), __func__, __VA_ARGS__)
#define log_fatal(...)      fatal(__func__, __VA_ARGS__)

#endif
