/* SPDX-License-Identifier: MIT */
/* Log summaries: first event in full, counts per window, forgetting, cap. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/logsum.h"
#include "t.h"

static char t_out[65536];

/* Runs logsum_flush(ls) with the log going to a pipe; returns the lines. */
static const char *
t_flush(struct logsum *ls)
{
	int fds[2];
	ssize_t n;

	if (pipe(fds) != 0)
		return "";
	log_set_fd(fds[1]);
	logsum_flush(ls);
	log_set_fd(2);
	close(fds[1]);
	n = read(fds[0], t_out, sizeof(t_out) - 1);
	close(fds[0]);
	t_out[n > 0 ? n : 0] = '\0';
	return t_out;
}

static int
t_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

T_CASE(first_in_full_then_counted)
{
	struct logsum *ls = logsum_new(NULL, "handshakes", "failed",
	    LOGLEVEL_WARN);
	const char *out;

	T_ASSERT(ls != NULL);
	T_EQ_INT(logsum_note(ls, "192.0.2.1", "wrong version number"), 1);
	T_EQ_INT(logsum_note(ls, "192.0.2.1", "wrong version number"), 0);
	T_EQ_INT(logsum_note(ls, "192.0.2.1", "wrong version number"), 0);
	out = t_flush(ls);
	T_ASSERT(strstr(out, "logsum_flush: 2 handshakes from 192.0.2.1 "
	    "failed in the last 10 s: wrong version number\n") != NULL);
	T_EQ_INT(t_lines(out), 1);
	logsum_free(ls);
}

T_CASE(pairs_apart_by_source_and_reason)
{
	struct logsum *ls = logsum_new(NULL, "connections", "refused",
	    LOGLEVEL_INFO);
	const char *out;

	T_EQ_INT(logsum_note(ls, "192.0.2.1", "bad magic"), 1);
	T_EQ_INT(logsum_note(ls, "192.0.2.1", "evicted"), 1);
	T_EQ_INT(logsum_note(ls, "192.0.2.2", "bad magic"), 1);
	T_EQ_INT(logsum_note(ls, "192.0.2.2", "bad magic"), 0);
	T_EQ_INT(logsum_entries(ls), 3);
	/* Pairs with nothing counted give no line. */
	out = t_flush(ls);
	T_EQ_INT(t_lines(out), 1);
	T_ASSERT(strstr(out, "1 connections from 192.0.2.2 refused in the "
	    "last 10 s: bad magic\n") != NULL);
	logsum_free(ls);
}

T_CASE(quiet_pair_forgotten_after_a_window)
{
	struct logsum *ls = logsum_new(NULL, "handshakes", "failed",
	    LOGLEVEL_WARN);

	T_EQ_INT(logsum_note(ls, "192.0.2.1", "timeout"), 1);
	(void)t_flush(ls);		/* the window of the event */
	T_EQ_INT(logsum_entries(ls), 1);
	T_EQ_INT(logsum_note(ls, "192.0.2.1", "timeout"), 0);
	(void)t_flush(ls);
	T_EQ_INT(logsum_entries(ls), 1);
	T_EQ_STR(t_flush(ls), "");	/* a whole quiet window */
	T_EQ_INT(logsum_entries(ls), 0);
	T_EQ_INT(logsum_note(ls, "192.0.2.1", "timeout"), 1);
	logsum_free(ls);
}

T_CASE(table_full_folds_other_sources)
{
	struct logsum *ls = logsum_new(NULL, "handshakes", "failed",
	    LOGLEVEL_WARN);
	char src[32];
	const char *out;
	int i;

	for (i = 0; i < LOGSUM_MAX_ENTRIES; i++) {
		snprintf(src, sizeof(src), "10.0.%d.%d", i / 256, i % 256);
		T_EQ_INT(logsum_note(ls, src, "r"), 1);
	}
	T_EQ_INT(logsum_entries(ls), LOGSUM_MAX_ENTRIES);
	for (i = 0; i < 1000; i++) {
		snprintf(src, sizeof(src), "10.1.%d.%d", i / 256, i % 256);
		T_EQ_INT(logsum_note(ls, src, "late"), 0);
	}
	T_EQ_INT(logsum_entries(ls), LOGSUM_MAX_ENTRIES);
	out = t_flush(ls);
	T_ASSERT(strstr(out, "1000 handshakes from other sources failed in "
	    "the last 10 s") != NULL);
	T_ASSERT(strstr(out, "the last: late\n") != NULL);
	T_EQ_INT(t_lines(out), 1);
	logsum_free(ls);
}

T_CASE(long_reason_cut_still_one_pair)
{
	struct logsum *ls = logsum_new(NULL, "handshakes", "failed",
	    LOGLEVEL_WARN);
	char reason[LOGSUM_REASON_MAX * 2];

	memset(reason, 'x', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	T_EQ_INT(logsum_note(ls, "192.0.2.1", reason), 1);
	T_EQ_INT(logsum_note(ls, "192.0.2.1", reason), 0);
	T_EQ_INT(logsum_entries(ls), 1);
	logsum_free(ls);
}

T_CASE(free_writes_pending_counts)
{
	struct logsum *ls = logsum_new(NULL, "handshakes", "failed",
	    LOGLEVEL_WARN);
	int fds[2];
	ssize_t n;

	T_EQ_INT(logsum_note(ls, "2001:db8::/64", "r"), 1);
	T_EQ_INT(logsum_note(ls, "2001:db8::/64", "r"), 0);
	T_ASSERT(pipe(fds) == 0);
	log_set_fd(fds[1]);
	logsum_free(ls);
	log_set_fd(2);
	close(fds[1]);
	n = read(fds[0], t_out, sizeof(t_out) - 1);
	close(fds[0]);
	t_out[n > 0 ? n : 0] = '\0';
	T_ASSERT(strstr(t_out, "1 handshakes from 2001:db8::/64 failed") !=
	    NULL);
	logsum_free(NULL);
}

/* At debug level every event is logged in full: none is counted. */
T_CASE(debug_level_logs_every_event)
{
	struct logsum *ls = logsum_new(NULL, "handshakes", "failed",
	    LOGLEVEL_WARN);
	int i;

	T_ASSERT(ls != NULL);
	log_set_level(LOGLEVEL_DEBUG);
	for (i = 0; i < 5; i++)
		T_EQ_INT(logsum_note(ls, "192.0.2.7", "bad magic"), 1);
	log_set_level(LOGLEVEL_INFO);
	T_EQ_INT(t_lines(t_flush(ls)), 0);
	T_EQ_INT(logsum_note(ls, "192.0.2.7", "bad magic"), 1);
	T_EQ_INT(logsum_note(ls, "192.0.2.7", "bad magic"), 0);
	logsum_free(ls);
}

int
main(void)
{
	log_set_role("test");
	log_set_level(LOGLEVEL_INFO);
	T_RUN(first_in_full_then_counted);
	T_RUN(pairs_apart_by_source_and_reason);
	T_RUN(quiet_pair_forgotten_after_a_window);
	T_RUN(table_full_folds_other_sources);
	T_RUN(long_reason_cut_still_one_pair);
	T_RUN(free_writes_pending_counts);
	T_RUN(debug_level_logs_every_event);
	return t_done();
}
