/* SPDX-License-Identifier: MIT */
/* Text and JSON-lines logging; see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

/*
 * A line longer than this is cut: it bounds the stack a log call uses and
 * keeps one line within what a single write(2) to a pipe delivers whole.
 */
#define LOG_LINE_MAX	4096
#define LOG_MSG_MAX	2048

static const char	*log_role = "netport";
static enum log_level	 log_min_level = LOGLEVEL_INFO;
static enum log_format	 log_fmt = LOGFORMAT_TEXT;
static int		 log_fd = 2;

static const char *const log_level_names[] = {
	[LOGLEVEL_DEBUG] = "debug",
	[LOGLEVEL_INFO] = "info",
	[LOGLEVEL_WARN] = "warn",
	[LOGLEVEL_ERROR] = "error",
};

void
log_set_role(const char *role)
{
	log_role = role;
}

void
log_set_level(enum log_level level)
{
	log_min_level = level;
}

void
log_set_format(enum log_format format)
{
	log_fmt = format;
}

void
log_set_fd(int fd)
{
	log_fd = fd;
}

int
log_enabled(enum log_level level)
{
	return level >= log_min_level;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level > LOGLEVEL_ERROR)
		return "?";
	return log_level_names[level];
}

int
log_level_parse(const char *s, enum log_level *out)
{
	unsigned i;

	for (i = 0; i <= LOGLEVEL_ERROR; i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return NP_ECONFIG;
}

int
log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOGFORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOGFORMAT_JSON;
	else
		return NP_ECONFIG;
	return 0;
}

/* Appends to a fixed line buffer, silently truncating at its end. */
struct log_line {
	char	buf[LOG_LINE_MAX];
	size_t	len;
};

static void
log_line_printf(struct log_line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
log_line_printf(struct log_line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= sizeof(l->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	l->len += (size_t)n;
	if (l->len > sizeof(l->buf) - 1)
		l->len = sizeof(l->buf) - 1;
}

/* Appends s as the body of a JSON string (without the quotes). */
static void
log_line_json_string(struct log_line *l, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			log_line_printf(l, "\\\"");
			break;
		case '\\':
			log_line_printf(l, "\\\\");
			break;
		case '\n':
			log_line_printf(l, "\\n");
			break;
		case '\t':
			log_line_printf(l, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				log_line_printf(l, "\\u%04x", *p);
			else
				log_line_printf(l, "%c", *p);
		}
	}
}

/* Text lines stay one line: control characters become '?'. */
static void
log_sanitize_text(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void
log_timestamp(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void	log_vemit(enum log_level level, const struct log_ctx *ctx,
		    const char *func, const char *fmt, va_list ap)
		    __attribute__((format(printf, 4, 0)));

static void
log_vemit(enum log_level level, const struct log_ctx *ctx, const char *func,
    const char *fmt, va_list ap)
{
	struct log_line line;
	char msg[LOG_MSG_MAX];
	char ts[40];
	ssize_t n;
	size_t off;
	int saved_errno = errno;

	line.len = 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_timestamp(ts, sizeof(ts));

	if (log_fmt == LOGFORMAT_JSON) {
		log_line_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\","
		    "\"role\":\"", ts, log_level_name(level));
		log_line_json_string(&line, log_role);
		log_line_printf(&line, "\"");
		if (ctx && ctx->conn_id)
			log_line_printf(&line, ",\"conn\":%llu",
			    (unsigned long long)ctx->conn_id);
		if (ctx && ctx->peer) {
			log_line_printf(&line, ",\"peer\":\"");
			log_line_json_string(&line, ctx->peer);
			log_line_printf(&line, "\"");
		}
		log_line_printf(&line, ",\"func\":\"%s\",\"msg\":\"", func);
		log_line_json_string(&line, msg);
		/* Keep room for the closing characters even when cut. */
		if (line.len > sizeof(line.buf) - 4)
			line.len = sizeof(line.buf) - 4;
		log_line_printf(&line, "\"}\n");
	} else {
		log_sanitize_text(msg);
		log_line_printf(&line, "%s %s %s", ts, log_level_name(level),
		    log_role);
		if (ctx && ctx->conn_id)
			log_line_printf(&line, " conn=%llu",
			    (unsigned long long)ctx->conn_id);
		if (ctx && ctx->peer)
			log_line_printf(&line, " peer=%s", ctx->peer);
		log_line_printf(&line, " %s: %s", func, msg);
		if (line.len > sizeof(line.buf) - 2)
			line.len = sizeof(line.buf) - 2;
		log_line_printf(&line, "\n");
	}

	for (off = 0; off < line.len; off += (size_t)n) {
		n = write(log_fd, line.buf + off, line.len - off);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			break;
	}
	errno = saved_errno;
}

void
log_emit(enum log_level level, const struct log_ctx *ctx, const char *func,
    const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vemit(level, ctx, func, fmt, ap);
	va_end(ap);
}

void
fatal(const char *func, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOGLEVEL_ERROR, NULL, func, fmt, ap);
	va_end(ap);
	exit(1);
}
