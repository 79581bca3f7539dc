/* SPDX-License-Identifier: MIT */
/* Logging: text and JSON lines, context fields, escaping, level filter. */
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "t.h"

/* Runs one log call with output to a pipe and returns what was written. */
static char t_out[8192];

static const char *
t_capture_begin(int fds[2])
{
	if (pipe(fds) != 0)
		return NULL;
	log_set_fd(fds[1]);
	return "";
}

static const char *
t_capture_end(int fds[2])
{
	ssize_t n;

	log_set_fd(2);
	close(fds[1]);
	n = read(fds[0], t_out, sizeof(t_out) - 1);
	close(fds[0]);
	t_out[n > 0 ? n : 0] = '\0';
	return t_out;
}

T_CASE(text_line_has_context)
{
	struct log_ctx ctx = { 42, "portal/cam-17" };
	int fds[2];
	const char *out;

	T_ASSERT(t_capture_begin(fds));
	log_set_role("server");
	log_set_format(LOGFORMAT_TEXT);
	log_set_level(LOGLEVEL_INFO);
	log_info(&ctx, "granted rule %s", "ssh");
	out = t_capture_end(fds);
	T_ASSERT(strstr(out, " info server conn=42 peer=portal/cam-17 "
	    "text_line_has_context: granted rule ssh\n") != NULL);
}

T_CASE(text_line_is_one_line)
{
	int fds[2];
	const char *out;

	T_ASSERT(t_capture_begin(fds));
	log_set_format(LOGFORMAT_TEXT);
	log_warn(NULL, "evil\nnext line\x1b[31m");
	out = t_capture_end(fds);
	T_ASSERT(strstr(out, "evil?next line?[31m\n") != NULL);
	T_ASSERT(strchr(out, '\n') == out + strlen(out) - 1);
}

T_CASE(json_line_escapes)
{
	struct log_ctx ctx = { 7, "relay/r\"1" };
	int fds[2];
	const char *out;

	T_ASSERT(t_capture_begin(fds));
	log_set_role("relay");
	log_set_format(LOGFORMAT_JSON);
	log_error(&ctx, "bad \"frame\"\tlen=%d\n", 3);
	out = t_capture_end(fds);
	log_set_format(LOGFORMAT_TEXT);
	T_ASSERT(strncmp(out, "{\"ts\":\"", 7) == 0);
	T_ASSERT(strstr(out, "\"level\":\"error\",\"role\":\"relay\","
	    "\"conn\":7,\"peer\":\"relay/r\\\"1\",\"func\":\"json_line_escapes\","
	    "\"msg\":\"bad \\\"frame\\\"\\tlen=3\\n\"}\n") != NULL);
}

T_CASE(level_filters)
{
	int fds[2];
	const char *out;

	T_ASSERT(t_capture_begin(fds));
	log_set_level(LOGLEVEL_WARN);
	log_info(NULL, "hidden");
	log_debug(NULL, "hidden too");
	log_warn(NULL, "shown");
	out = t_capture_end(fds);
	log_set_level(LOGLEVEL_INFO);
	T_ASSERT(strstr(out, "hidden") == NULL);
	T_ASSERT(strstr(out, "shown") != NULL);
}

T_CASE(long_message_is_cut_not_overflowed)
{
	char *big;
	int fds[2];
	const char *out;

	big = malloc(10000);
	T_ASSERT(big);
	memset(big, 'y', 9999);
	big[9999] = '\0';
	T_ASSERT(t_capture_begin(fds));
	log_set_format(LOGFORMAT_JSON);
	log_info(NULL, "%s", big);
	out = t_capture_end(fds);
	log_set_format(LOGFORMAT_TEXT);
	free(big);
	T_ASSERT(strlen(out) < 4096);
	T_ASSERT(strcmp(out + strlen(out) - 3, "\"}\n") == 0);
}

T_CASE(parse_names)
{
	enum log_level l;
	enum log_format f;

	T_EQ_INT(log_level_parse("debug", &l), 0);
	T_EQ_INT(l, LOGLEVEL_DEBUG);
	T_ASSERT(log_level_parse("verbose", &l) != 0);
	T_EQ_INT(log_format_parse("json", &f), 0);
	T_EQ_INT(f, LOGFORMAT_JSON);
	T_ASSERT(log_format_parse("xml", &f) != 0);
	T_EQ_STR(log_level_name(LOGLEVEL_WARN), "warn");
}

int
main(void)
{
	T_RUN(text_line_has_context);
	T_RUN(text_line_is_one_line);
	T_RUN(json_line_escapes);
	T_RUN(level_filters);
	T_RUN(long_message_is_cut_not_overflowed);
	T_RUN(parse_names);
	return t_done();
}
