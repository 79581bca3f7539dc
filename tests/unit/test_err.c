/* SPDX-License-Identifier: MIT */
/* Error codes: the table's text and names, and system errors. */
#include <errno.h>

#include "core/err.h"
#include "t.h"

T_CASE(own_codes_have_text)
{
	T_EQ_STR(np_strerror(0), "success");
	T_EQ_STR(np_strerror(NP_ESHORT), "need more data");
	T_EQ_STR(np_strerror(NP_ETOOBIG), "length exceeds limit");
	T_EQ_STR(np_strerror(NP_EROLE), "peer has the wrong role");
	T_EQ_STR(np_errname(NP_ESHORT), "NP_ESHORT");
	T_EQ_STR(np_errname(0), "OK");
}

T_CASE(system_codes_use_errno_text)
{
	T_EQ_STR(np_strerror(-ECONNREFUSED), "Connection refused");
	T_EQ_STR(np_errname(-ECONNRESET), "ECONNRESET");
}

T_CASE(unknown_codes_are_named_unknown)
{
	T_EQ_STR(np_strerror(-1999), "unknown error");
	T_EQ_STR(np_strerror(12345), "unknown error");
	T_EQ_STR(np_errname(-1999), "NP_E?");
}

T_CASE(codes_are_distinct_and_in_range)
{
	static const int codes[] = {
#define T_CODE(name, value, text) name,
		NP_ERRORS(T_CODE)
#undef T_CODE
	};
	size_t i, j, n = sizeof(codes) / sizeof(codes[0]);

	for (i = 0; i < n; i++) {
		T_ASSERT(codes[i] <= -1000);
		T_ASSERT(strcmp(np_strerror(codes[i]), "unknown error") != 0);
		for (j = i + 1; j < n; j++)
			T_ASSERT(codes[i] != codes[j]);
	}
}

int
main(void)
{
	T_RUN(own_codes_have_text);
	T_RUN(system_codes_use_errno_text);
	T_RUN(unknown_codes_are_named_unknown);
	T_RUN(codes_are_distinct_and_in_range);
	return t_done();
}
