/* SPDX-License-Identifier: MIT */
/*
 * A minimal unit-test harness.  A test file defines cases with T_CASE(name)
 * and lists them in main() with T_RUN(name); a failed assertion reports
 * file:line and the values, and ends that case (not the binary).  main()
 * returns t_done(), which prints "N passed, N failed" and the exit status.
 */
#ifndef NETPORT_TESTS_T_H
#define NETPORT_TESTS_T_H

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

static int	t_passed, t_failed;
static jmp_buf	t_jmp;
static const char *t_current;

#define T_CASE(name)	static void name(void)

#define T_RUN(name) do {						\
	t_current = #name;						\
	if (setjmp(t_jmp) == 0) {					\
		name();							\
		t_passed++;						\
		printf("ok   %s\n", #name);				\
	} else {							\
		t_failed++;						\
		printf("FAIL %s\n", #name);				\
	}								\
	fflush(stdout);							\
} while (0)

#define T_FAIL(...) do {						\
	fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, t_current);	\
	fprintf(stderr, __VA_ARGS__);					\
	fprintf(stderr, "\n");						\
	longjmp(t_jmp, 1);						\
} while (0)

#define T_ASSERT(cond) do {						\
	if (!(cond))							\
		T_FAIL("assertion failed: %s", #cond);			\
} while (0)

#define T_EQ_INT(a, b) do {						\
	long long t_a_ = (long long)(a), t_b_ = (long long)(b);		\
	if (t_a_ != t_b_)						\
		T_FAIL("%s == %lld, expected %s == %lld", #a, t_a_, #b, t_b_); \
} while (0)

#define T_EQ_STR(a, b) do {						\
	const char *t_a_ = (a), *t_b_ = (b);				\
	if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0)	\
		T_FAIL("%s == \"%s\"\n    expected \"%s\"", #a,		\
		    t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");	\
} while (0)

static inline int
t_done(void)
{
	printf("%d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}

#endif
